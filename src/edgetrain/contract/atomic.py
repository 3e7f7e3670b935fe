"""Atomic writers: a failed run never leaves a half-written output behind.

Single files are written to a temporary file in the same directory and moved into place with
:func:`os.replace`. Multi-file outputs are written into a staging directory next to the target by
:func:`staged_outputs` and moved only once every file exists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dumps_json(data: Any, *, sort_keys: bool = True) -> bytes:
    """Deterministic JSON: two-space indent, optional sorted keys, trailing newline, UTF-8."""
    return (
        json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode()


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary sibling file and :func:`os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        Path(tmp).chmod(0o666 & ~_umask())  # mkstemp makes 0600; outputs get ordinary permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_json_atomic(path: Path | str, data: Any, *, sort_keys: bool = True) -> None:
    """Write ``data`` as deterministic JSON (see :func:`dumps_json`), atomically."""
    write_bytes_atomic(path, dumps_json(data, sort_keys=sort_keys))


@contextlib.contextmanager
def staged_outputs(target: Path | str, *, replace_dir: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory; on success move what was written there into ``target``.

    With ``replace_dir`` the whole ``target`` directory is swapped for the staged one (stale files
    from an earlier run disappear); otherwise each staged file replaces its namesake in ``target``
    and other files there are left alone. On any exception the staging directory is removed and
    ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    staging.chmod(0o777 & ~_umask())
    try:
        yield staging
        if replace_dir:
            _swap_dir(staging, target)
        else:
            target.mkdir(parents=True, exist_ok=True)
            for item in sorted(staging.iterdir()):
                item.replace(target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_dir(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.replace(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    target.replace(old / target.name)
    try:
        staging.replace(target)
    except BaseException:
        (old / target.name).replace(target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    log.debug("replaced %s", target)


def read_json(path: Path | str) -> Any:
    """Parse a JSON file (errors are the caller's to translate)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
