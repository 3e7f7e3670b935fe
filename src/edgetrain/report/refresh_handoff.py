"""The data-refresh hand-off: pr-train's files (:mod:`.handoff`) plus ``data.dvc`` and the data report.

    handoff/
      ...                  exactly as pr-train's hand-off (dvc.lock, metrics, plots, model.md5, run.json)
      data.dvc             the new data version: md5s, sizes, the committed source; rewritten from the parsed
                           values, and bound to dvc.lock (the md5 of ``data`` the prepare stage read)
      data-report.json     aggregates of the drops before and after (:mod:`.data_report`), rendered, never
                           committed

The edge job that writes it runs the default branch's code, but the job that commits and comments holds
write tokens: it treats this folder as data all the same, so both workflows share one format and one check.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from edgetrain.contract import data_report as report_format
from edgetrain.contract import layout
from edgetrain.contract.yamlfile import parse_yaml
from edgetrain.errors import ConfigError
from edgetrain.report.data_report import read_data_report
from edgetrain.report.handoff import Handoff, load_handoff

DATA_DVC_FILE = str(layout.DATA_DVC)
REFRESH_FILES = frozenset({DATA_DVC_FILE, report_format.FILE})
_TOP_KEYS = ("md5", "frozen", "deps", "outs")
_ENTRY_KEYS = ("md5", "etag", "checksum", "size", "nfiles", "hash", "path")
_HEX = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
_TOKEN = re.compile(r'^[A-Za-z0-9"._:/-]{1,100}$')


def _entries(value: Any, where: str, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], Mapping):
        raise ConfigError(f"{where}: must be one entry")
    entry = value[0]
    if entry.get("path") != path:
        raise ConfigError(f"{where}: path {str(entry.get('path'))[:60]!r} is not {path!r}")
    out: dict[str, Any] = {}
    for key, item in entry.items():
        ok = (
            key == "path"
            or (key == "hash" and item == "md5")
            or (key == "md5" and isinstance(item, str) and _HEX.match(item))
            or (key in {"etag", "checksum"} and isinstance(item, str) and _TOKEN.match(item))
            or (key in {"size", "nfiles"} and isinstance(item, int) and not isinstance(item, bool))
        )
        if key not in _ENTRY_KEYS or not ok:
            raise ConfigError(f"{where}: {str(key)[:40]}: unexpected key or value")
        out[key] = item
    return [out]


def check_data_dvc(doc: Any, committed: Mapping[str, Any], where: str = DATA_DVC_FILE) -> dict[str, Any]:
    """``data.dvc`` as ``dvc update`` writes it, importing from the committed file's source into ``data``."""
    if not isinstance(doc, Mapping) or not set(doc) <= set(_TOP_KEYS) or "outs" not in doc:
        raise ConfigError(f"{where}: keys must be among {list(_TOP_KEYS)}, with outs")
    source = (committed.get("deps") or [{}])[0].get("path")
    out: dict[str, Any] = {}
    for key in doc:  # DVC's own key order, so the rewritten file reads as DVC wrote it
        value = doc[key]
        if key == "md5" and not (isinstance(value, str) and _HEX.match(value)):
            raise ConfigError(f"{where}: md5: not an md5")
        if key == "frozen" and not isinstance(value, bool):
            raise ConfigError(f"{where}: frozen: not true or false")
        if key == "deps":
            value = _entries(value, f"{where}: deps", str(source))
        if key == "outs":
            value = _entries(value, f"{where}: outs", str(layout.DATA))
        out[key] = value
    return out


def _data_md5(lock: Mapping[str, Any]) -> set[Any]:
    return {
        d.get("md5")
        for stage in lock["stages"].values()
        for d in stage.get("deps") or []
        if d.get("path") == str(layout.DATA)
    }


def load_refresh_handoff(
    folder: Path, dvc_yaml: Mapping[str, Any], params: Mapping[str, Any], committed_data_dvc: bytes
) -> tuple[Handoff, dict[str, Any]]:
    """The checked hand-off (``files`` also holds the rewritten data.dvc) and the checked data report."""
    got = load_handoff(folder, dvc_yaml, params, also=REFRESH_FILES)
    for name in sorted(REFRESH_FILES):
        path = folder / name
        if path.is_symlink() or not path.is_file():
            raise ConfigError(f"{folder}: {name}: missing from the hand-off")
    committed = parse_yaml(committed_data_dvc, f"{DATA_DVC_FILE} (default branch)")
    data_dvc = check_data_dvc(
        parse_yaml((folder / DATA_DVC_FILE).read_bytes(), f"{folder}/{DATA_DVC_FILE}"), committed
    )
    version = data_dvc["outs"][0].get("md5")
    if _data_md5(got.lock) != {version}:
        raise ConfigError(f"{folder}/{DATA_DVC_FILE}: data {version} is not the data dvc.lock's stages read")
    features = list((params.get("data") or {}).get("features") or [])
    try:
        raw_report = json.loads((folder / report_format.FILE).read_bytes())
    except ValueError:
        raise ConfigError(f"{folder}/{report_format.FILE}: not valid JSON") from None
    report = read_data_report(raw_report, features, f"{folder}/{report_format.FILE}")
    text = yaml.safe_dump(data_dvc, sort_keys=False, width=2**31)
    return dataclasses.replace(got, files={**got.files, DATA_DVC_FILE: text.encode("utf-8")}), report
