"""The content hashes the contract records: md5 as DVC computes it, and sha256.

DVC's md5 of a file is the md5 of its bytes; of a directory it is ``<md5>.dir``, the md5 of the JSON
list of its files' md5s and relative paths sorted by path (what ``dvc.lock`` records for a directory out).
md5 here is an identity check against what DVC and Azure Blob (Content-MD5) record, never security.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK = 1 << 20


def md5_digest(source: bytes | Path) -> tuple[bytes, int]:
    """The raw md5 digest (Azure's Content-MD5) and size of ``source`` (bytes, or a file read in chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(source, bytes):
        digest.update(source)
        return digest.digest(), len(source)
    size = 0
    with source.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.digest(), size


def bytes_md5(data: bytes) -> str:
    """Hex md5 of ``data`` (DVC's hash of a file with these bytes)."""
    return md5_digest(data)[0].hex()


def file_md5(path: Path) -> str:
    """Hex md5 of the file at ``path``, read in chunks: what ``dvc.lock`` records for a file out."""
    return md5_digest(path)[0].hex()


def path_md5(path: Path) -> str:
    """The md5 ``dvc.lock`` records for ``path``: :func:`file_md5`, or for a directory ``<md5>.dir``."""
    if not path.is_dir():
        return file_md5(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = [{"md5": file_md5(p), "relpath": p.relative_to(path).as_posix()} for p in files]
    return f"{bytes_md5(json.dumps(listing, sort_keys=True).encode())}.dir"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
