"""Pin the storage REST API version for every azure-storage-blob client in this project's environment.

Azure Stack Hub blob storage only speaks old REST versions (2019-07-07 on builds 2008+, 2019-02-02 on
2005) and answers a newer ``x-ms-version`` with ``400 InvalidHeaderValue``. azure-storage-blob sends
its newest version unless each client is given ``api_version``, and adlfs (used by dvc-azure) has no
way to pass it. So this project installs ``edgetrain_stackhub.pth`` into its virtual environment: at
interpreter start it registers a tiny import hook (nothing heavy is imported) that, when
``azure.storage.blob._serialize`` is first imported, trims its list of supported versions so the
SDK's default *is* the pinned version. Every process of the environment is pinned the same way,
whatever its working directory and whenever it imports the SDK: ``dvc pull`` in the repository,
``dvc get``/``dvc import``/``dvc ls-url`` or ``dvc.api.read(repo=...)`` from another folder, a script.

Which version (one source of truth, shared with the project's own clients via :func:`effective`):

1. ``EDGETRAIN_STORAGE_API_VERSION`` if set: a version like ``2019-02-02`` overrides the config (one
   line on stderr says so when it differs), ``off`` disables the hook. Anything else stops the
   process with one line naming the variable (exit 2).
2. else ``storage.api_version`` of *the project this environment was installed from*: the repository
   that holds this very file (``<root>/src/edgetrain/storage/api_pin.py``, an editable install), read
   with the project's validated loader, so a missing key means the schema default. A
   ``config/edge.yaml`` in the working directory or its parents never counts.
3. else (a non-editable install has no project) nothing changes.

Reading the config (pydantic + YAML) happens only when the SDK is imported, never at start-up.
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
OFF = "off"
TARGET_MODULE = "azure.storage.blob._serialize"
CONFIG_RELPATH = Path("config") / "edge.yaml"
CONFIG_EXIT_CODE = 2
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PinError(ValueError):
    """The pin cannot be decided: an invalid override or an invalid project config (one line)."""


def project_root(module_file: str | Path = __file__) -> Path | None:
    """The repository this package is installed from (editable install), else ``None``."""
    here = Path(module_file).resolve()
    package = here.parents[1]  # .../src/edgetrain
    root = package.parents[1]
    if package.name == "edgetrain" and package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def override() -> str | None:
    """The env override: ``None`` when unset, ``"off"``, or a valid version; else :class:`PinError`."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    if value.lower() == OFF:
        return OFF
    if not _VERSION_RE.match(value):
        raise PinError(
            f"{ENV_VAR}={value!r} is not a storage API version like 2019-07-07 (Stack Hub speaks "
            f"2019-07-07 on build 2008+, 2019-02-02 on 2005); unset it to use storage.api_version "
            f"from {CONFIG_RELPATH}, or set it to '{OFF}'"
        )
    return value


def config_version(root: Path | None) -> str | None:
    """``storage.api_version`` of ``<root>/config/edge.yaml`` as the project loads it (default applied)."""
    if root is None or not (root / CONFIG_RELPATH).is_file():
        return None
    from edgetrain.config.edge import load_edge_config  # noqa: PLC0415 - start-up hook: pydantic loads only in a project
    from edgetrain.errors import ConfigError  # noqa: PLC0415 - start-up hook: loads only when a config is read

    try:
        return load_edge_config(root / CONFIG_RELPATH).storage.api_version
    except ConfigError as err:
        raise PinError(f"{err} (needed to pin the storage API version)") from None


def configured_version(root: Path | None = None) -> str | None:
    """The version the hook pins (``None``: leave the SDK alone). ``root`` defaults to this project."""
    forced = override()
    if forced == OFF:
        return None
    project = root if root is not None else project_root()
    if forced is not None:
        try:
            from_config = config_version(project)
        except PinError:
            from_config = None
        if from_config is not None and from_config != forced:
            sys.stderr.write(
                f"edgetrain: {ENV_VAR}={forced} overrides storage.api_version {from_config} "
                f"in {project / CONFIG_RELPATH if project else CONFIG_RELPATH}\n"
            )
        return forced
    return config_version(project)


def effective(config_api_version: str) -> str:
    """The version the project's own clients send for a config that says ``config_api_version``."""
    forced = override()
    return config_api_version if forced in (None, OFF) else forced


def apply(serialize_module: ModuleType, version: str) -> None:
    """Make ``version`` the default (last) API version azure-storage-blob knows.

    The other versions stay selectable, so a client given an explicit ``api_version`` (this project's
    own, built from a config that may differ) is not refused with "Unsupported API version".
    """
    if not _VERSION_RE.match(version):
        raise PinError(f"{version!r} is not a storage API version like 2019-07-07")
    supported: list[str] = serialize_module._SUPPORTED_API_VERSIONS
    # in place: get_api_version() reads this very list at call time
    supported[:] = [*(v for v in supported if v != version), version]


def _decide() -> str | None:
    """:func:`configured_version`, or stop the process with one clear line (exit 2)."""
    try:
        return configured_version()
    except PinError as err:
        sys.stderr.write(f"edgetrain: error: {err}\n")
        raise SystemExit(CONFIG_EXIT_CODE) from None


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
        version = _decide()
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
        version = _decide()
        if version:
            apply(sys.modules[TARGET_MODULE], version)
        return
    sys.meta_path.insert(0, _PinningFinder())
