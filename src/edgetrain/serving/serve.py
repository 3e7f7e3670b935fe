"""``edgetrain serve``: run the build context's Dockerfile CMD locally, without Docker.

The command line is read from the Dockerfile itself (its exec-form ``CMD``), the ``ENV`` defaults are
applied where the environment does not set them, and the working directory is the context, exactly as
in the image (whose WORKDIR holds the same files). Only ``python`` becomes the current interpreter.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from edgetrain.errors import EdgetrainError


@dataclass(frozen=True)
class ServeCommand:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    result = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def command_from_context(context: Path, overrides: dict[str, str] | None = None) -> ServeCommand:
    """The CMD and environment the image would run, for this context."""
    dockerfile = context / "Dockerfile"
    if not dockerfile.is_file():
        raise EdgetrainError(f"{dockerfile}: not found (run `edgetrain package` first)")
    cmd: list[str] | None = None
    defaults: dict[str, str] = {}
    for keyword, rest in _instructions(dockerfile):
        if keyword == "CMD":
            try:
                cmd = json.loads(rest)
            except ValueError:
                raise EdgetrainError(f"{dockerfile}: CMD must be in exec form (a JSON array)") from None
        elif keyword == "ENV":
            for item in shlex.split(rest):
                key, sep, value = item.partition("=")
                if sep:
                    defaults[key] = value
    if not cmd or not all(isinstance(part, str) for part in cmd):
        raise EdgetrainError(f"{dockerfile}: no exec-form CMD found")
    argv = [sys.executable if cmd[0] in {"python", "python3"} else cmd[0], *cmd[1:]]
    env = {**defaults, **os.environ, **(overrides or {})}
    env.pop("PYTHONPATH", None)
    return ServeCommand(argv=argv, env=env, cwd=context.resolve())


def exec_command(command: ServeCommand) -> None:
    """Replace this process with the server (signals such as SIGTERM then reach uvicorn directly)."""
    os.chdir(command.cwd)
    os.execve(command.argv[0], command.argv, command.env)  # noqa: S606 - argv comes from our own Dockerfile
