"""The data version a DVC import file records: the one parser of ``data.dvc`` for every area."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgetrain.errors import DataError


def data_version(doc: Any, where: str = "data.dvc") -> tuple[str, str | None]:
    """``(md5, source)`` from a parsed DVC import file: ``outs[0].md5`` and ``deps[0].path``.

    An import from another git repository (``deps[0].repo.url``) gives ``<url>:<path>`` as the source.
    Anything that is not a DVC file with ``outs[0].md5`` is a DataError naming ``where``.
    """
    try:
        md5 = str(doc["outs"][0]["md5"])
    except (KeyError, IndexError, TypeError):
        raise DataError(f"{where}: not a DVC file with outs[0].md5") from None
    deps = doc.get("deps") or [{}]
    dep = deps[0] if isinstance(deps, list) and isinstance(deps[0], Mapping) else {}
    source = dep.get("path")
    repo = dep.get("repo")
    if source is not None and isinstance(repo, Mapping) and repo.get("url"):
        source = f"{repo['url']}:{source}"
    return md5, None if source is None else str(source)
