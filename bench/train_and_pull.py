"""Training and data benchmark (``make bench-train``): writes ``## Training and data`` in bench/results.md.

In one run, on ``--rows`` generated rows split into ``--days`` daily CSV drops:

1. ``edgetrain train`` against ``bench/bare_train.py`` (a bare ``xgboost.train`` script with the same
   parameters) on the same prepared parquet: wall time and peak RSS of each as a subprocess,
   ``--repeats`` runs each, alternating, medians and the ratio stage/bare.
2. ``dvc pull`` into a fresh clone with an empty cache against ``bench/direct_download.py`` (parallel
   azure-storage-blob download of the same blobs of the DVC remote container), both through the
   strict API-version proxy of a private Stack Hub stand-in; MB/s, ratio, and ``dvc pull -j N``.
3. A no-op ``dvc repro`` (nothing changed) in a repository where the template pipeline has run.

Everything runs under ``bench/.work/`` (git-ignored); the stand-in is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

REPO = harness.REPO
BENCH = harness.BENCH
WORK = harness.WORK
RESULTS = harness.RESULTS
SECTION = "## Training and data"
VENV_BIN = Path(sys.executable).parent
API_VERSION = "2019-07-07"
SEED = 42
START_DAY = date(2026, 11, 1)
STEP_TIMEOUT_S = 900
TARGET_WALL, TARGET_RSS, TARGET_PULL = 1.05, 1.2, 0.8
FIXED_REPEATS = 5  # --fixed-repeats
DVC_JOBS = (None, 1, 4, 16)  # None: DVC's default
MB = 1_000_000
TRAIN_TITLE = "### Train stage vs bare `xgboost.train`"
PULL_TITLES = ("### `dvc pull` vs direct parallel download", "### No-op `dvc repro`")

log = logging.getLogger("bench")
LOADS: list[float] = []

# Runs argv[2:] and writes its wall time and the peak RSS of the largest process in its tree to argv[1].
WRAPPER = """\
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
out = {"rc": rc, "wall": wall, "cpu": r.ru_utime + r.ru_stime, "maxrss_kb": r.ru_maxrss}
open(sys.argv[1], "w").write(json.dumps(out))
"""


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_mb: float


def env() -> dict[str, str]:
    """The venv first on PATH, no ambient credentials or API-version override."""
    drop = {"AZURE_STORAGE_CONNECTION_STRING", "EDGETRAIN_STORAGE_API_VERSION"}
    out = {k: v for k, v in os.environ.items() if k not in drop}
    out["PATH"] = f"{VENV_BIN}{os.pathsep}{out.get('PATH', '')}"
    return out


def sh(*cmd: str | Path, cwd: Path, timeout: float = STEP_TIMEOUT_S) -> str:
    """Run a command, fail loudly with its output."""
    argv = [str(c) for c in cmd]
    done = subprocess.run(
        argv, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)} failed ({done.returncode}) in {cwd}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def measure(*cmd: str | Path, cwd: Path, label: str, timeout: float = STEP_TIMEOUT_S) -> Run:
    """Wall time and peak RSS of ``cmd`` run as a subprocess (through a tiny getrusage wrapper)."""
    WORK.mkdir(parents=True, exist_ok=True)
    stats, logfile = WORK / "measure.json", WORK / f"{label}.log"
    stats.unlink(missing_ok=True)
    argv = [sys.executable, "-c", WRAPPER, str(stats), *map(str, cmd)]
    with logfile.open("w") as out:
        subprocess.run(
            argv, cwd=cwd, env=env(), stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    result = json.loads(stats.read_text())
    if result["rc"] != 0:
        raise RuntimeError(
            f"{shlex.join(map(str, cmd))} failed ({result['rc']}), see {logfile}:\n"
            f"{logfile.read_text()[-3000:]}"
        )
    run = Run(result["wall"], result["cpu"], result["maxrss_kb"] / 1024)
    log.info("%-22s %7.2f s  %7.2f cpu-s  %7.0f MiB  load %.1f", label, run.wall, run.cpu, run.rss_mb, load())
    return run


def load() -> float:
    """The 1-minute load average (the machine may be shared: it is reported next to the figures)."""
    value = os.getloadavg()[0]
    LOADS.append(value)
    return value


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- 1. train stage vs bare xgboost.train -----------------------------------------------------------


def write_drops(folder: Path, rows: int, days: int) -> int:
    """The same daily drops ``edgetrain storage seed`` lands (same generator, seed and start day)."""
    from edgetrain.data.sample import generate, to_csv_bytes

    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for day, frame in generate(rows=rows, seed=SEED, start_day=START_DAY, days=days).items():
        payload = to_csv_bytes(frame)
        (folder / f"{day}.csv").write_bytes(payload)
        total += len(payload)
    return total


def bench_train(rows: int, days: int, repeats: int, fixed_repeats: int | None = None) -> dict:
    work = fresh(WORK / "train")
    shutil.copy(REPO / "params.yaml", work / "params.yaml")
    # Every stage validates config/edge.yaml (its compute section tunes train): the template's own copy.
    shutil.copytree(REPO / "config", work / "config")
    csv_bytes = write_drops(work / "data", rows, days)
    prepare = measure("edgetrain", "prepare", cwd=work, label="prepare")
    manifest = json.loads((work / "artifacts" / "prepared" / "manifest.json").read_text())
    (work / "bare").mkdir()

    stage_cmd = ("edgetrain", "train", "--out", "artifacts/model")
    bare_cmd = (
        sys.executable,
        BENCH / "bare_train.py",
        "--params",
        "params.yaml",
        "--prepared",
        "artifacts/prepared",
        "--out",
        "bare/model.ubj",
    )
    stage: list[Run] = []
    bare: list[Run] = []
    LOADS.clear()
    for i in range(repeats):
        order = [("stage", stage_cmd, stage), ("bare", bare_cmd, bare)]
        for name, cmd, runs in order if i % 2 == 0 else order[::-1]:
            runs.append(measure(*cmd, cwd=work, label=f"train-{name}-{i}"))

    # The same pair with num_boost_round 1: start-up, parquet load, typing, QuantileDMatrix, save: what
    # the stage adds around xgboost.train, measured where the (identical) boosting does not drown it.
    one = yaml.safe_load((work / "params.yaml").read_text())
    one["train"]["num_boost_round"] = 1
    (work / "params-1round.yaml").write_text(yaml.safe_dump(one, sort_keys=False))
    stage_1 = ("edgetrain", "train", "--params", "params-1round.yaml", "--out", "artifacts/model-1round")
    bare_1 = (*bare_cmd[:3], "params-1round.yaml", *bare_cmd[4:-1], "bare/model-1round.ubj")
    fixed: dict[str, list[Run]] = {"stage": [], "bare": []}
    for i in range(FIXED_REPEATS if fixed_repeats is None else fixed_repeats):
        order = [("stage", stage_1), ("bare", bare_1)]
        for name, cmd in order if i % 2 == 0 else order[::-1]:
            fixed[name].append(measure(*cmd, cwd=work, label=f"train1-{name}-{i}"))

    import xgboost as xgb

    stage_model = xgb.Booster(model_file=str(work / "artifacts" / "model" / "model.ubj"))
    bare_model = xgb.Booster(model_file=str(work / "bare" / "model.ubj"))
    return {
        "rows": manifest["rows"],
        "csv_mb": csv_bytes / MB,
        "prepare": prepare,
        "parquet_mb": tree_bytes(work / "artifacts" / "prepared") / MB,
        "stage": stage,
        "bare": bare,
        "stage_trees": stage_model.num_boosted_rounds(),
        "bare_trees": bare_model.num_boosted_rounds(),
        "loads": list(LOADS),
        "fixed": fixed,
        "same_model": stage_model.save_raw("json") == bare_model.save_raw("json"),
    }


# --- 2. dvc pull vs direct download, 3. no-op dvc repro ----------------------------------------------


def make_repo(path: Path, storage: object, conn: str) -> Path:
    """A repository wired like the template: config/edge.yaml at the stand-in, the template's .dvc/config."""
    from edgetrain.storage.standin import write_dvc_credentials

    (path / "config").mkdir(parents=True)
    edge = yaml.safe_load((REPO / "config" / "edge.yaml").read_text())
    edge["storage"] = storage.model_dump(exclude_none=True)  # type: ignore[attr-defined]
    (path / "config" / "edge.yaml").write_text(yaml.safe_dump(edge, sort_keys=False))
    sh("git", "init", "-q", "-b", "main", cwd=path)
    sh("dvc", "init", "-q", cwd=path)
    shutil.copy(REPO / ".dvc" / "config", path / ".dvc" / "config")  # remotes stackhub-cache (default), -raw
    write_dvc_credentials(conn, path)
    commit(path, "init")
    return path


def commit(repo: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=repo)  # inside the throwaway repository only
    sh("git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", message, cwd=repo)


def clone(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    sh("git", "clone", "-q", src, dst, cwd=src.parent)
    shutil.copy(src / ".dvc" / "config.local", dst / ".dvc" / "config.local")
    return dst


def container_paths(requests: list, start: int) -> dict[str, int]:
    """Requests per container seen by the proxy since ``start``."""
    seen: dict[str, int] = {}
    for r in requests[start:]:
        parts = r.path.strip("/").split("/")
        name = parts[1] if len(parts) > 1 else "(account)"
        seen[name] = seen.get(name, 0) + 1
    return seen


def pull_origin(work: Path, storage: object, conn: str) -> tuple[Path, dict[str, float]]:
    """An origin repository whose ``data`` is imported from the raw container and pushed to the DVC remote
    (shared by every ``dvc pull`` bench); returns it and the import and push times."""
    origin = make_repo(work / "origin", storage, conn)
    t = time.perf_counter()
    raw = f"remote://stackhub-raw/{storage.raw_prefix}"  # type: ignore[attr-defined]
    sh("dvc", "import-url", raw, "data", cwd=origin)
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    sh("dvc", "push", cwd=origin)
    push_s = time.perf_counter() - t
    commit(origin, "import")
    return origin, {"import_s": import_s, "push_s": push_s}


def direct_pull(work: Path, storage: object, conn: str, label: str) -> tuple[Run, Path]:
    """The baseline: ``direct_download.py`` fetches the DVC container into a fresh folder."""
    dest = fresh(work / "direct")
    run = measure(
        sys.executable,
        BENCH / "direct_download.py",
        "--conn",
        conn,
        "--container",
        storage.dvc_container,  # type: ignore[attr-defined]
        "--dest",
        dest,
        "--api-version",
        API_VERSION,
        cwd=work,
        label=label,
    )
    return run, dest


def dvc_pull(origin: Path, work: Path, label: str, *args: str) -> tuple[Run, Path]:
    """``dvc pull *args`` in a fresh clone of ``origin`` with an empty cache."""
    repo = clone(origin, work / "clone")
    return measure("dvc", "pull", *args, cwd=repo, label=label), repo


def prepare_reference() -> object:
    """The in-memory ``prepare`` the tests check the stream against (``tests/pipeline/reference.py``)."""
    import importlib

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module("tests.pipeline.reference")


def bench_pull(rows: int, days: int, repeats: int, dvc_jobs: tuple[int | None, ...] = DVC_JOBS) -> dict:
    from edgetrain.config.edge import StorageConfig
    from edgetrain.storage.azurite import TOOLS_DIR
    from edgetrain.storage.private_standin import Standin
    from edgetrain.storage.seed import seed
    from edgetrain.storage.standin import create_containers

    work = fresh(WORK / "dvc")
    result: dict = {}
    with Standin(
        work / "standin" / "azurite", max_version=API_VERSION, tools_dir=REPO / TOOLS_DIR
    ) as standin:
        conn = standin.connection_string
        storage = StorageConfig(
            account_name="devstoreaccount1", blob_endpoint=standin.blob_endpoint, api_version=API_VERSION
        )
        create_containers(storage, conn)
        seed(storage, rows=rows, days=days, seed_value=SEED, start=START_DAY, conn_str=conn)
        origin, times = pull_origin(work, storage, conn)
        result.update(times)

        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(conn, api_version=API_VERSION)
        blobs = list(service.get_container_client(storage.dvc_container).list_blobs())
        result["blobs"], result["bytes"] = len(blobs), sum(b.size for b in blobs)
        result["data_bytes"] = tree_bytes(origin / "data")

        direct: list[float] = []
        pulls: dict[int | None, list[float]] = {jobs: [] for jobs in dvc_jobs}
        requests: dict[str, dict[str, int]] = {}
        for i in range(repeats):
            variants: list[int | str | None] = ["direct", *dvc_jobs]
            for variant in variants if i % 2 == 0 else variants[::-1]:
                start = len(standin.requests)
                if variant == "direct":
                    run, dest = direct_pull(work, storage, conn, f"pull-direct-{i}")
                    assert tree_bytes(dest) == result["bytes"], "direct download is incomplete"
                    direct.append(run.wall)
                else:
                    jobs = [] if variant is None else ["-j", str(variant)]
                    run, repo = dvc_pull(origin, work, f"pull-dvc-j{variant or 'default'}-{i}", *jobs)
                    assert tree_bytes(repo / "data") == result["data_bytes"], "dvc pull is incomplete"
                    pulls[variant].append(run.wall)  # type: ignore[index]
                requests[str(variant)] = container_paths(standin.requests, start)
        result["direct"], result["pulls"], result["requests"] = direct, pulls, requests
        result["noop_pull"] = measure("dvc", "pull", cwd=work / "clone", label="pull-dvc-noop").wall
        result["versions_seen"] = sorted({r.version for r in standin.requests if r.version})
        result["rejected"] = sum(1 for r in standin.requests if r.status == 400)
        result["repro"] = bench_repro(origin, repeats)
    return result


def bench_repro(origin: Path, repeats: int) -> dict:
    """Run the template pipeline in ``origin`` (data imported), then time ``dvc repro`` with nothing to do."""
    for name in ("dvc.yaml", "params.yaml", "uv.lock"):  # uv.lock is a dep of every stage
        if not (REPO / name).is_file():
            return {"error": f"{name} is missing from the template"}
        shutil.copy(REPO / name, origin / name)
    shutil.copytree(
        REPO / "config", origin / "config", dirs_exist_ok=True, ignore=shutil.ignore_patterns("edge.yaml")
    )  # keep edge.yaml pointing at the stand-in
    shutil.copytree(REPO / "src", origin / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    commit(origin, "pipeline")
    try:
        first = measure("dvc", "repro", cwd=origin, label="repro-first")
        noop = [measure("dvc", "repro", cwd=origin, label=f"repro-noop-{i}").wall for i in range(repeats)]
        status = measure("dvc", "status", cwd=origin, label="status-noop").wall
        out = sh("dvc", "repro", cwd=origin)
    except RuntimeError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        return {"error": " / ".join(lines[-3:])[:400]}
    return {
        "first": first.wall,
        "noop": noop,
        "status": status,
        "noop_ran_nothing": "didn't change" in out or "up to date" in out,
        "noop_output": out.strip(),
    }


# --- report -----------------------------------------------------------------------------------------


def machine() -> str:
    return harness.machine()


def versions() -> str:
    return harness.versions(
        ("xgboost", "dvc", "dvc-azure", "adlfs", "azure-storage-blob", "pandas", "pyarrow")
    )


def med(values: list[float]) -> float:
    return statistics.median(values)


def table_row(name: str, runs: list[Run]) -> str:
    walls = ", ".join(f"{r.wall:.2f}" for r in runs)
    rss = ", ".join(f"{r.rss_mb:.0f}" for r in runs)
    return (
        f"| {name} | {med([r.wall for r in runs]):.2f} | {walls} | {med([r.cpu for r in runs]):.2f} "
        f"| {med([r.rss_mb for r in runs]):.0f} | {rss} |"
    )


def verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def render(args: argparse.Namespace, command: str, train: dict | None, pull: dict | None) -> str:
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- Versions: {versions()}",
        f"- Reproduce: `{command}` (from the repository root; {args.repeats} runs of each, alternating; "
        "medians)"
        + (
            ""
            if not args.only
            else f"; the other parts' figures below come from an earlier full run "
            f"(`{command.replace(' --only ' + args.only, '')}`)"
        ),
        f"- Data: {args.rows:,} generated rows (`edgetrain.data.sample`, seed {SEED}) in {args.days} daily "
        "CSV drops",
        "",
    ]
    if train:
        s_wall, b_wall = med([r.wall for r in train["stage"]]), med([r.wall for r in train["bare"]])
        s_rss, b_rss = med([r.rss_mb for r in train["stage"]]), med([r.rss_mb for r in train["bare"]])
        f_s, f_b = (
            Run(*(med([getattr(r, k) for r in train["fixed"][n]]) for k in ("wall", "cpu", "rss_mb")))
            for n in ("stage", "bare")
        )
        s_min, b_min = min(r.wall for r in train["stage"]), min(r.wall for r in train["bare"])
        s_cpu, b_cpu = med([r.cpu for r in train["stage"]]), med([r.cpu for r in train["bare"]])
        rows = train["rows"]
        lines += [
            TRAIN_TITLE,
            "",
            f"`edgetrain train` against `bench/bare_train.py` (pandas `read_parquet`, `QuantileDMatrix`, "
            f"`xgboost.train` with the same parameters and early stopping on valid, `save_model`), both as "
            f"subprocesses on the same prepared parquet ({rows['train']:,} train / {rows['valid']:,} valid "
            f"rows, "
            f"{train['parquet_mb']:.1f} MB of parquet from {train['csv_mb']:.1f} MB of CSV; "
            f"`edgetrain prepare` took {train['prepare'].wall:.1f} s). Peak RSS is the largest process's "
            "`ru_maxrss` (`getrusage(RUSAGE_CHILDREN)` in a wrapper).",
            "",
            "| | wall (s), median | runs (s) | CPU (s), median | peak RSS (MiB), median | runs (MiB) |",
            "|---|---:|---|---:|---:|---|",
            table_row("`edgetrain train`", train["stage"]),
            table_row("bare script", train["bare"]),
            f"| **ratio stage/bare** | **{s_wall / b_wall:.3f}x** (target <= {TARGET_WALL}x: "
            f"{verdict(s_wall / b_wall <= TARGET_WALL)}) | | {s_cpu / b_cpu:.3f}x | **{s_rss / b_rss:.3f}x** "
            f"(target <= {TARGET_RSS}x: {verdict(s_rss / b_rss <= TARGET_RSS)}) | |",
            "",
            f"Fastest runs only (least disturbed by other load): wall {s_min / b_min:.3f}x, CPU "
            f"{min(r.cpu for r in train['stage']) / min(r.cpu for r in train['bare']):.3f}x stage/bare. "
            f"1-minute load average during the runs: {min(train['loads']):.1f}-{max(train['loads']):.1f} "
            f"on {len(os.sched_getaffinity(0))} CPUs (the machine is shared; CPU seconds are less sensitive "
            "to that than wall time).",
            "",
            "Fixed cost around the boosting (same pair with `num_boost_round: 1`, "
            f"{len(train['fixed']['stage'])} runs "
            f"each, alternating; medians): stage {f_s.wall:.2f} s, {f_s.cpu:.2f} CPU-s, "
            f"{f_s.rss_mb:.0f} MiB; "
            f"bare {f_b.wall:.2f} s, {f_b.cpu:.2f} CPU-s, {f_b.rss_mb:.0f} MiB. The stage adds "
            f"{f_s.wall - f_b.wall:+.2f} s to a {b_wall:.0f} s training: "
            f"{1 + (f_s.wall - f_b.wall) / b_wall:.3f}x on wall time with the noise of the shared machine "
            "taken out of the (identical) boosting.",
            "",
            f"Trees: {train['stage_trees']} / {train['bare_trees']} (stage / bare, cut at the best "
            f"iteration); identical models: {'yes' if train['same_model'] else 'no'}.",
            "",
        ]
    if pull:
        mb = pull["bytes"] / MB
        direct = med(pull["direct"])
        default = med(pull["pulls"][None])
        lines += [
            PULL_TITLES[0],
            "",
            f"A private stand-in (Azurite behind the strict proxy that refuses any `x-ms-version` newer than "
            f"{API_VERSION}); the drops were imported with `dvc import-url remote://stackhub-raw/raw data` "
            f"(took {pull['import_s']:.1f} s) and `dvc push`ed ({pull['push_s']:.1f} s). "
            "Each `dvc pull` runs in a "
            f"fresh `git clone` with an empty cache; the baseline (`bench/direct_download.py`) downloads the "
            f"same {pull['blobs']} blobs ({mb:.1f} MB) of the DVC remote container with azure-storage-blob "
            "(thread per blob, `download_blob(max_concurrency=4)`, one client) through the same proxy. "
            "Both are timed end to end as subprocesses (interpreter start and imports included).",
            "",
            "| | wall (s), median | runs (s) | MB/s | vs direct |",
            "|---|---:|---|---:|---:|",
            f"| direct download | {direct:.2f} | {', '.join(f'{w:.2f}' for w in pull['direct'])} "
            f"| {mb / direct:.1f} | 1.00x |",
        ]
        for jobs, walls in pull["pulls"].items():
            name = "`dvc pull` (default jobs)" if jobs is None else f"`dvc pull -j {jobs}`"
            lines.append(
                f"| {name} | {med(walls):.2f} | {', '.join(f'{w:.2f}' for w in walls)} "
                f"| {mb / med(walls):.1f} | {direct / med(walls):.2f}x |"
            )
        ratio = direct / default
        spread = [med(walls) for walls in pull["pulls"].values()]
        lines += [
            "",
            f"- **`dvc pull` throughput / direct: {ratio:.2f}x** (target >= {TARGET_PULL}x: "
            f"{verdict(ratio >= TARGET_PULL)}).",
        ]
        if 1 in pull["pulls"]:  # a run with `--dvc-jobs default` (the smoke test) has no other setting
            lines.append(
                f"- Jobs: median pull times across `-j` settings range {min(spread):.2f}-{max(spread):.2f} "
                f"s; `-j 1` is {med(pull['pulls'][1]) / default:.2f}x the default's time."
            )
        lines += [
            f"- A `dvc pull` with nothing to fetch (fixed cost: start-up, index, remote check) takes "
            f"{pull['noop_pull']:.2f} s; net of it, the default pull moves the data in "
            f"{default - pull['noop_pull']:.2f} s ({mb / max(default - pull['noop_pull'], 1e-3):.1f} MB/s), "
            "so the gap to the direct download is DVC's fixed cost, not its transfer.",
            f"- Requests per container during the default-jobs pull: {pull['requests'].get('None', {})} "
            f"(the pull is served from the DVC remote, not the raw source); every request carried "
            f"x-ms-version {', '.join(pull['versions_seen'])}; refused by the proxy: {pull['rejected']}.",
            "",
        ]
        repro = pull["repro"]
        lines += [PULL_TITLES[1], ""]
        if "error" in repro:
            lines += [f"Not measured: the template pipeline did not run here ({repro['error']}).", ""]
        else:
            lines += [
                f"The template's `dvc.yaml`, `params.yaml`, `config/` and `src/` copied into the repository "
                f"above "
                f"(data imported, {args.rows:,} rows); the first `dvc repro` (prepare, train, evaluate) took "
                f"{repro['first']:.1f} s. Then, with nothing changed:",
                "",
                f"- `dvc repro`: **{med(repro['noop']):.2f} s** median (runs: "
                f"{', '.join(f'{w:.2f}' for w in repro['noop'])}); it re-ran nothing: "
                f"{'yes' if repro['noop_ran_nothing'] else 'NO'}.",
                f"- `dvc status`: {repro['status']:.2f} s.",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def write_section(text: str, keep_from_file: tuple[str, ...] = ()) -> None:
    """Replace only this benchmark's section of bench/results.md (create the file if absent).

    ``keep_from_file``: ``### `` subsection titles not measured in this run, kept from the file as they are.
    """
    current = RESULTS.read_text() if RESULTS.is_file() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    found = pattern.search(current)
    if found and keep_from_file:
        old = dict(subsections(found.group(0)))
        kept = [old[title] for title in keep_from_file if title in old]
        text = text.rstrip() + "\n\n" + "\n".join(kept)
    if found:
        updated = pattern.sub(lambda _: text.rstrip() + "\n\n", current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + text
    RESULTS.write_text(updated.rstrip() + "\n")


def subsections(section: str) -> list[tuple[str, str]]:
    """``(title, text)`` of each ``### `` subsection of a section."""
    parts = re.split(r"^(?=### )", section, flags=re.M)[1:]
    return [(part.splitlines()[0], part.rstrip() + "\n") for part in parts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of generated data (%(default)s)")
    parser.add_argument(
        "--days", type=int, default=10, help="daily drops (blobs) to split them into (%(default)s)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50,000 rows")
    parser.add_argument("--fixed-repeats", type=int, default=FIXED_REPEATS, help="1-round pair runs")
    parser.add_argument(
        "--dvc-jobs",
        nargs="+",
        default=["default", *map(str, DVC_JOBS[1:])],
        help="`dvc pull -j` settings to time; `default` (DVC's own) is always one (%(default)s)",
    )
    parser.add_argument(
        "--only",
        choices=("train", "pull"),
        help="run one part; the other part's figures stay in results.md as they were",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = 50_000
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("azure").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the stand-in on `kill`
    command = shlex.join(["python", "bench/train_and_pull.py", *(argv if argv is not None else sys.argv[1:])])
    os.chdir(REPO)

    do_train = args.only in (None, "train")
    train = bench_train(args.rows, args.days, args.repeats, args.fixed_repeats) if do_train else None
    jobs = (None, *sorted({int(j) for j in args.dvc_jobs if j != "default"}))
    pull = bench_pull(args.rows, args.days, args.repeats, jobs) if args.only in (None, "pull") else None
    section = render(args, command, train, pull)
    keep = {"train": PULL_TITLES, "pull": (TRAIN_TITLE,), None: ()}[args.only]
    write_section(section, keep)
    log.info("wrote %s", RESULTS)
    sys.stdout.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
