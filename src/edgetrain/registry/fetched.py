"""Production's model files, fetched where the registry credentials are, scored where the data is.

The release's hosted job (Azure access, no rows) runs ``edgetrain models fetch-production --out DIR``:
production's model file and ``metadata.json`` plus ``production.json``, a record of its name, version and
md5s (or a record saying there is no production version). The edge job (rows, no Azure access) runs
``edgetrain models score-production --from DIR``, which refuses the folder unless the files are the ones
the record names; the hand-off it writes carries the version and model md5, which ``register --baseline``
checks against the registry's production at registration time. Models cross between the jobs, rows never.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgetrain.contract import layout
from edgetrain.contract.atomic import read_json, write_json_atomic
from edgetrain.contract.hashing import file_md5
from edgetrain.errors import ConfigError, IntegrityError
from edgetrain.registry.base import MODEL_MD5_TAG, PRODUCTION, STAGE_TAG, ModelVersion, Registry
from edgetrain.registry.baseline import model_file
from edgetrain.registry.errors import RegistryError

RECORD = "production.json"
RECORD_FORMAT = "edgetrain-production/1"
METADATA = layout.METADATA_NAME


def _md5_tag(version: ModelVersion) -> str:
    found = version.tags.get(MODEL_MD5_TAG)  # the tag register --baseline checks the hand-off against
    if not found:
        raise IntegrityError(f"{version.name} v{version.version}: no {MODEL_MD5_TAG} tag to check it by")
    return found


def fetch_production(registry: Registry, out: Path) -> dict[str, Any]:
    """Write production's model file, ``metadata.json`` and the record into the empty or new folder ``out``.

    The model file must have the md5 the version was registered with. Nothing is left in ``out`` on failure.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder")
    production = registry.production()
    record: dict[str, Any] = {"format": RECORD_FORMAT, "model_name": registry.model_name, "version": None}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=out.parent) as tmp:
        staged = Path(tmp) / "production"
        staged.mkdir()
        if production is not None:
            expected = _md5_tag(production)
            folder = registry.fetch(production, Path(tmp) / "download")
            model = model_file(folder, _metadata(folder / METADATA))
            found = file_md5(model)
            if found != expected:
                raise IntegrityError(
                    f"{registry.model_name} version {production.version}: downloaded {model.name} has md5 "
                    f"{found} but the version was registered with {expected}"
                )
            shutil.copyfile(model, staged / model.name)
            shutil.copyfile(folder / METADATA, staged / METADATA)
            record.update(
                version=production.version,
                model_file=model.name,
                model_md5=found,
                metadata_md5=file_md5(staged / METADATA),
            )
        write_json_atomic(staged / RECORD, record)
        if out.exists():
            out.rmdir()
        staged.rename(out)
    return record


def _metadata(path: Path) -> Mapping[str, Any]:
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: not readable model metadata ({exc})") from None
    if not isinstance(data, Mapping):
        raise IntegrityError(f"{path}: not a JSON object")
    return data


def read_production(folder: Path) -> ModelVersion | None:
    """The production version ``folder`` holds (``None``: the record says there is none).

    Refused unless the record is well formed and every file has the md5 the record gives it.
    """
    record = _metadata(folder / RECORD)
    where = folder / RECORD
    if record.get("format") != RECORD_FORMAT:
        raise IntegrityError(f"{where}: format is not {RECORD_FORMAT}")
    name, version = record.get("model_name"), record.get("version")
    if not isinstance(name, str) or not name:
        raise IntegrityError(f"{where}: model_name must be a non-empty string")
    if version is None:
        return None
    if not isinstance(version, str) or not version:
        raise IntegrityError(f"{where}: version must be a non-empty string or null")
    for key in ("model_file", "model_md5", "metadata_md5"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise IntegrityError(f"{where}: {key} must be a non-empty string")
    metadata_path = folder / METADATA
    if not metadata_path.is_file():
        raise IntegrityError(f"{metadata_path}: missing (fetch production again)")
    if file_md5(metadata_path) != record["metadata_md5"]:
        raise IntegrityError(f"{metadata_path}: md5 differs from metadata_md5 in {where}")
    try:
        model = model_file(folder, _metadata(metadata_path))
    except RegistryError as exc:
        raise IntegrityError(f"{exc} (the record {where} names it)") from None
    if model.name != record["model_file"]:
        raise IntegrityError(f"{metadata_path}: model_file {model.name!r} is not {record['model_file']!r}")
    if file_md5(model) != record["model_md5"]:
        raise IntegrityError(f"{model}: md5 differs from model_md5 in {where}")
    return ModelVersion(
        name=name, version=version, tags={MODEL_MD5_TAG: record["model_md5"], STAGE_TAG: PRODUCTION}
    )
