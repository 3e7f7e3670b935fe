"""The one benchmark harness every bench uses: interleaved rounds, medians and spread, load, provenance.

- ``interleave(variants, rounds)``: round 1 runs A B C, round 2 C B A, ... so a drift in the machine's
  load (the 2 vCPUs here are shared) lands on every variant alike; each variant gets ``rounds`` results.
- ``spread(values)``: "median (min-max)" text; ``median`` for ratios.
- ``Provenance``: date, machine, versions, the 1-minute load average before and after, and the command
  that reproduces the figures; ``header()`` renders it under a section's title.
- ``write_section(path, title, text)``: replace one ``## title`` section of bench/results.md, keeping
  every other section (those other benches, or other people's scripts, write) as it is.
- ``peer_env(name)``: a peer's own virtual environment under ``bench/.work/peers/<name>`` created from
  the pinned, hashed ``bench/peers/<name>.txt`` (``uv pip compile --generate-hashes bench/peers/<name>.in``);
  never the project's .venv.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
# The smoke tests point these elsewhere so a smoke run never touches the real results or a running bench.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or BENCH / "results.md")
WORK = Path(os.environ.get("BENCH_WORK") or BENCH / ".work")
PEERS = BENCH / "peers"
PEER_WORK = BENCH / ".work" / "peers"  # a cache shared by every run (created from the hashed files)
PEER_PYTHON = "3.11"

T = TypeVar("T")


def interleave(variants: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Run every variant once per round, forward in even rounds and backward in odd ones (A B C, C B A)."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    names = list(variants)
    out: dict[str, list[T]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            out[name].append(variants[name]())
    return out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float], fmt: str = ".2f") -> str:
    """``median (min-max)``, or the one value."""
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def loadavg() -> float:
    return os.getloadavg()[0]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    mem = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0))
    return f"{nproc} CPUs ({cpu_model()}), {mem:.1f} GiB RAM, {platform.system()} {platform.release()}"


def versions(names: Sequence[str]) -> str:
    found = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (absent)")
    return ", ".join(found)


@dataclass
class Provenance:
    """What a table needs next to it so a reader can judge and reproduce it."""

    command: str
    packages: Sequence[str] = ("xgboost", "pandas", "pyarrow")
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    load_before: float = field(default_factory=loadavg)
    load_after: float | None = None

    def finish(self) -> Provenance:
        self.load_after = loadavg()
        return self

    def header(self, extra: Sequence[str] = ()) -> list[str]:
        after = self.load_after if self.load_after is not None else loadavg()
        lines = [
            f"- Date: {self.started:%Y-%m-%d %H:%M} UTC",
            f"- Machine: {machine()}; 1-minute load average {self.load_before:.1f} before, {after:.1f} after "
            "(the 2 vCPUs are shared with other work: variants are interleaved so load drifts hit all alike)",
            f"- Versions: {versions(self.packages)}",
            f"- Reproduce: `{self.command}`",
        ]
        return lines + [f"- {line}" for line in extra]


def command_line(script: str, argv: Sequence[str]) -> str:
    return shlex.join(["python", script, *argv])


def write_section(text: str, title: str, path: Path = RESULTS) -> None:
    """Replace the ``title`` section (``## ...`` up to the next ``## ``) of ``path``, or append it."""
    current = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    body = text.rstrip() + "\n\n"
    if pattern.search(current):
        updated = pattern.sub(lambda _: body, current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(updated.rstrip() + "\n", encoding="utf-8")
    tmp.replace(path)


def uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    bootstrapped = sorted((REPO / ".edgetrain" / "tools").glob("uv-*/bin/uv"))
    if bootstrapped:
        return str(bootstrapped[-1])
    raise FileNotFoundError("uv is not installed (make install bootstraps it)")


class PeerUnavailableError(RuntimeError):
    """A peer that cannot be installed or started: one line, and its rows are recorded as missing."""


def peer_env(name: str, *, install: bool = True, requirements: Path | None = None) -> Path:
    """The Python of the peer's own environment, created from its hashed requirement file when missing
    (``bench/peers/<name>.txt`` unless ``requirements`` names another, such as the serving lock)."""
    requirements = requirements or PEERS / f"{name}.txt"
    venv = PEER_WORK / name
    python = venv / "bin" / "python"
    marker = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and marker.is_file() and marker.read_text() == digest:
        return python
    if not install:
        raise PeerUnavailableError(f"{name}: not installed (run the bench with --install, or make bench)")
    try:
        tool = uv()
        subprocess.run(
            [tool, "venv", "--quiet", "--clear", "--python", PEER_PYTHON, str(venv)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [
                tool,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                "--require-hashes",
                "-r",
                str(requirements),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        last = [line for line in str(detail).splitlines() if line.strip()][-1:] or ["?"]
        raise PeerUnavailableError(f"{name}: could not install {requirements.name}: {last[0]}") from exc
    marker.write_text(digest)
    return python


def site_packages_bytes(python: Path) -> int:
    """Bytes of an environment's site-packages (what installing it adds)."""
    lib = python.parent.parent / "lib"
    total = 0
    for site in lib.glob("python*/site-packages"):
        total += sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    return total


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
