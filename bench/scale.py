"""Beyond one VM (``make bench-scale``): writes ``## Beyond one VM`` in bench/results.md.

In one run, each a ratio against a named baseline measured in the same run:

1. ``extmem``: ``edgetrain train`` in memory vs ``train.external_memory: true`` as rows grow
   (``--sizes``): wall time and peak RSS of each as a subprocess, same prepared partitions.
2. ``dask``: the same training on a local Dask cluster (a ``dask scheduler`` and 1 or 2
   single-threaded ``dask worker`` processes) vs one process with 1 and 2 threads (``--dask-rows``).
3. ``pull``: ``dvc pull`` vs the direct parallel download (``bench/direct_download.py``) of >= 1 GB
   through the strict stand-in, as many files and as one large file (``--pull-rows``).

Prepared data for 1 and 2 is built chunk by chunk with the stage's own pure ``prepare`` (no process
holds all rows); everything lives under ``bench/.work/scale`` and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import train_and_pull as tp

WORK = tp.WORK / "scale"
SECTION = "## Beyond one VM"
RAW = tp.RESULTS.with_name("scale.json")  # next to the results (a smoke run writes its own)
CHUNK_ROWS = 1_000_000
ROUNDS = 20
MIB = 1024 * 1024
PULL_VARIANTS = ["direct", "dvc", "dvc-j16", "dvc-hardlink", "dvc-fetch+checkout"]
log = logging.getLogger("bench.scale")


# --- data ----------------------------------------------------------------------------------------


def build_prepared(out: Path, rows: int, params: dict) -> dict:
    """Prepared partitions for ``rows`` generated rows, one chunk of CHUNK_ROWS at a time."""
    prepare = tp.prepare_reference().prepare

    from edgetrain.config.params import Params
    from edgetrain.contract.atomic import write_json_atomic
    from edgetrain.data.sample import generate_frame, to_csv_bytes
    from edgetrain.pipeline.dataset import split_path

    model = Params.model_validate(params)
    columns = [*model.data.features, model.data.target]
    manifest: dict = {}
    counts = {"train": 0, "valid": 0, "test": 0}
    csv_bytes = 0
    for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
        frame = generate_frame(min(CHUNK_ROWS, rows - start), seed=tp.SEED + number)
        if number == 0:
            csv_per_row = len(to_csv_bytes(frame)) / len(frame)
        csv_bytes += int(csv_per_row * len(frame))
        prepared = prepare(frame[columns], model)
        manifest = manifest or prepared.manifest
        for split, part in prepared.splits.items():
            directory = split_path(out, split)
            directory.mkdir(parents=True, exist_ok=True)
            part.to_parquet(directory / f"part-{number:05d}.parquet", index=False)
            counts[split] += len(part)
    manifest["rows"] = counts
    write_json_atomic(out / "manifest.json", manifest, sort_keys=False)
    return {"rows": rows, "splits": counts, "csv_bytes": csv_bytes, "parquet_bytes": tp.tree_bytes(out)}


def bench_params(**train: object) -> dict:
    params = yaml.safe_load((tp.REPO / "params.yaml").read_text())
    params["train"].update(num_boost_round=ROUNDS, early_stopping_rounds=ROUNDS, **train)
    return params


def write_yaml(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def edge(path: Path, **compute: object) -> Path:
    doc = yaml.safe_load((tp.REPO / "config" / "edge.yaml").read_text())
    doc["compute"] = {**doc["compute"], **compute}
    return write_yaml(path, doc)


def train(work: Path, prepared: Path, params: Path, edge_config: Path, label: str) -> tp.Run:
    out = work / f"model-{label}"
    cmd = ("edgetrain", "train", "--params", params, "--prepared", prepared, "--out", out)
    return tp.measure(*cmd, "--edge-config", edge_config, cwd=work, label=label, timeout=3600)


# --- 1. in-memory vs external memory ---------------------------------------------------------------


def _median_run(runs: list[tp.Run]) -> dict:
    return {k: harness.median([getattr(r, k) for r in runs]) for k in ("wall", "cpu", "rss_mb")}


def bench_extmem(sizes: list[int], repeats: int) -> dict:
    """Per size, ``repeats`` interleaved rounds of in-memory and external-memory training; medians."""
    work = tp.fresh(WORK / "extmem")
    params = bench_params()
    p_mem = write_yaml(work / "mem.yaml", params)
    p_ext = write_yaml(work / "ext.yaml", {**params, "train": {**params["train"], "external_memory": True}})
    config = edge(work / "edge.yaml", spill_dir=str(work / "spill"))
    rows_out = []
    for rows in sizes:
        prepared = work / f"prepared-{rows}"
        data = build_prepared(prepared, rows, params)
        count = iter(range(1_000_000))
        runs = harness.interleave(
            {
                "mem": lambda: train(work, prepared, p_mem, config, f"mem-{rows}-{next(count)}"),  # noqa: B023
                "ext": lambda: train(work, prepared, p_ext, config, f"ext-{rows}-{next(count)}"),  # noqa: B023
            },
            repeats,
        )
        rows_out.append(
            {
                **data,
                "mem": _median_run(runs["mem"]),
                "ext": _median_run(runs["ext"]),
                "mem_walls": [r.wall for r in runs["mem"]],
                "ext_walls": [r.wall for r in runs["ext"]],
            }
        )
        shutil.rmtree(prepared)
    return {"rounds": ROUNDS, "sizes": rows_out}


# --- 2. Dask 1 and 2 workers vs one process --------------------------------------------------------


def start_cluster(work: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    from edgetrain.storage.azurite import free_port

    port = free_port()
    dask = str(tp.VENV_BIN / "dask")
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=(work / "scheduler.log").open("wb"),
            stderr=subprocess.STDOUT,
            env=tp.env(),
        )
    ]
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("dask scheduler did not start") from None
            time.sleep(0.2)
    for i in range(workers):
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    f"tcp://127.0.0.1:{port}",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--memory-limit",
                    "0",
                    "--local-directory",
                    str(work / f"scratch-{i}"),
                ],
                stdout=(work / f"worker-{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
                env=tp.env(),
            )
        )
    return f"tcp://127.0.0.1:{port}", procs


def worker_usage(procs: list[subprocess.Popen]) -> dict:
    """CPU seconds and peak RSS (VmHWM) of the worker processes, read before they stop."""
    import psutil

    cpu, peak = 0.0, 0.0
    for proc in procs[1:]:
        times = psutil.Process(proc.pid).cpu_times()
        cpu += times.user + times.system
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) / 1024)
    return {"workers_cpu": cpu, "worker_rss_mb": peak}


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def bench_dask(rows: int, repeats: int) -> dict:
    work = tp.fresh(WORK / "dask")
    prepared = work / "prepared"
    params = bench_params()
    data = build_prepared(prepared, rows, params)
    result: dict = {"data": data, "rounds": ROUNDS}
    local = edge(work / "local.yaml")
    for threads in (1, 2):
        write_yaml(work / f"p{threads}.yaml", {**params, "train": {**params["train"], "nthread": threads}})
    variants = ["single-1t", "single-2t", "dask-1w", "dask-2w"]
    for i in range(repeats):
        for variant in variants if i % 2 == 0 else variants[::-1]:
            kind, n = variant.split("-")
            if kind == "single":
                run = train(work, prepared, work / f"p{n[0]}.yaml", local, f"{variant}-{i}").__dict__
            else:
                address, procs = start_cluster(work, int(n[0]))
                try:
                    config = edge(work / f"{variant}.yaml", scheduler=address, min_workers=int(n[0]))
                    run = train(work, prepared, work / "p1.yaml", config, f"{variant}-{i}").__dict__
                    run.update(worker_usage(procs))
                finally:
                    stop(procs)
            result.setdefault(variant, []).append(run)
    shutil.rmtree(prepared)
    return result


# --- 3. dvc pull vs direct download at >= 1 GB -------------------------------------------------------


def service_for(conn: str) -> object:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(conn, api_version=tp.API_VERSION)


def land(service: object, storage: object, total_bytes: int, files: int) -> None:
    """``files`` distinct CSV drops adding up to ``total_bytes`` in the raw container.

    Drops are real sample rows (one generated block, repeated) with a unique last line each, so no two
    files share an md5 (DVC would store duplicates once). Generating every row would cost minutes of CPU
    and measure nothing about the transfer.
    """
    from edgetrain.data.sample import generate_frame, to_csv_bytes

    per_file = total_bytes // files
    block = to_csv_bytes(generate_frame(min(250_000, max(1000, per_file // 43)), seed=tp.SEED))
    header, body = block.split(b"\n", 1)
    container = service.get_container_client(storage.raw_container)  # type: ignore[attr-defined]
    reps, rest = divmod(per_file, len(body))
    tail = body[:rest].rsplit(b"\n", 1)[0] + b"\n" if b"\n" in body[:rest] else b""
    common = header + b"\n" + body * reps + tail
    for k in range(files):
        payload = common + f"{k},drop-{k},L,300.0,310.0,1500,40.0,{k},0\n".encode()
        name = f"{storage.raw_prefix}/{tp.START_DAY.isoformat()}-{k:04d}.csv"  # type: ignore[attr-defined]
        container.upload_blob(name, payload, overwrite=True, max_concurrency=4)


def bench_pull(total_bytes: int, shapes: dict[str, int], repeats: int) -> dict:
    """One stand-in per shape (files): land, import, push, then alternate direct and dvc pull runs."""
    from edgetrain.config.edge import StorageConfig
    from edgetrain.storage.azurite import TOOLS_DIR
    from edgetrain.storage.private_standin import Standin
    from edgetrain.storage.standin import create_containers

    results = {}
    for shape, files in shapes.items():
        work = tp.fresh(WORK / f"pull-{shape}")
        with Standin(work / "standin", max_version=tp.API_VERSION, tools_dir=tp.REPO / TOOLS_DIR) as standin:
            conn = standin.connection_string
            storage = StorageConfig(
                account_name="devstoreaccount1",
                blob_endpoint=standin.blob_endpoint,
                api_version=tp.API_VERSION,
            )
            create_containers(storage, conn)
            t = time.perf_counter()
            land(service_for(conn), storage, total_bytes, files)
            seed_s = time.perf_counter() - t
            origin, _ = tp.pull_origin(work, storage, conn)
            service = service_for(conn)
            blobs = list(service.get_container_client(storage.dvc_container).list_blobs())
            nbytes = sum(b.size for b in blobs)
            runs: dict[str, list[float]] = {v: [] for v in PULL_VARIANTS}
            runs.update(fetch=[], checkout=[])
            for i in range(repeats):
                for variant in PULL_VARIANTS if i % 2 == 0 else PULL_VARIANTS[::-1]:
                    label = f"{shape}-{variant}-{i}"
                    if variant == "direct":
                        run, dest = tp.direct_pull(work, storage, conn, label)
                        shutil.rmtree(dest)
                        runs[variant].append(run.wall)
                        continue
                    repo = tp.clone(origin, work / "clone")
                    if (
                        variant == "dvc-hardlink"
                    ):  # ext4 has no reflinks: DVC's default copies cache -> workspace
                        tp.sh("dvc", "config", "--local", "cache.type", "hardlink", cwd=repo)
                    if variant == "dvc-fetch+checkout":
                        fetch = tp.measure("dvc", "fetch", cwd=repo, label=f"{label}-fetch")
                        checkout = tp.measure("dvc", "checkout", cwd=repo, label=f"{label}-checkout")
                        runs["fetch"].append(fetch.wall)
                        runs["checkout"].append(checkout.wall)
                        runs[variant].append(fetch.wall + checkout.wall)
                    else:
                        jobs = ["-j", "16"] if variant == "dvc-j16" else []
                        runs[variant].append(tp.measure("dvc", "pull", *jobs, cwd=repo, label=label).wall)
                    shutil.rmtree(repo)
            results[shape] = {"files": files, "bytes": nbytes, "land_s": seed_s, "runs": runs}
        shutil.rmtree(work, ignore_errors=True)
    return results


# --- report --------------------------------------------------------------------------------------


def _extmem_table(res: dict) -> list[str]:
    lines = [
        "| rows | raw CSV (est.) | in-memory wall (s), median (min-max) | external wall (s) | wall ext/mem "
        "| CPU ext/mem "
        "| in-memory peak RSS (MiB) | external peak RSS (MiB) | RSS ext/mem |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in res["sizes"]:
        mem, ext = s["mem"], s["ext"]
        lines.append(
            f"| {s['rows']:,} | {s['csv_bytes'] / 1e9:.2f} GB "
            f"| {harness.spread(s.get('mem_walls') or [mem['wall']], '.1f')} "
            f"| {harness.spread(s.get('ext_walls') or [ext['wall']], '.1f')} "
            f"| {ext['wall'] / mem['wall']:.2f}x | {ext['cpu'] / mem['cpu']:.2f}x "
            f"| {mem['rss_mb']:.0f} | {ext['rss_mb']:.0f} "
            f"| {ext['rss_mb'] / mem['rss_mb']:.2f}x |"
        )
    first, last = res["sizes"][0], res["sizes"][-1]
    grow = last["rows"] / first["rows"]
    mem_grow = last["mem"]["rss_mb"] / first["mem"]["rss_mb"]
    lines += [
        "",
        f"- Rows grow {grow:.0f}x: in-memory peak RSS grows {mem_grow:.1f}x, "
        f"external-memory peak RSS {last['ext']['rss_mb'] / first['ext']['rss_mb']:.1f}x. External memory "
        "is not perfectly flat: the quantile sketch and XGBoost's page bookkeeping grow with rows, and RSS "
        "also counts the on-disk pages it reads (file-backed, reclaimable under memory pressure).",
    ]
    return lines


def _dask_table(res: dict) -> list[str]:
    def med(key: str, field: str) -> float:
        return tp.med([r.get(field, 0.0) for r in res[key]])

    train_rows = res["data"]["splits"]["train"]
    base = med("single-1t", "wall")
    lines = [
        "| engine | workers x threads | wall (s), median (min-max) | speed-up vs 1 thread | efficiency "
        "| CPU-s (runner + workers) | peak RSS runner / worker (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, label, cores in (
        ("single-1t", "one process", 1),
        ("single-2t", "one process", 2),
        ("dask-1w", "Dask", 1),
        ("dask-2w", "Dask", 2),
    ):
        shape = f"1 x {cores}" if key.startswith("single") else f"{cores} x 1"
        wall, cpu = med(key, "wall"), med(key, "cpu") + med(key, "workers_cpu")
        speed = base / wall
        rss = f"{med(key, 'rss_mb'):.0f}" + (f" / {med(key, 'worker_rss_mb'):.0f}" if "dask" in key else "")
        lines.append(
            f"| {label} | {shape} | {harness.spread([r['wall'] for r in res[key]], '.1f')} | {speed:.2f}x "
            f"| {speed / cores:.0%} | {cpu:.1f} | {rss} |"
        )
    work_1 = train_rows * res["rounds"]
    cpu_1w, cpu_2w = med("dask-1w", "workers_cpu"), med("dask-2w", "workers_cpu")
    lines += [
        "",
        f"- Work: {train_rows:,} train rows x {res['rounds']} rounds. Dask worker CPU: {cpu_1w:.1f} s with "
        "one "
        f"worker, {cpu_2w:.1f} s in all with two ({cpu_1w / cpu_2w:.0%} CPU efficiency of the split); "
        f"per-worker throughput {work_1 / cpu_1w / 1e6:.2f} M row-rounds per CPU-second.",
    ]
    return lines


#: Assumptions of the 4-VM projection (stated next to it): Stack Hub VNet bandwidth and round-trip time.
LINK_BYTES_S, RTT_S, BINS, HIST_ENTRY_BYTES = 1.25e9, 0.0005, 256, 16


def _projection(
    res: dict, vms: int = 4, cores: int = 2, rows: int = 20_000_000, rounds: int = 400
) -> list[str]:
    """The 4-VM estimate from the measured per-worker throughput and XGBoost's allreduce volume."""
    params = yaml.safe_load((tp.REPO / "params.yaml").read_text())
    depth, features = params["train"]["max_depth"], len(params["data"]["features"])
    train_rows = res["data"]["splits"]["train"]
    rate = train_rows * res["rounds"] / tp.med([r["workers_cpu"] for r in res["dask-1w"]])
    train_share = train_rows / res["data"]["rows"]
    hist = (2**depth - 1) * features * BINS * HIST_ENTRY_BYTES  # every node's histogram: an upper bound
    ring = 2 * (vms - 1) / vms * hist / LINK_BYTES_S + depth * 2 * (vms - 1) * RTT_S / 2
    one_vm = rows * train_share * rounds / (rate * cores)
    four = rows * train_share * rounds / (rate * cores * vms) + rounds * ring
    fixed = tp.med([r["wall"] for r in res["dask-1w"]]) - tp.med([r["wall"] for r in res["single-1t"]])
    return [
        "",
        f"Projection to {vms} VMs x {cores} cores (on paper): per-worker throughput {rate / 1e6:.2f} M "
        "row-rounds per CPU-second (measured above; it includes the worker's start-up, so it is "
        f"conservative); allreduce per round <= {hist / 1e6:.2f} MB of histograms ({2**depth - 1} nodes x "
        f"{features} features x {BINS} bins x {HIST_ENTRY_BYTES} B), ring allreduce over "
        f"{LINK_BYTES_S * 8 / 1e9:.0f} Gbit/s with {RTT_S * 1e3:.1f} ms round trips: {ring * 1e3:.1f} ms per "
        f"round. For {rows / 1e6:.0f}M rows x {rounds} rounds: one VM {one_vm:.0f} s of boosting, {vms} VMs "
        f"{four:.0f} s ({one_vm / four:.1f}x, {one_vm / four / vms:.0%} efficiency) plus Dask's fixed cost "
        f"(~{fixed:.0f} s "
        "here: connect, partition reads, tracker). It assumes each VM's cores are its own, which is not "
        "true on this shared machine (see the 1 x 2 row). Reading the partitions costs each worker 1/4 of "
        "the Parquet bytes once, next to the data.",
    ]


def _pull_table(res: dict) -> list[str]:
    lines = [
        "| shape | MB | direct (s) | `dvc pull` (s) | `-j 16` (s) | `cache.type hardlink` (s) "
        "| `dvc fetch` + `dvc checkout` (s) | `dvc pull` / direct throughput | hardlink / direct "
        "| fetch alone / direct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    repeats = max(
        (len(r["runs"]["direct"]) for r in res.values() if isinstance(r, dict) and "runs" in r), default=0
    )
    for shape, r in res.items():
        if not isinstance(r, dict) or "runs" not in r:
            continue  # the part's command and load average
        med = {k: tp.med(v) for k, v in r["runs"].items() if v}
        cell = {k: harness.spread(v, ".1f") for k, v in r["runs"].items() if v}
        split = f"{cell['fetch']} + {cell['checkout']}" if "fetch" in med else "-"
        hard = med.get("dvc-hardlink")
        lines.append(
            f"| {shape} | {r['bytes'] / 1e6:.0f} | {cell['direct']} | {cell['dvc']} "
            f"| {cell['dvc-j16']} "
            f"| {cell.get('dvc-hardlink', '-')} | {split} | {med['direct'] / med['dvc']:.2f}x "
            f"| {med['direct'] / hard if hard else float('nan'):.2f}x "
            f"| {med['direct'] / med['fetch'] if 'fetch' in med else float('nan'):.2f}x |"
        )
        if "fetch" in med:
            notes.append(
                f"{shape}: `dvc fetch` (the transfer into DVC's cache) runs at "
                f"{med['direct'] / med['fetch']:.2f}x the direct throughput; `dvc checkout` "
                f"(cache -> workspace) adds {med['checkout']:.1f} s"
            )
    if notes:
        lines += [
            "",
            "- Where the time goes: "
            + "; ".join(notes)
            + ". A pull is a transfer into DVC's cache plus a checkout; on this filesystem (ext4, no "
            "reflinks) DVC's default `cache.type: reflink,copy` makes the checkout copy every file, which "
            "`dvc config cache.type hardlink` (read-only links, fine for imported drops) avoids. "
            f"{repeats} interleaved run(s) per configuration; seconds are `median (min-max)`, ratios are of "
            "medians; every run is in `bench/scale.json`.",
        ]
    return lines


def _provenance(part: dict) -> list[str]:
    low, high = part["loads"]
    when = f"measured {part['date']}; " if "date" in part else ""
    return [f"- Command: `{part['command']}`; {when}1-minute load average {low:.1f}-{high:.1f} on 2 CPUs."]


def render(results: dict) -> str:
    out = [
        SECTION,
        "",
        f"- Written: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (each table says when it was measured)",
        f"- Machine: {tp.machine()}",
        f"- Versions: {tp.versions()}",
        "- Reproduce: `make bench-scale` (= `python bench/scale.py`; `--part extmem|dask|pull` runs one "
        "table and keeps the others; raw figures in `bench/scale.json`). The command and 1-minute load "
        "average of each table are under it: the machine is shared, so compare ratios within a table.",
    ]
    if "extmem" in results:
        out += [
            "",
            "### In-memory vs external-memory training",
            "",
            f"`edgetrain train` ({results['extmem']['rounds']} rounds, all run; `nthread: 2`), prepared "
            "partitions of ~700k train rows, each as a subprocess, rounds interleaved (`--repeats`), "
            "medians; peak RSS is `ru_maxrss`.",
            "",
            *_extmem_table(results["extmem"]),
            *_provenance(results["extmem"]),
        ]
    if "dask" in results:
        out += [
            "",
            "### Dask vs one process",
            "",
            f"Same prepared data ({results['dask']['data']['rows']:,} rows), same params "
            f"({results['dask']['rounds']} rounds). Dask workers are single-threaded "
            "`dask worker --no-nanny` processes on this machine, started per run (not timed); "
            "rounds interleaved (`--repeats`); wall is `median (min-max)`, the rest medians. "
            "Baseline: one process, one thread.",
            "",
            *_dask_table(results["dask"]),
            *_provenance(results["dask"]),
            *_projection(results["dask"]),
        ]
    if "pull" in results:
        out += [
            "",
            "### `dvc pull` vs direct parallel download at >= 1 GB",
            "",
            "Each through a private strict stand-in; `dvc pull` in a fresh clone with an empty cache; "
            "direct = `bench/direct_download.py` (16 threads, `max_concurrency=4`).",
            "",
            *_pull_table(results["pull"]),
            *_provenance(results["pull"]),
        ]
    return "\n".join(out) + "\n"


def write_section(text: str, section: str = SECTION) -> None:
    """Replace ``section`` of bench/results.md with ``text`` (or append it); other sections are kept."""
    harness.write_section(text, section, tp.RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--dask-rows", type=int, default=5_000_000)
    parser.add_argument("--pull-mb", type=int, default=1000, help="MB of CSV drops to pull")
    parser.add_argument("--pull-files", type=int, default=100, help="drops in the many-files shape")
    parser.add_argument(
        "--pull-shapes",
        nargs="+",
        choices=["files", "one"],
        default=["files", "one"],
        help="many files (--pull-files), one file, or both (%(default)s; each is its own stand-in)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--part",
        choices=["all", "extmem", "dask", "pull", "render"],
        default="all",
        help="render: from scale.json",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results: dict = {}
    try:
        if args.part in ("all", "extmem"):
            results["extmem"] = bench_extmem(args.sizes, args.repeats)
        if args.part in ("all", "dask"):
            results["dask"] = bench_dask(args.dask_rows, args.repeats)
        if args.part in ("all", "pull"):
            shapes = {f"{args.pull_files} files": args.pull_files, "one file": 1}
            if "files" not in args.pull_shapes:
                del shapes[f"{args.pull_files} files"]
            if "one" not in args.pull_shapes:
                del shapes["one file"]
            results["pull"] = bench_pull(args.pull_mb * 1_000_000, shapes, args.repeats)
    finally:
        if args.part != "render":  # rendering must not remove a running benchmark's files
            shutil.rmtree(WORK, ignore_errors=True)
    # Parts run separately keep each other's figures: the raw results of every part live in RAW.
    merged = json.loads(RAW.read_text()) if RAW.exists() else {}
    for part, figures in results.items():
        merged[part] = {**figures, "command": harness.command_line("bench/scale.py", argv or sys.argv[1:])}
        merged[part]["loads"] = [min(tp.LOADS), max(tp.LOADS)]
        merged[part]["date"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    RAW.write_text(json.dumps(merged, indent=2) + "\n")
    write_section(render(merged))
    print(render(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
