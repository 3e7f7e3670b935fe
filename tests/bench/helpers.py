"""Run a bench as ``make bench`` does, at smoke size, its results and work files in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT = 1500


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def run_bench(
    script: str, *args: str, tmp: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """(the process, the results file it wrote). Fails the test with the bench's output when it fails.
    ``env`` overrides the inherited environment (the venv stays first on PATH)."""
    results = tmp / "results.md"
    base = {k: v for k, v in os.environ.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
    env = base | (env or {}) | {"BENCH_RESULTS": str(results), "BENCH_WORK": str(tmp / "work")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"{script} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    assert results.is_file(), f"{script} wrote no results"
    return done, results.read_text()
