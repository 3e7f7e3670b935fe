"""Which workflow job is calling a loopback stand-in: the per-job identity GitHub gives every job's token.

act runs every job of a workflow with one ``GITHUB_TOKEN`` and no OIDC, so a stand-in cannot tell jobs apart
by what they send. On GitHub each job's token carries that job's ``permissions:`` and each job's OIDC token
its own claims (``environment``, ``job_workflow_ref`` ...). The rehearsal gets the same per-job identity from
the kernel instead: a stand-in on 127.0.0.1 looks up the process on the other end of the request's TCP
connection (``/proc/net/tcp*`` -> socket inode -> ``/proc/<pid>/fd``) and reads the ``GITHUB_*`` variables act
gave that step's process (``GITHUB_JOB``, ``GITHUB_WORKFLOW``, ...). Linux only, same user, loopback only:
exactly the rehearsal's situation. A caller that cannot be identified gets ``None``, and a stand-in that
enforces per-job rules must refuse it (fail closed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_ESTABLISHED = "01"


@dataclass(frozen=True)
class CallerJob:
    """The workflow job a request came from, as act started its step process."""

    pid: int
    job: str
    workflow: str
    environ: dict[str, str]


def _socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """Inodes of established TCP sockets (v4 and v6) from ``local_port`` to ``remote_port``."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _ESTABLISHED:
                continue
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == local_port
                and int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                found.add(inode)
    return found


def _pids_holding(inodes: set[str]) -> list[int]:
    targets = {f"socket:[{inode}]" for inode in inodes}
    pids: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if str(fd.readlink()) in targets:
                    pids.append(int(entry.name))
                    break
        except OSError:  # the process ended, or is not ours
            continue
    return pids


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def calling_job(client_port: int, server_port: int) -> CallerJob | None:
    """The job whose process holds the client end (``client_port`` -> ``server_port``) of a connection."""
    inodes = _socket_inodes(client_port, server_port)
    if not inodes:
        return None
    for pid in sorted(_pids_holding(inodes)):
        env = _environ(pid)
        if env.get("GITHUB_JOB"):
            return CallerJob(pid, env["GITHUB_JOB"], env.get("GITHUB_WORKFLOW", ""), env)
    return None
