"""Edge runner: what the per-job environment costs a pull-request job.

    sudo .venv/bin/python bench/runner_cost.py          (root: the runner host drops each job to its own uid)

Every job runs in a fresh bubblewrap sandbox (deploy/edge-runner/runner_host.py exec), as on the edge VM, with
this machine's / as the rootfs. Measured in the same run:

- sandbox start and teardown: ``true`` in a fresh sandbox vs ``true`` directly;
- ``uv sync --frozen`` of this project (PyPI as the index) inside a job:
  cold (empty per-job cache: what every job pays when no trusted job has filled the shared cache),
  warm read-only (the shared cache filled by a trusted-pool job, hard-linked read-only into the job),
  and, as the baseline the old design had, warm with a persistent writable cache outside any sandbox;
- the seed copy alone: ``true`` in a sandbox with the shared uv cache hard-linked in vs an empty one.

Writes the section "Edge runner: per-job environment cost" of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = REPO / "deploy" / "edge-runner" / "runner_host.py"
RESULTS = REPO / "bench" / "results.md"
SECTION = "## Edge runner: per-job environment cost"
MEASURED = REPO / "bench" / "runner_cost.json"
JOB_UID = 64124  # not the tests uid (64123): a bench next to the tests must not look like a leak
UV = REPO / ".edgetrain" / "tools" / "uv-0.13.8" / "bin" / "uv"
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md", "src")


def _layout(base: Path) -> Path:
    runner = base / "opt" / "edgetrain-runner"
    project = runner / "project"
    project.mkdir(parents=True)
    for path in (base / "opt", runner):
        path.chmod(0o755)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    shutil.copy2(UV if UV.exists() else shutil.which("uv") or "uv", runner / "uv")
    (runner / "run.sh").write_text("#!/bin/sh\nexit 0\n")
    (runner / "run.sh").chmod(0o755)
    (runner / "sync.sh").write_text(
        '#!/bin/sh\nset -e\ncp -r /opt/edgetrain-runner/project "$HOME/p"\ncd "$HOME/p"\n'
        "export UV_PYTHON_DOWNLOADS=never UV_PYTHON=/usr/bin/python3 UV_NATIVE_TLS=1\n"
        "/opt/edgetrain-runner/uv sync --frozen --quiet\n"
        ".venv/bin/python -c 'import edgetrain, xgboost, dvc'\n"
    )
    (runner / "sync.sh").chmod(0o755)
    conf = base / "runner.conf"
    conf.write_text(
        "GITHUB_REPOSITORY_URL=https://github.com/bench/bench\nRUNNER_LABELS=self-hosted\n"
        f"RUNNER_USER={JOB_UID}:{JOB_UID}\nROOTFS=/\nRUNNER_DIR={runner}\n"
        f"JOBS_DIR={base / 'jobs'}\nCACHE_SEED={base / 'seed'}\n"
    )
    conf.chmod(0o600)
    return conf


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def _in_sandbox(conf: Path, *command: str, trusted: bool = False) -> float:
    text = conf.read_text().replace("RUNNER_POOL=trusted\n", "")
    conf.write_text(text + ("RUNNER_POOL=trusted\n" if trusted else ""))
    return _timed([sys.executable, "-I", str(HOST), "exec", "--config", str(conf), "--", *command])


def measure(repeats: int) -> dict[str, float]:
    base = Path(tempfile.mkdtemp(prefix="edgebench-", dir="/tmp"))
    base.chmod(0o711)
    try:
        conf = _layout(base)
        out: dict[str, float] = {}
        out["true_direct"] = statistics.median(_timed(["/bin/true"]) for _ in range(repeats * 5))
        out["true_sandbox"] = statistics.median(_in_sandbox(conf, "/bin/true") for _ in range(repeats * 5))
        sync = "/opt/edgetrain-runner/sync.sh"
        out["sync_cold"] = statistics.median(_in_sandbox(conf, sync) for _ in range(repeats))
        out["sync_trusted_fill"] = _in_sandbox(conf, sync, trusted=True)  # fills the shared seed
        out["seed_files"] = float(sum(len(d) + len(f) for _, d, f in os.walk(base / "seed" / "uv")))
        out["true_sandbox_seeded"] = statistics.median(_in_sandbox(conf, "/bin/true") for _ in range(repeats))
        out["sync_warm_ro"] = statistics.median(_in_sandbox(conf, sync) for _ in range(repeats))
        # The old design: one persistent, writable cache shared by every job, no sandbox.
        old = base / "old"
        shutil.copytree(base / "opt" / "edgetrain-runner" / "project", old / "p")
        env = {
            **os.environ,
            "UV_CACHE_DIR": str(old / "cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_PYTHON": "/usr/bin/python3",
            "UV_NATIVE_TLS": "1",
        }
        uv = str(base / "opt" / "edgetrain-runner" / "uv")
        _timed([uv, "sync", "--frozen", "--quiet", "--directory", str(old / "p")], env)
        warm = []
        for _ in range(repeats):
            shutil.rmtree(old / "p" / ".venv")
            warm.append(_timed([uv, "sync", "--frozen", "--quiet", "--directory", str(old / "p")], env))
        out["sync_warm_shared_rw"] = statistics.median(warm)
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def render(m: dict[str, float], repeats: int) -> str:
    def ratio(a: str, b: str) -> str:
        return f"{m[a] / m[b]:.2f}x"

    return f"""{SECTION}

Every job on the edge VM runs in a fresh bubblewrap sandbox that is deleted after it
([docs/edge-vm.md](../docs/edge-vm.md)). What that costs a pull-request job, measured in one run on this
machine (2 shared cores; `uv sync --frozen` of this project against PyPI; medians of {repeats} runs, the
sandbox start of {repeats * 5}):

| what | seconds | ratio |
|---|---:|---:|
| `true` directly | {m["true_direct"]:.3f} | 1 |
| `true` in a fresh sandbox (create, bind, run, kill, delete) | {m["true_sandbox"]:.3f} | \
{ratio("true_sandbox", "true_direct")} |
| `true` in a fresh sandbox with the shared uv cache hard-linked in ({m["seed_files"]:.0f} entries) | \
{m["true_sandbox_seeded"]:.3f} | {ratio("true_sandbox_seeded", "true_sandbox")} of an empty one |
| `uv sync --frozen`, old design: persistent writable cache, no sandbox | {m["sync_warm_shared_rw"]:.1f} | 1 |
| `uv sync --frozen` in a pull-request job, warm read-only shared cache | {m["sync_warm_ro"]:.1f} | \
{ratio("sync_warm_ro", "sync_warm_shared_rw")} |
| `uv sync --frozen` in a pull-request job, cold (no trusted job has filled the cache) | \
{m["sync_cold"]:.1f} | {ratio("sync_cold", "sync_warm_shared_rw")} |

Measured on a loaded machine (2 cores shared with other sessions' test runs), so the absolute seconds are
high; the ratios come from one run. What they say: the warm read-only cache saves a pull-request job
{1 - m["sync_warm_ro"] / m["sync_cold"]:.0%} of a cold sync, but it is far from the old shared writable cache
(which any job could poison). The price is the isolation itself: uv cannot hard-link the root-owned seed files
on into the job's `.venv` (`fs.protected_hardlinks`), so it copies them (about 1.7 GB for this project); the
seed is linked in entry by entry ({m["seed_files"]:.0f} entries) and the job's whole tree is deleted after it.
Ways to cut it: a file system with reflinks (XFS, btrfs) and `UV_LINK_MODE=clone`, or the project's
dependencies pre-installed in the pinned rootfs image. Keep a trusted pool (`RUNNER_POOL=trusted`) running
default-branch jobs so the seed stays filled; without it every job pays the cold figure. Reproduce with
`sudo .venv/bin/python bench/runner_cost.py` (root, bubblewrap, network to PyPI).
"""


def write_section(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    start = current.find(SECTION)
    if start < 0:
        current = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION))
        current = current[:start] + text + (current[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--render", action="store_true", help="rewrite the section from runner_cost.json")
    args = parser.parse_args(argv)
    if not args.render and (os.geteuid() != 0 or shutil.which("bwrap") is None):
        print("bench/runner_cost.py needs root and bwrap (apt-get install bubblewrap)", file=sys.stderr)
        return 1
    if args.render:
        measured = json.loads(MEASURED.read_text())
    else:
        measured = measure(args.repeats)
        MEASURED.write_text(json.dumps(measured, indent=1) + "\n")
    print(measured)
    write_section(render(measured, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
