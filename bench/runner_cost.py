"""Edge runner (``make bench-runner``): what the per-job environment costs a pull-request job.

    sudo .venv/bin/python bench/runner_cost.py          (root: the runner host drops each job to its own uid)
    python bench/runner_cost.py --project smoke --rounds 1 --starts 2   (smoke: a one-wheel project, offline)

Every job runs in a fresh bubblewrap sandbox (deploy/edge-runner/runner_host.py exec), as on the edge VM, with
this machine's / as the rootfs. Measured in the same run, in ``--rounds`` interleaved rounds (harness.py):

- sandbox start and teardown: ``true`` directly, in a fresh sandbox, and in a fresh sandbox with the shared
  uv cache hard-linked in (the seed copy alone), ``--starts`` of each per round;
- ``uv sync --frozen`` of the project inside a job: cold (empty per-job cache: what every job pays when no
  trusted job has filled the shared cache), warm read-only (the shared cache filled once by a trusted-pool
  job, hard-linked read-only into the job), and, as the baseline the old design had, warm with a persistent
  writable cache outside any sandbox.

``--project full`` (the default) syncs this project against PyPI; ``--project smoke`` a project of one local
wheel, offline, so the smoke test measures the sandbox's mechanics in seconds and says nothing about this
project's environment. Without root, bwrap or uv the bench prints one line and records every row as missing.

Writes the section "Edge runner: per-job environment cost" of bench/results.md (``BENCH_RESULTS``) and the
raw runs to ``runner_cost.json`` next to it; ``--render`` rewrites the section from that file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

REPO = harness.REPO
HOST = REPO / "deploy" / "edge-runner" / "runner_host.py"
SECTION = "## Edge runner: per-job environment cost"
MEASURED = harness.RESULTS.with_name("runner_cost.json")  # next to the results (a smoke run writes its own)
JOB_UID = 64124  # not the tests uid (64123): a bench next to the tests must not look like a leak
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md", "src")
STEP_TIMEOUT_S = 3600
SMOKE_WHEEL = "edgebench_dep"
# (key, label): the rows of the table, in order; {seed} is the entry count of the shared uv cache.
ROWS = (
    ("true_direct", "`true` directly"),
    ("true_sandbox", "`true` in a fresh sandbox (create, bind, run, kill, delete)"),
    ("true_sandbox_seeded", "`true` in a fresh sandbox with the shared uv cache hard-linked in{seed}"),
    ("sync_warm_shared_rw", "`uv sync --frozen`, old design: persistent writable cache, no sandbox"),
    ("sync_warm_ro", "`uv sync --frozen` in a pull-request job, warm read-only shared cache"),
    ("sync_cold", "`uv sync --frozen` in a pull-request job, cold (no trusted job has filled the cache)"),
)
# row -> the row its ratio is taken against (and what the ratio reads as)
BASES = {
    "true_sandbox": ("true_direct", ""),
    "true_sandbox_seeded": ("true_sandbox", " of an empty one"),
    "sync_warm_ro": ("sync_warm_shared_rw", ""),
    "sync_cold": ("sync_warm_shared_rw", ""),
}


class StepFailedError(RuntimeError):
    """A measured command failed: one line, and its row is recorded as missing."""


def prerequisites() -> str | None:
    """Why the sandbox cannot run here (one line), or None."""
    if os.geteuid() != 0:
        return "needs root (the runner host drops each job to its own uid): run it with sudo"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (apt-get install bubblewrap)"
    try:
        harness.uv()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def _smoke_project(project: Path) -> str:
    """A project whose one dependency is a local wheel: ``uv lock`` and ``uv sync`` need no network."""
    version = "1.0"
    info = f"{SMOKE_WHEEL}-{version}.dist-info"
    files = {
        f"{SMOKE_WHEEL}/__init__.py": "".join(f"X{i} = {i}\n" for i in range(100)),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {SMOKE_WHEEL}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: edgetrain-bench\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }

    def digest(text: str) -> str:
        raw = hashlib.sha256(text.encode()).digest()
        return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    record = "".join(f"{path},{digest(text)},{len(text.encode())}\n" for path, text in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = f"wheels/{SMOKE_WHEEL}-{version}-py3-none-any.whl"
    (project / "wheels").mkdir(parents=True)
    with zipfile.ZipFile(project / wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "edgebench-smoke"\nversion = "0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["{SMOKE_WHEEL}"]\n\n[tool.uv]\nno-index = true\nfind-links = ["wheels"]\n'
    )
    lock_env = {**os.environ, **_uv_env(offline=True), "UV_CACHE_DIR": str(project.parent / "lock-cache")}
    _run("uv lock", [harness.uv(), "lock", "--offline", "--quiet", "--directory", project], lock_env)
    shutil.rmtree(project.parent / "lock-cache", ignore_errors=True)
    for path in [project, *project.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return SMOKE_WHEEL


def _uv_env(offline: bool) -> dict[str, str]:
    env = {"UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": "/usr/bin/python3", "UV_NATIVE_TLS": "1"}
    return env | ({"UV_OFFLINE": "1"} if offline else {})


def _layout(base: Path, project_kind: str) -> dict[str, Path]:
    """The runner install (root-owned), the project it syncs, and one runner.conf per kind of job."""
    runner = base / "opt" / "edgetrain-runner"
    project = runner / "project"
    project.mkdir(parents=True)
    for path in (base / "opt", runner):
        path.chmod(0o755)
    if project_kind == "smoke":
        imports = _smoke_project(project)
    else:
        imports = "edgetrain, xgboost, dvc"
        for name in PROJECT_FILES:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, project / name)
    shutil.copy2(harness.uv(), runner / "uv")
    (runner / "run.sh").write_text("#!/bin/sh\nexit 0\n")
    (runner / "run.sh").chmod(0o755)
    exports = " ".join(f"{k}={v}" for k, v in _uv_env(offline=project_kind == "smoke").items())
    (runner / "sync.sh").write_text(
        '#!/bin/sh\nset -e\ncp -r /opt/edgetrain-runner/project "$HOME/p"\ncd "$HOME/p"\n'
        f"export {exports}\n"
        "/opt/edgetrain-runner/uv sync --frozen --quiet\n"
        f".venv/bin/python -c 'import {imports}'\n"
    )
    (runner / "sync.sh").chmod(0o755)
    common = (
        "GITHUB_REPOSITORY_URL=https://github.com/bench/bench\nRUNNER_LABELS=self-hosted\n"
        f"RUNNER_USER={JOB_UID}:{JOB_UID}\nROOTFS=/\nRUNNER_DIR={runner}\nJOBS_DIR={base / 'jobs'}\n"
    )
    confs = {
        "seeded": f"CACHE_SEED={base / 'seed'}\n",  # a pull-request job: the shared seed linked in
        "cold": "CACHE_SEED=\n",  # no seed: what a job pays when no trusted job has filled it
        "trusted": f"CACHE_SEED={base / 'seed'}\nRUNNER_POOL=trusted\n",  # promotes its caches to the seed
    }
    out = {"project": project}
    for name, extra in confs.items():
        out[name] = base / f"runner-{name}.conf"
        out[name].write_text(common + extra)
        out[name].chmod(0o600)
    return out


def _run(what: str, argv: list[str | Path], env: dict[str, str] | None = None) -> float:
    """Wall seconds of ``argv``; a failure is one line (``what``, its exit status, its last output line)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StepFailedError(f"{what}: no answer in {STEP_TIMEOUT_S} s") from exc
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise StepFailedError(f"{what} exited {done.returncode}: {_why(done.stdout + done.stderr)}")
    return elapsed


def _why(output: str) -> str:
    """One line from a failed command's output: its ``error:`` line and last ``cause:``, or its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    causes = [line for line in lines if line.startswith("cause:")]
    picked = " ".join([errors[0], *causes[-1:]]) if errors else (lines[-1] if lines else "no output")
    return picked[:300]


def _in_sandbox(conf: Path, command: str) -> float:
    argv: list[str | Path] = [sys.executable, "-I", HOST, "exec", "--config", conf, "--", command]
    return _run(f"{Path(command).name} in a sandbox", argv)


def measure(project_kind: str, rounds: int, starts: int) -> dict:
    """Every variant, interleaved; a variant whose command fails is missing (one line) from then on."""
    base = Path(tempfile.mkdtemp(prefix="edgebench-", dir="/tmp"))
    base.chmod(0o711)  # the job's uid must reach the bind sources under it
    missing: dict[str, str] = {}
    try:
        paths = _layout(base, project_kind)
        sync = "/opt/edgetrain-runner/sync.sh"
        fill: float | None = None
        try:  # one trusted-pool job fills the shared seed (as on the VM, once, then kept)
            fill = _in_sandbox(paths["trusted"], sync)
        except StepFailedError as exc:
            harness.log(f"missing: the trusted job that fills the shared cache failed: {exc}")
            for key in ("true_sandbox_seeded", "sync_warm_ro"):
                missing[key] = f"the trusted job that fills the shared cache failed: {exc}"
        seed = base / "seed" / "uv"
        seed_files = sum(len(d) + len(f) for _, d, f in os.walk(seed)) if seed.is_dir() else 0
        # The old design: one persistent, writable cache shared by every job, no sandbox (warmed once).
        old = base / "old"
        shutil.copytree(paths["project"], old / "p")
        old_env = {
            **os.environ,
            **_uv_env(offline=project_kind == "smoke"),
            "UV_CACHE_DIR": str(old / "cache"),
        }
        old_sync: list[str | Path] = [base / "opt" / "edgetrain-runner" / "uv", "sync", "--frozen", "--quiet"]
        old_sync += ["--directory", old / "p"]
        try:
            _run("uv sync (warming the writable cache)", old_sync, old_env)
        except StepFailedError as exc:
            harness.log(f"missing: {exc}")
            missing["sync_warm_shared_rw"] = str(exc)

        def old_design() -> float:
            shutil.rmtree(old / "p" / ".venv", ignore_errors=True)
            return _run("uv sync without a sandbox", old_sync, old_env)

        def many(step: Callable[[], float]) -> Callable[[], list[float]]:
            return lambda: [step() for _ in range(starts)]

        variants: dict[str, Callable[[], list[float]]] = {
            "true_direct": many(lambda: _run("true", ["/bin/true"])),
            "true_sandbox": many(lambda: _in_sandbox(paths["cold"], "/bin/true")),
            "true_sandbox_seeded": many(lambda: _in_sandbox(paths["seeded"], "/bin/true")),
            "sync_warm_shared_rw": lambda: [old_design()],
            "sync_warm_ro": lambda: [_in_sandbox(paths["seeded"], sync)],
            "sync_cold": lambda: [_in_sandbox(paths["cold"], sync)],
        }

        def guarded(name: str, step: Callable[[], list[float]]) -> Callable[[], list[float]]:
            def run() -> list[float]:
                if name in missing:
                    return []
                try:
                    return step()
                except StepFailedError as exc:
                    missing[name] = str(exc)
                    harness.log(f"missing: {name}: {exc}")
                    return []

            return run

        rounds_out = harness.interleave({k: guarded(k, v) for k, v in variants.items()}, rounds)
        runs = {k: [s for r in v for s in r] for k, v in rounds_out.items() if k not in missing}
        return {"runs": runs, "missing": missing, "seed_files": seed_files, "trusted_fill": fill}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _cell(runs: dict[str, list[float]], key: str) -> str:
    fmt = ".3f" if key.startswith("true") else ".2f"
    return harness.spread(runs[key], fmt)


def render(m: dict) -> str:
    runs: dict[str, list[float]] = m["runs"]
    missing: dict[str, str] = m["missing"]
    seed = f" ({m['seed_files']} entries)" if m.get("seed_files") else ""
    lines = [SECTION, "", *m["header"], ""]
    lines += [
        "Every job on the edge VM runs in a fresh bubblewrap sandbox that is deleted after it",
        "([docs/edge-vm.md](../docs/edge-vm.md)). What that costs a pull-request job, measured in one run on",
        f"this machine: {m['project_text']}. "
        + m.get(
            "method",
            f"Seconds are `median (min-max)` over {m['rounds']} interleaved round(s); the `true` rows run "
            f"{m['starts']} times a round.",
        )
        + " Ratios are of medians, against the row reading 1 above them (or as stated).",
        "",
        "| what | seconds | ratio |",
        "|---|---:|---:|",
    ]
    for key, template in ROWS:
        label = template.format(seed=seed)
        if key in missing or key not in runs:
            lines.append(f"| {label} | missing: {missing.get(key, 'not measured')} | |")
            continue
        ratio = "1"
        if key in BASES:
            against, reads = BASES[key]
            ratio = (
                f"{harness.median(runs[key]) / harness.median(runs[against]):.2f}x{reads}"
                if against in runs and against not in missing
                else ""  # never a ratio against a baseline that was not measured
            )
        lines.append(f"| {label} | {_cell(runs, key)} | {ratio} |")
    lines.append("")
    have = {key for key, _ in ROWS if key in runs and key not in missing}
    if {"sync_cold", "sync_warm_ro", "sync_warm_shared_rw"} <= have:
        cold, warm = harness.median(runs["sync_cold"]), harness.median(runs["sync_warm_ro"])
        shared = harness.median(runs["sync_warm_shared_rw"])
        lines += [
            f"What they say: the warm read-only cache saves a pull-request job {1 - warm / cold:.0%} of a "
            f"cold sync, and takes {warm / shared:.1f}x the old shared writable cache's time (which any job "
            "could poison).",
            "",
        ]
    if m["project"] == "full":
        lines += [
            "Where the price comes from: uv cannot hard-link the root-owned seed files on into the",
            "job's `.venv` (`fs.protected_hardlinks`), so it copies them (about 1.7 GB for this project);",
            "the seed is linked in entry by entry and the job's whole tree is deleted after it. Ways to cut",
            "it: a file system with reflinks (XFS, btrfs) and `UV_LINK_MODE=clone`, or the project's",
            "dependencies pre-installed in the pinned rootfs image. Keep a trusted pool",
            "(`RUNNER_POOL=trusted`) running default-branch jobs so the seed stays filled; without it",
            "every job pays the cold figure. Needs root, bubblewrap and network to PyPI",
            "(`sudo make bench-runner`).",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def project_text(kind: str) -> str:
    if kind == "smoke":
        return (
            f"**smoke size**: `uv sync --frozen` of a project of one local wheel ({SMOKE_WHEEL}), offline; "
            "the figures show the sandbox's mechanics, not this project's environment"
        )
    return "`uv sync --frozen` of this project against PyPI, 2 shared cores"


def versions() -> list[str]:
    found = []
    for name, tool in (("uv", harness.uv), ("bubblewrap", lambda: "bwrap")):
        try:
            argv = [tool(), "--version"]
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout.split()
            found.append(f"{name} {out[1] if len(out) > 1 else '?'}")
        except (OSError, subprocess.CalledProcessError):
            found.append(f"{name} (absent)")
    return [f"Tools: {', '.join(found)}"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", choices=("full", "smoke"), default="full")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (%(default)s)")
    parser.add_argument("--starts", type=int, default=5, help="sandbox starts per round (%(default)s)")
    parser.add_argument("--render", action="store_true", help=f"rewrite the section from {MEASURED.name}")
    parser.add_argument("--require", action="store_true", help="exit 1 when any row is missing")
    args = parser.parse_args(argv)
    if args.render:
        measured = json.loads(MEASURED.read_text())
    else:
        prov = harness.Provenance(shlex.join(["sudo", ".venv/bin/python", "bench/runner_cost.py", *argv]), ())
        why = prerequisites()
        if why is None:
            measured = measure(args.project, args.rounds, args.starts)
        else:
            harness.log(f"bench/runner_cost.py: {why}")
            measured = {"runs": {}, "missing": {key: why for key, _ in ROWS}, "seed_files": 0}
        measured |= {"project": args.project, "rounds": args.rounds, "starts": args.starts}
        measured["project_text"] = project_text(args.project)
        measured["header"] = prov.finish().header(versions())
        MEASURED.write_text(json.dumps(measured, indent=1) + "\n")
    text = render(measured)
    harness.write_section(text, SECTION, harness.RESULTS)
    sys.stdout.write(text)
    return 1 if args.require and measured["missing"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
