"""Serving benchmark: edgetrain's scoring server vs Azure's inference server (azureml-inference-server-http).

Both serve the same model (``artifacts/model``, the output of ``dvc repro``) with the same number of
workers, each from its own virtual environment under ``bench/.work/serving`` (git-ignored): ours built
from the hashed serving lock exactly as the image installs it, Azure's with its server, xgboost-cpu and
pandas and a minimal idiomatic ``score.py``. The load comes from ``loadgen.py`` in a separate process
on loopback, with the same request bytes (Azure ML's ``input_data`` form) for both, at 1 and 100 rows.

    .venv/bin/python bench/serving/run.py            # writes the "## Serving" section of bench/results.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from edgetrain.storage.azurite import free_port

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = REPO / "bench" / ".work" / "serving"
AZUREML_PACKAGES = [
    "azureml-inference-server-http==1.5.1",
    "xgboost-cpu==3.2.0",
    "pandas==3.1.1",
    "numpy==2.4.6",
]
SIZES = (1, 100)


def ensure_venv(path: Path, install: list[str]) -> Path:
    python = path / "bin" / "python"
    marker = path / ".installed"
    wanted = json.dumps(install)
    if not (marker.exists() and marker.read_text() == wanted):
        subprocess.run(["uv", "venv", "--quiet", "--clear", "--python", "3.11", str(path)], check=True)
        subprocess.run(["uv", "pip", "install", "--quiet", "--python", str(python), *install], check=True)
        marker.write_text(wanted)
    return python


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def request_rows(metadata: dict, n: int) -> tuple[list[str], list[list]]:
    """Rows from the prepared test split when present (the load generator's input, never the context)."""
    columns = [f["name"] for f in metadata["features"]]
    test = REPO / "artifacts" / "prepared" / "test.parquet"
    if test.exists():
        import pandas as pd

        frame = pd.read_parquet(test, columns=columns).head(n)
        frame = frame.astype(object).where(frame.notna(), None)
        return columns, frame.to_numpy().tolist()
    row = [
        (f.get("categories") or ["?"])[0] if f["dtype"] == "category" else 1.0 for f in metadata["features"]
    ]
    return columns, [row] * n


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def start(
    argv: list[str], cwd: Path, env: dict[str, str], *, url: str, body: bytes, log: Path, timeout: float = 180
) -> tuple[subprocess.Popen, float]:
    """Start a server; seconds from spawn until the first scoring request answers 200."""
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}; see {log}")
        if post(url, body) == 200:
            return process, time.perf_counter() - started
        time.sleep(0.05)
    process.kill()
    sys.exit(f"server not ready after {timeout}s; see {log}")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load(client: Path, url: str, body: Path, requests: int, connections: int) -> dict:
    done = subprocess.run(
        [str(client), str(HERE / "loadgen.py"), "--url", url, "--body", str(body),
         "--requests", str(requests), "--connections", str(connections)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def servers(
    ctx: Path, ours: Path, azure: Path, workers: int
) -> dict[str, tuple[list[str], Path, dict[str, str]]]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("EDGETRAIN_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    port_ours, port_azure, port_health = free_port(), free_port(), free_port()
    env_ours = {**base, "PORT": str(port_ours), "HOST": "127.0.0.1", "WORKERS": str(workers)}
    env_azure = {**base, "AZUREML_MODEL_DIR": str(ctx / "model"), "WORKER_COUNT": str(workers)}
    azmlinfsrv = azure.parent / "azmlinfsrv"
    return {
        "edgetrain": (
            [str(ours), "-m", "scoring_server"],
            ctx,
            env_ours,
        ),  # the Dockerfile CMD, cwd = context
        "azureml": (
            [
                str(azmlinfsrv),
                "--entry_script",
                str(HERE / "score.py"),
                "--model_dir",
                str(ctx / "model"),
                "--port",
                str(port_azure),
                "--health_port",
                str(port_health),
                "--worker_count",
                str(workers),
            ],
            WORK,
            env_azure,
        ),
    }


def url_of(name: str, spec: tuple[list[str], Path, dict[str, str]]) -> str:
    argv, _, env = spec
    port = env["PORT"] if name == "edgetrain" else argv[argv.index("--port") + 1]
    return f"http://127.0.0.1:{port}/score"


def render(
    results: dict,
    startup: dict,
    sizes: dict,
    loadavg: tuple[float, float],
    args: argparse.Namespace,
    *,
    command: str,
) -> str:
    lines = [
        "## Serving",
        "",
        f"Measured {dt.date.today().isoformat()} on {cpu_model()} (nproc {os.cpu_count()}), "
        f"Python {platform.python_version()}, Linux {platform.release()}, 1-minute load average "
        f"{loadavg[0]:.1f} before and {loadavg[1]:.1f} after the run. Same model (`artifacts/model`), "
        f"{args.workers} worker(s) each, one thread per worker; load from a separate process "
        f"(`bench/serving/loadgen.py`: {args.connections} keep-alive connections, closed loop, 200 warm-up "
        "requests), identical request bytes (Azure ML `input_data` form) for both servers.",
        "Baseline: `azureml-inference-server-http` 1.5.1 (gunicorn) with a minimal `score.py` (JSON -> "
        "DataFrame with the training categories -> `DMatrix` -> `Booster.predict`; "
        "`bench/serving/score.py`). "
        "edgetrain runs its image CMD from the build context in a venv installed from the hashed lock "
        "(uvicorn + uvloop + httptools, orjson, `inplace_predict` on a float32 matrix), with its request "
        "limits at their defaults (header/body size and time, in-flight budget, cost check before parsing: "
        "`src/edgetrain/serving/README.md`). Each server keeps "
        "its defaults otherwise (azmlinfsrv logs every request; edgetrain's access log is off, "
        "`EDGETRAIN_ACCESS_LOG=1`). On 2 vCPUs the load generator shares the machine, so absolute figures "
        "are noisy; the ratio is what matters, and it widens when the machine is busy (the baseline suffers "
        "more from CPU contention): compare runs at similar load averages.",
        "",
        "| server | rows/request | requests | req/s | p50 ms | p99 ms | non-200 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in SIZES:
        for name in ("edgetrain", "azureml"):
            r = results[name][size]
            lines.append(
                f"| {name} | {size} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {r['errors']} |"
            )
    lines.append("")
    for size in SIZES:
        ours, theirs = results["edgetrain"][size], results["azureml"][size]
        lines.append(
            f"- {size} row(s)/request: {ours['rps'] / theirs['rps']:.1f}x the throughput; p50 "
            f"{ours['p50_ms']:.2f} ms vs {theirs['p50_ms']:.2f} ms "
            f"({theirs['p50_ms'] / ours['p50_ms']:.1f}x lower), "
            f"p99 {ours['p99_ms']:.2f} ms vs {theirs['p99_ms']:.2f} ms."
        )
    lines += [
        f"- Start-up to first successful score: edgetrain {startup['edgetrain']:.1f} s, "
        f"azureml {startup['azureml']:.1f} s.",
        f"- Build context: {sizes['context'] / 1e6:.2f} MB (model file {sizes['model'] / 1e6:.2f} MB). "
        f"Installed serving environment (what `pip install -r requirements.lock` adds to the base image): "
        f"{sizes['ours_env'] / 1e6:.0f} MB; the baseline environment: {sizes['azure_env'] / 1e6:.0f} MB.",
        "",
        f"Reproduce: `{command}` (first run creates the two virtual environments under `bench/.work/`).",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the ``## Serving`` section; other sections are left alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Serving"), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--requests", type=int, nargs=2, default=[4000, 1500], metavar=("ONE_ROW", "HUNDRED"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results.md")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from edgetrain.serving.package import REQUIREMENTS_LOCK, PackageOptions, build_context, context_size

    WORK.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)
    ctx = build_context(PackageOptions(output=WORK / "scoring", model_version="bench"))
    ours = ensure_venv(WORK / "edgetrain-venv", ["--require-hashes", "-r", str(REQUIREMENTS_LOCK)])
    azure = ensure_venv(WORK / "azureml-venv", AZUREML_PACKAGES)
    metadata = json.loads((ctx / "model" / "metadata.json").read_text())
    bodies = {}
    for size in SIZES:
        columns, data = request_rows(metadata, size)
        bodies[size] = WORK / f"body-{size}.json"
        bodies[size].write_text(json.dumps({"input_data": {"columns": columns, "data": data}}))
    counts = dict(zip(SIZES, args.requests, strict=True))
    load_before = os.getloadavg()[0]
    results: dict[str, dict[int, dict]] = {}
    startup: dict[str, float] = {}
    for name, spec in servers(ctx, ours, azure, args.workers).items():
        url = url_of(name, spec)
        process, startup[name] = start(*spec, url=url, body=bodies[1].read_bytes(), log=WORK / f"{name}.log")
        try:
            results[name] = {
                size: load(ours, url, bodies[size], counts[size], args.connections) for size in SIZES
            }
        finally:
            stop(process)
        print(name, json.dumps(results[name]), f"startup {startup[name]:.2f}s", file=sys.stderr)
    sizes = {
        "context": context_size(ctx),
        "model": (ctx / "model" / "model.ubj").stat().st_size,
        "ours_env": dir_size(next((WORK / "edgetrain-venv" / "lib").glob("python*/site-packages"))),
        "azure_env": dir_size(next((WORK / "azureml-venv" / "lib").glob("python*/site-packages"))),
    }
    loadavg = (load_before, os.getloadavg()[0])
    section = render(results, startup, sizes, loadavg, args, command="make bench-serving")
    if args.no_write:
        print(section)
    else:
        write_section(args.results, section)
        print(f"wrote the Serving section of {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
