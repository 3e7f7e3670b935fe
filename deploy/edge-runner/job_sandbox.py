"""One GitHub Actions job in a thrown-away bubblewrap sandbox (stdlib only: runs on the edge VM's python3).

Everything a job can write lives under one per-job directory that root creates before the job and deletes
after it: HOME, the runner's work and log folders, /tmp, /var/tmp and every cache path. The root file system
(``usr/`` and ``etc/`` of a pinned rootfs) and the runner install are bound read-only and stay root-owned.
The job runs as an unprivileged uid in its own PID, IPC, UTS and cgroup namespaces, in a new session, and dies
with its parent: when the runner exits, the PID namespace ends and the kernel kills every process left in it
(double-forked and setsid'ed ones too).

Shared caches: ``cache_seed/<name>`` (root-owned, written only by :func:`promote_caches`, i.e. only after a
job of the trusted pool) is copied into the job's cache by hard links. The linked files stay root-owned and
read-only, so a job can add or replace entries in its own copy but never edit a shared file in place.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RUNNER_MOUNT = "/opt/edgetrain-runner"
#: the credential broker's socket directory (deploy/edge-runner/edgetrain-broker.service), same path inside
BROKER_DIR = "/run/edgetrain-broker"
HOME = "/home/runner"
TOOL_CACHE = "/opt/hostedtoolcache"
#: name -> path inside the sandbox; each is a fresh directory per job.
CACHES = {"uv": "/cache/uv", "pip": "/cache/pip", "dvc": "/cache/dvc", "tools": TOOL_CACHE}
#: every other writable path inside the sandbox, fresh per job.
SCRATCH = {
    "home": HOME,
    "tmp": "/tmp",
    "var-tmp": "/var/tmp",
    "work": f"{RUNNER_MOUNT}/_work",
    "diag": f"{RUNNER_MOUNT}/_diag",
}
ENV = {
    "HOME": HOME,
    "USER": "runner",
    "LOGNAME": "runner",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "XDG_CACHE_HOME": f"{HOME}/.cache",
    "UV_CACHE_DIR": CACHES["uv"],
    "PIP_CACHE_DIR": CACHES["pip"],
    "DVC_SITE_CACHE_DIR": CACHES["dvc"],
    "RUNNER_TOOL_CACHE": TOOL_CACHE,
    "AGENT_TOOLSDIRECTORY": TOOL_CACHE,
    "EDGETRAIN_JOB_SANDBOX": "1",
    "EDGETRAIN_BROKER_SOCKET": f"{BROKER_DIR}/broker.sock",
}


class SandboxError(Exception):
    """A prerequisite of the sandbox is missing; the message names it and the fix."""


@dataclass(frozen=True)
class Sandbox:
    rootfs: Path
    runner_dir: Path
    jobs_dir: Path
    uid: int
    gid: int
    cache_seed: Path | None = None
    bwrap: str = "bwrap"
    broker_dir: Path | None = None


def _root_owned_dir(path: Path, what: str, fix: str) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise SandboxError(f"{what} {path} is missing: {fix}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise SandboxError(f"{what} {path} is not a directory (a symlink?): {fix}")
    if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SandboxError(f"{what} {path} must be owned by root and writable by root only: {fix}")


def check(box: Sandbox) -> None:
    """Refuse to start a job when the sandbox would not hold."""
    if box.uid == 0 or box.gid == 0:
        raise SandboxError("the job user must not be root: set RUNNER_USER to the unprivileged runner user")
    fix = "run bootstrap.sh (it unpacks ROOTFS_IMAGE there) or set ROOTFS in runner.conf"
    _root_owned_dir(box.rootfs, "rootfs", fix)
    if not (box.rootfs / "usr/bin/sh").exists() or not (box.rootfs / "etc").is_dir():
        raise SandboxError(f"rootfs {box.rootfs} has no usr/bin/sh or etc/: {fix}")
    _root_owned_dir(box.runner_dir, "runner install", "run bootstrap.sh (it installs the runner root-owned)")
    if not (box.runner_dir / "run.sh").is_file():
        raise SandboxError(f"runner install {box.runner_dir} has no run.sh: run bootstrap.sh")
    if shutil.which(box.bwrap) is None:
        raise SandboxError(f"{box.bwrap} is not installed: apt-get install bubblewrap")


def _mkdir(path: Path, mode: int, uid: int, gid: int) -> None:
    path.mkdir(mode=mode)
    os.chown(path, uid, gid)
    path.chmod(mode)


def _link_tree(source: Path, target: Path, uid: int, gid: int) -> None:
    """Copy ``source`` into ``target`` by hard links: the job owns the directories, root the shared files."""
    for top, dirs, files in os.walk(source, followlinks=False):
        here = target / Path(top).relative_to(source)
        for name in dirs:
            src = Path(top) / name
            if src.is_symlink():
                (here / name).symlink_to(src.readlink())
                continue
            _mkdir(here / name, 0o755, uid, gid)
        for name in files:
            src = Path(top) / name
            if src.is_symlink():
                (here / name).symlink_to(src.readlink())
            elif name.startswith(".") or name == "CACHEDIR.TAG":
                # markers and locks (.lock, .git, .gitignore) a tool opens for writing: the job's own copy
                shutil.copyfile(src, here / name, follow_symlinks=False)
                os.chown(here / name, uid, gid)
            elif src.is_file():
                os.link(src, here / name, follow_symlinks=False)


def prepare(box: Sandbox) -> Path:
    """A fresh per-job directory: root-owned, its subdirectories owned by the job user."""
    box.jobs_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
    _root_owned_dir(box.jobs_dir, "jobs directory", "it must be root-owned (bootstrap.sh creates it)")
    job = box.jobs_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    _mkdir(job, 0o711, 0, 0)
    for name in [*SCRATCH, *(f"cache-{c}" for c in CACHES)]:
        _mkdir(job / name, 0o700, box.uid, box.gid)
    (job / "tmp").chmod(0o1777)
    (job / "var-tmp").chmod(0o1777)
    if box.cache_seed is not None:
        for name in CACHES:
            seed = box.cache_seed / name
            if seed.is_dir() and not seed.is_symlink():
                _link_tree(seed, job / f"cache-{name}", box.uid, box.gid)
    for name in ("_work", "_diag"):  # mount points inside the read-only runner install
        (box.runner_dir / name).mkdir(mode=0o755, exist_ok=True)
    return job


def bwrap_argv(box: Sandbox, job: Path, command: Sequence[str]) -> list[str]:
    argv = [
        box.bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "edgetrain-job",
        "--ro-bind",
        str(box.rootfs / "usr"),
        "/usr",
        "--ro-bind",
        str(box.rootfs / "etc"),
        "/etc",
    ]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        if (box.rootfs / "usr" / name).is_dir():
            argv += ["--symlink", f"usr/{name}", f"/{name}"]
    if Path("/etc/resolv.conf").exists():  # the host's resolver, not the image's
        argv += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/run"]
    argv += ["--ro-bind", str(box.runner_dir), RUNNER_MOUNT]
    if box.broker_dir is not None and box.broker_dir.is_dir():
        # The directory, not the socket: a restarted broker's new socket is seen too. Read-only is enough to
        # connect; the job cannot replace the socket with its own.
        argv += ["--ro-bind", str(box.broker_dir), BROKER_DIR]
    for name, inside in [*SCRATCH.items(), *((f"cache-{c}", p) for c, p in CACHES.items())]:
        argv += ["--bind", str(job / name), inside]
    argv += ["--remount-ro", "/", "--chdir", HOME, "--", *command]
    return argv


def run(
    box: Sandbox,
    command: Sequence[str],
    secret_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    promote: bool = False,
) -> int:
    """Run ``command`` in a fresh sandbox and delete everything it left; the command's exit status."""
    check(box)
    job = prepare(box)
    # Passed in the environment, never in argv: bwrap's own argv is visible inside the sandbox.
    env = {**ENV, **(secret_env or {})}
    try:
        proc = subprocess.Popen(
            bwrap_argv(box, job, command),
            env=env,
            user=box.uid,
            group=box.gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # bwrap is PID 1 of the job's namespace: everything in it goes with it
            code = proc.wait()
            sys.stderr.write(f"job-sandbox: job exceeded {timeout:.0f}s and was killed\n")
        if promote and box.cache_seed is not None and code == 0:
            promote_caches(job, box.cache_seed)
    finally:
        discard(job)
    return code


def promote_caches(job: Path, seed: Path) -> None:
    """After a trusted job: its caches become the shared seed, root-owned and read-only (atomic swap)."""
    seed.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name in CACHES:
        source = job / f"cache-{name}"
        for top, dirs, files in os.walk(source, followlinks=False):
            for entry in [Path(top), *(Path(top) / d for d in dirs), *(Path(top) / f for f in files)]:
                os.lchown(entry, 0, 0)
                info = entry.lstat()
                if stat.S_ISDIR(info.st_mode):
                    entry.chmod(0o755)
                elif stat.S_ISREG(info.st_mode):
                    # root's 0644: no job can write it; a job's copy of it stays writable by that job
                    entry.chmod(0o644 | stat.S_IMODE(info.st_mode) & 0o111)
                elif not stat.S_ISLNK(info.st_mode):
                    entry.unlink()  # no fifos or sockets in a shared cache
        old = seed / f".{name}.old"
        discard(old)
        if (seed / name).exists():
            (seed / name).rename(old)
        source.rename(seed / name)
        discard(old)


def discard(path: Path) -> None:
    """Delete a job's tree without following any link it planted."""
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
