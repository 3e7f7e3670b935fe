"""A host layout for the edge runner host (deploy/edge-runner/runner_host.py) in a temporary directory: the
root-only settings and credential, a root-owned runner install whose run.sh is the test's "job" (a shell
script in place of the GitHub runner), the jobs and cache-seed directories. The rootfs is this machine's own
``/`` (root-owned; the host binds only its usr/ and etc/ into the sandbox)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

HOST = REPO_ROOT / "deploy" / "edge-runner" / "runner_host.py"
JOB_UID = 64123  # an unprivileged uid no account on this machine uses
IN_CI = os.environ.get("CI") == "true"


def need_sandbox() -> None:
    """bwrap and root (to drop to the job's uid); in CI a missing one fails, elsewhere it skips."""
    missing = []
    if shutil.which("bwrap") is None:
        missing.append("bwrap (apt-get install bubblewrap)")
    if os.geteuid() != 0:
        missing.append("root (the host drops to the job's uid)")
    if missing:
        if IN_CI:
            pytest.fail(f"missing {', '.join(missing)}")
        pytest.skip(f"missing {', '.join(missing)}")


@dataclass
class Host:
    base: Path
    conf: Path
    runner: Path
    jobs: Path
    seed: Path
    token_file: Path

    def job(self, script: str) -> None:
        """Install ``script`` as the runner's run.sh (root-owned, read-only to the job)."""
        run = self.runner / "run.sh"
        run.write_text(script)
        run.chmod(0o755)

    def set(self, **values: str) -> None:
        with self.conf.open("a") as conf:
            conf.writelines(f"{key}={value}\n" for key, value in values.items())

    def run(self, command: str = "run-one", *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", str(HOST), command, "--config", str(self.conf), *extra],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@contextmanager
def make_host(url: str, repo: str, token: str) -> Iterator[Host]:
    need_sandbox()
    # Under /tmp with 0711 parents: the job's uid must reach the bind sources, and nothing else.
    base = Path(tempfile.mkdtemp(prefix="edgehost-", dir="/tmp"))
    base.chmod(0o711)
    etc = base / "etc" / "edgetrain"
    etc.mkdir(parents=True, mode=0o700)
    token_file = etc / "github-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    runner = base / "opt" / "edgetrain-runner"
    runner.mkdir(parents=True)
    for path in (base / "opt", runner):
        path.chmod(0o755)
    conf = etc / "runner.conf"
    conf.write_text(
        f"GITHUB_REPOSITORY_URL=https://github.com/{repo}\n"
        f"GITHUB_API_URL={url}\n"
        "RUNNER_LABELS=self-hosted,linux,x64,stackhub\n"
        "RUNNER_NAME=edge-test\n"
        f"RUNNER_USER={JOB_UID}:{JOB_UID}\n"
        "ROOTFS=/\n"
        f"RUNNER_DIR={runner}\n"
        f"JOBS_DIR={base / 'jobs'}\n"
        f"CACHE_SEED={base / 'seed'}\n"
    )
    try:
        yield Host(base, conf, runner, base / "jobs", base / "seed", token_file)
    finally:
        shutil.rmtree(base)


def job_processes() -> list[str]:
    """Live (not zombie) processes of the job's uid anywhere on this machine."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        zombie = fields.get("State", "").strip().startswith("Z")
        if fields.get("Uid", "").split()[:1] == [str(JOB_UID)] and not zombie:
            found.append(f"{proc.name}: {cmdline}")
    return found
