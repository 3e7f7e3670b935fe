"""The hand-off from the edge runner to the privileged job: read back through a fixed schema only.

The edge job runs pull-request code next to the raw data, so nothing it wrote is trusted as text. The
privileged job accepts exactly these files and, from them, only numbers under known keys, feature names
that ``params.yaml`` declares, and md5 hex strings. Anything else is one line naming the file and key.

    handoff/
      dvc.lock                      checked against dvc.yaml and params.yaml before it is committed
      artifacts/metrics.json        {metric: number}
      artifacts/plots/<name>.json   {"<name>": [{<known key>: number | declared feature}, ...]}
      model.md5                     md5 of artifacts/model/model.ubj as the edge runner computed it
      artifacts/model/run.json      engine, workers, sha256 of model.ubj and metadata.json (optional)

The hand-off is data: regular files only (no links), each at most :data:`MAX_FILE_BYTES`, known names only.
What the privileged job commits is written from the parsed, checked values (:attr:`Handoff.files`), never
the received bytes: ``dvc.lock`` is rebuilt from its known keys (comments and unknown keys do not survive),
JSON files must already be in the form the pipeline writes (``write_json_atomic``) and the metrics file's
md5 must be the one ``dvc.lock`` records for it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgetrain.contract import layout
from edgetrain.contract.atomic import dumps_json
from edgetrain.contract.hashing import bytes_md5
from edgetrain.contract.yamlfile import parse_yaml
from edgetrain.errors import ConfigError

MAX_FILE_BYTES = 1024 * 1024

METRICS_FILE = str(layout.METRICS)
LOCK_FILE = str(layout.DVC_LOCK)
MD5_FILE = "model.md5"
#: engine, workers and the sha256 of model.ubj/metadata.json: the release compares the sha256 it reproduces.
RUN_FILE = str(layout.RUN_INFO)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MODEL_PATH = str(layout.MODEL)
#: Plot files and the numeric keys each point may carry (``feature`` is checked against params).
PLOT_KEYS: dict[str, frozenset[str]] = {
    "roc": frozenset({"fpr", "tpr", "threshold"}),
    "precision_recall": frozenset({"precision", "recall", "threshold"}),
    "importance": frozenset({"feature", "gain"}),
    "residuals": frozenset(
        {
            "bin",
            "count",
            "prediction_mean",
            "residual_mean",
            "residual_p10",
            "residual_p50",
            "residual_p90",
        }
    ),
    "confusion": frozenset({"actual", "predicted", "count"}),
}
MAX_POINTS = 1000
MAX_METRICS = 30
_METRIC_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
_ENTRY_KEYS = ("path", "hash", "md5", "size", "nfiles")
_STAGE_KEYS = ("cmd", "deps", "params", "outs")
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,20}$")
_HANDOFF_FILES = {LOCK_FILE, METRICS_FILE, MD5_FILE, RUN_FILE}
_HANDOFF_FILES |= {layout.PLOTS.child(f"{n}.json") for n in PLOT_KEYS}


@dataclass(frozen=True)
class Handoff:
    metrics: dict[str, float]
    plots: dict[str, list[dict[str, Any]]]
    model_md5: str
    lock: dict[str, Any]
    lock_text: str
    files: dict[str, bytes] = field(default_factory=dict)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: not a finite number")
    return value  # int or float as received, so a re-serialised file is byte-identical


def read_metrics(data: Any, where: str = METRICS_FILE) -> dict[str, float]:
    return {k: v for k, v in _clean_metrics(data, where).items() if v is not None}


def _clean_metrics(data: Any, where: str) -> dict[str, float | None]:
    if not isinstance(data, Mapping) or len(data) > MAX_METRICS:
        raise ConfigError(f"{where}: must be a mapping of at most {MAX_METRICS} metrics")
    out: dict[str, float | None] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _METRIC_KEY.match(key):
            raise ConfigError(f"{where}: {str(key)[:40]!r}: not a metric name")
        # evaluate writes null when a metric cannot be computed (e.g. one class)
        out[key] = None if value is None else _number(value, f"{where}: {key}")
    return out


def read_plot(name: str, data: Any, features: Sequence[str], where: str) -> list[dict[str, Any]]:
    allowed = PLOT_KEYS[name]
    if not isinstance(data, Mapping) or set(data) != {name} or not isinstance(data[name], list):
        raise ConfigError(f"{where}: must be {{{name!r}: [points]}}")
    points = data[name]
    if len(points) > MAX_POINTS:
        raise ConfigError(f"{where}: more than {MAX_POINTS} points")
    out = []
    for i, point in enumerate(points):
        if not isinstance(point, Mapping) or not set(point) <= allowed:
            raise ConfigError(f"{where}: point {i}: keys must be among {sorted(allowed)}")
        clean: dict[str, Any] = {}
        for key, value in point.items():
            if key == "feature" or (name == "confusion" and key in {"actual", "predicted"}):
                if key == "feature" and value not in features:
                    raise ConfigError(f"{where}: point {i}: feature is not one of params.yaml data.features")
                if key != "feature" and not (
                    isinstance(value, int) or (isinstance(value, str) and _LABEL.match(value))
                ):
                    raise ConfigError(f"{where}: point {i}: {key}: not a class label")
                clean[key] = value
            else:
                clean[key] = _number(value, f"{where}: point {i}: {key}")
        out.append(clean)
    return out


def check_lock(lock: Any, dvc_yaml: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``dvc.lock`` may only hold the stages, commands and paths of ``dvc.yaml``, md5s, sizes and params."""
    if not isinstance(lock, Mapping) or not isinstance(lock.get("stages"), Mapping):
        raise ConfigError(f"{LOCK_FILE}: no stages")
    if set(lock) != {"schema", "stages"} or lock["schema"] != "2.0":
        raise ConfigError(f"{LOCK_FILE}: top-level keys must be schema ('2.0') and stages")
    stages = dvc_yaml.get("stages") or {}
    for name, stage in lock["stages"].items():
        where = f"{LOCK_FILE}: stages.{str(name)[:40]}"
        if name not in stages:
            raise ConfigError(f"{where}: not a stage of dvc.yaml")
        if not isinstance(stage, Mapping) or not set(stage) <= set(_STAGE_KEYS):
            raise ConfigError(f"{where}: keys must be among {list(_STAGE_KEYS)}")
        if stage.get("cmd") != stages[name].get("cmd"):
            raise ConfigError(f"{where}.cmd: differs from dvc.yaml")
        spec = stages[name]
        declared = {_path(d) for key in ("deps", "outs", "metrics", "plots") for d in spec.get(key) or []}
        for kind in ("deps", "outs"):
            for entry in stage.get(kind) or []:
                _check_entry(entry, declared, f"{where}.{kind}")
        _check_params(stage.get("params") or {}, params, where)
    return dict(lock)


def _check_entry(entry: Any, declared: set[str], where: str) -> None:
    if not isinstance(entry, Mapping) or entry.get("path") not in declared:
        path = entry.get("path") if isinstance(entry, Mapping) else entry
        raise ConfigError(f"{where}: {str(path)[:60]!r} is not in dvc.yaml")
    for key, value in entry.items():
        ok = (
            key == "path"
            or (key == "hash" and value == "md5")
            or (key == "md5" and isinstance(value, str) and _MD5.match(value))
            or (key in {"size", "nfiles"} and isinstance(value, int) and not isinstance(value, bool))
        )
        if not ok:
            raise ConfigError(f"{where}: {entry.get('path')}: {str(key)[:40]}: unexpected value")


def _check_params(recorded: Any, params: Mapping[str, Any], where: str) -> None:
    if not isinstance(recorded, Mapping):
        raise ConfigError(f"{where}.params: not a mapping")
    for file, values in recorded.items():
        if file != "params.yaml" or not isinstance(values, Mapping):
            raise ConfigError(f"{where}.params: {str(file)[:40]!r}: only params.yaml is read")
        for key, value in values.items():
            if _lookup(params, str(key)) != value:
                raise ConfigError(f"{where}.params: {str(key)[:40]}: differs from params.yaml")


def canonical_lock(lock: Mapping[str, Any]) -> str:
    """``dvc.lock`` written from the checked values only, in DVC's own layout (comments do not survive)."""
    stages: dict[str, Any] = {}
    for name, stage in lock["stages"].items():
        out: dict[str, Any] = {}
        for key in _STAGE_KEYS:
            if key not in stage:
                continue
            if key in {"deps", "outs"}:
                out[key] = [{k: e[k] for k in _ENTRY_KEYS if k in e} for e in stage[key]]
            elif key == "params":
                out[key] = {f: dict(v) for f, v in stage[key].items()}
            else:
                out[key] = stage[key]
        stages[str(name)] = out
    return yaml.safe_dump({"schema": "2.0", "stages": stages}, sort_keys=False, width=2**31)


def read_run_info(data: Any, where: str = RUN_FILE) -> dict[str, Any]:
    """run.json as the train stage writes it: engine, external_memory, workers, sha256 of the two files."""
    if not isinstance(data, dict) or set(data) != {"engine", "external_memory", "workers", "sha256"}:
        raise ConfigError(f"{where}: not engine/external_memory/workers/sha256")
    engine, ext, workers, digests = data["engine"], data["external_memory"], data["workers"], data["sha256"]
    if not isinstance(engine, str) or not _LABEL.match(engine):
        raise ConfigError(f"{where}: engine: not a short name")
    if not isinstance(ext, bool) or not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ConfigError(f"{where}: external_memory or workers: wrong type")
    names = {layout.MODEL_NAME, layout.METADATA_NAME}
    if not isinstance(digests, dict) or set(digests) != names:
        raise ConfigError(f"{where}: sha256: not exactly {sorted(names)}")
    if not all(isinstance(v, str) and _SHA256.match(v) for v in digests.values()):
        raise ConfigError(f"{where}: sha256: not a sha256 hex digest")
    return {"engine": engine, "external_memory": ext, "workers": workers, "sha256": dict(digests)}


def canonical_json(data: Any) -> bytes:
    """The bytes :func:`edgetrain.contract.atomic.write_json_atomic` writes for ``data``."""
    return dumps_json(data)


def _path(entry: Any) -> str:
    return next(iter(entry)) if isinstance(entry, Mapping) else str(entry)


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return object()
        node = node[part]
    return node


def load_handoff(
    folder: Path, dvc_yaml: Mapping[str, Any], params: Mapping[str, Any], also: frozenset[str] = frozenset()
) -> Handoff:
    """Read and check a hand-off folder (see the module docstring for the layout and rules). ``also``: more
    file names the caller accepts and checks itself (the data-refresh hand-off's, :mod:`.refresh_handoff`)."""
    present = _regular_files(folder)
    extra = sorted(present - _HANDOFF_FILES - also)
    if extra:
        raise ConfigError(f"{folder}: unexpected file in the hand-off: {extra[0][:80]}")
    for needed in (LOCK_FILE, METRICS_FILE, MD5_FILE):
        if needed not in present:
            raise ConfigError(f"{folder}: {needed}: missing from the hand-off")
    received = {p: (folder / p).read_bytes() for p in present - also}
    features = list((params.get("data") or {}).get("features") or [])
    try:
        metrics_raw = _clean_metrics(json.loads(received[METRICS_FILE]), METRICS_FILE)
        plots = {
            name: read_plot(name, json.loads(received[layout.PLOTS.child(f"{name}.json")]), features, name)
            for name in PLOT_KEYS
            if layout.PLOTS.child(f"{name}.json") in received
        }
        lock = check_lock(parse_yaml(received[LOCK_FILE], f"{folder}/{LOCK_FILE}"), dvc_yaml, params)
        run_info = read_run_info(json.loads(received[RUN_FILE])) if RUN_FILE in received else None
    except ValueError as err:
        raise ConfigError(f"{folder}: not valid JSON/YAML: {type(err).__name__}") from None
    files = {LOCK_FILE: canonical_lock(lock).encode("utf-8"), METRICS_FILE: canonical_json(metrics_raw)}
    files |= {layout.PLOTS.child(f"{n}.json"): canonical_json({n: points}) for n, points in plots.items()}
    if run_info is not None:
        files[RUN_FILE] = canonical_json(run_info)
        if _recorded(lock, RUN_FILE) != [bytes_md5(files[RUN_FILE])]:
            raise ConfigError(f"{folder}/{RUN_FILE}: md5 is not the one dvc.lock records for it")
    for path, data in files.items():
        if path != LOCK_FILE and data != received[path]:
            raise ConfigError(f"{folder}/{path}: not in the form the pipeline writes (re-serialised differs)")
    recorded_metrics = _recorded(lock, METRICS_FILE)
    if recorded_metrics != [bytes_md5(files[METRICS_FILE])]:
        raise ConfigError(f"{folder}/{METRICS_FILE}: md5 is not the one dvc.lock records for it")
    md5 = received[MD5_FILE].decode("ascii", errors="replace").strip()
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise ConfigError(f"{folder}/{MD5_FILE}: not an md5")
    recorded = _recorded(lock, MODEL_PATH)
    if recorded != [md5]:
        raise ConfigError(f"{folder}/{MD5_FILE}: {md5} is not the model md5 dvc.lock records ({recorded})")
    metrics = {k: v for k, v in metrics_raw.items() if v is not None}
    return Handoff(metrics, plots, md5, lock, files[LOCK_FILE].decode("utf-8"), files)


def _regular_files(folder: Path) -> set[str]:
    """Relative paths of the folder's files; a link, device or oversized file stops here."""
    present: set[str] = set()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            raise ConfigError(f"{folder}/{rel[:80]}: not a regular file (links are refused)")
        if p.is_file():
            if p.stat().st_size > MAX_FILE_BYTES:
                raise ConfigError(f"{folder}/{rel[:80]}: larger than {MAX_FILE_BYTES} bytes")
            present.add(rel)
    return present


def _recorded(lock: Mapping[str, Any], path: str) -> list[Any]:
    return [
        o.get("md5") for s in lock["stages"].values() for o in s.get("outs") or [] if o.get("path") == path
    ]
