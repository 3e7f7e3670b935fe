"""Pin the storage REST API version for every azure-storage-blob client in this environment.

Azure Stack Hub blob storage only speaks old REST versions (2019-07-07 on builds 2008+, 2019-02-02 on
2005) and answers a newer ``x-ms-version`` with ``400 InvalidHeaderValue``. azure-storage-blob sends
its newest version unless each client is given ``api_version``, and adlfs (used by dvc-azure) has no
way to pass it. So this project installs ``edgetrain_stackhub.pth`` into its virtual environment: at
interpreter start it registers a tiny import hook (nothing heavy is imported) that, when
``azure.storage.blob._serialize`` is first imported, trims its list of supported versions so the
SDK's default *is* the configured version. Plain ``dvc pull`` / ``dvc repro`` typed in the repository
therefore talk to Stack Hub in its dialect, as do this project's own clients.

The version comes from ``EDGETRAIN_STORAGE_API_VERSION`` or, failing that, ``storage.api_version`` in
the nearest ``config/edge.yaml`` at or above the working directory. ``EDGETRAIN_STORAGE_API_VERSION=off``
disables the pin. With neither, nothing changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
from pathlib import Path
from types import ModuleType

ENV_VAR = "EDGETRAIN_STORAGE_API_VERSION"
TARGET_MODULE = "azure.storage.blob._serialize"
CONFIG_RELPATH = Path("config") / "edge.yaml"
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONFIG_LINE_RE = re.compile(r"""^\s+api_version:\s*["']?(\d{4}-\d{2}-\d{2})["']?\s*(?:#.*)?$""")


def configured_version(start: Path | None = None) -> str | None:
    """The API version to pin, or None. Reads the env var, then the nearest ``config/edge.yaml``.

    The config file is scanned for the ``api_version`` line rather than parsed as YAML so that this
    runs in microseconds inside any interpreter of the environment; full validation is done by
    :func:`edgetrain.config.load_edge_config` in every project command.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return None if value.lower() == "off" else value
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_RELPATH
        if candidate.is_file():
            try:
                lines = candidate.read_text(encoding="utf-8").splitlines()
            except OSError:
                return None
            in_storage = False
            for line in lines:
                if line and not line[0].isspace() and not line.startswith("#"):
                    in_storage = line.split(":", 1)[0].strip() == "storage"
                    continue
                match = _CONFIG_LINE_RE.match(line)
                if in_storage and match:
                    return match.group(1)
            return None
    return None


def apply(serialize_module: ModuleType, version: str) -> None:
    """Make ``version`` the newest (hence default) API version azure-storage-blob knows."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"{ENV_VAR}: {version!r} is not an API version like 2019-07-07")
    supported: list[str] = serialize_module._SUPPORTED_API_VERSIONS
    kept = [v for v in supported if v <= version]
    if not kept or kept[-1] != version:
        kept.append(version)
    supported[:] = kept  # in place: get_api_version() reads this very list at call time


def pin_now(version: str) -> None:
    """Pin immediately (for an interpreter where the hook was not installed)."""
    import azure.storage.blob._serialize as serialize

    apply(serialize, version)


class _PinningLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, version: str) -> None:
        self._inner = inner
        self._version = version

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        apply(module, self._version)


class _PinningFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname != TARGET_MODULE:
            return None
        version = configured_version()
        if version is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PinningLoader(spec.loader, version)
                return spec
        return None


def install() -> None:
    """Register the import hook once (called from ``edgetrain_stackhub.pth``)."""
    if any(isinstance(f, _PinningFinder) for f in sys.meta_path):
        return
    if TARGET_MODULE in sys.modules:
        version = configured_version()
        if version:
            apply(sys.modules[TARGET_MODULE], version)
        return
    sys.meta_path.insert(0, _PinningFinder())
