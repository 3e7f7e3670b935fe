"""The hand-off from the edge runner to the privileged job: read back through a fixed schema only.

The edge job runs pull-request code next to the raw data, so nothing it wrote is trusted as text. The
privileged job accepts exactly these files and, from them, only numbers under known keys, feature names
that ``params.yaml`` declares, and md5 hex strings. Anything else is one line naming the file and key.

    handoff/
      dvc.lock                      checked against dvc.yaml and params.yaml before it is committed
      artifacts/metrics.json        {metric: number}
      artifacts/plots/<name>.json   {"<name>": [{<known key>: number | declared feature}, ...]}
      model.md5                     md5 of artifacts/model/model.ubj as the edge runner computed it
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetrain.contract import layout
from edgetrain.contract.yamlfile import parse_yaml
from edgetrain.errors import ConfigError

METRICS_FILE = str(layout.METRICS)
LOCK_FILE = str(layout.DVC_LOCK)
MD5_FILE = "model.md5"
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
_HANDOFF_FILES = {LOCK_FILE, METRICS_FILE, MD5_FILE} | {layout.PLOTS.child(f"{n}.json") for n in PLOT_KEYS}


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
    return float(value)


def read_metrics(data: Any, where: str = METRICS_FILE) -> dict[str, float]:
    if not isinstance(data, Mapping) or len(data) > MAX_METRICS:
        raise ConfigError(f"{where}: must be a mapping of at most {MAX_METRICS} metrics")
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _METRIC_KEY.match(key):
            raise ConfigError(f"{where}: {str(key)[:40]!r}: not a metric name")
        if value is None:  # evaluate writes null when a metric cannot be computed (e.g. one class)
            continue
        out[key] = _number(value, f"{where}: {key}")
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
                if key != "feature" and not isinstance(value, int | str | bool):
                    raise ConfigError(f"{where}: point {i}: {key}: not a class label")
                clean[key] = value if key == "feature" else str(value)[:20]
            else:
                clean[key] = _number(value, f"{where}: point {i}: {key}")
        out.append(clean)
    return out


def check_lock(lock: Any, dvc_yaml: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``dvc.lock`` may only hold the stages, commands and paths of ``dvc.yaml``, md5s, sizes and params."""
    if not isinstance(lock, Mapping) or not isinstance(lock.get("stages"), Mapping):
        raise ConfigError(f"{LOCK_FILE}: no stages")
    stages = dvc_yaml.get("stages") or {}
    for name, stage in lock["stages"].items():
        where = f"{LOCK_FILE}: stages.{str(name)[:40]}"
        if name not in stages:
            raise ConfigError(f"{where}: not a stage of dvc.yaml")
        if stage.get("cmd") != stages[name].get("cmd"):
            raise ConfigError(f"{where}.cmd: differs from dvc.yaml")
        declared = {_path(d) for d in [*(stages[name].get("deps") or []), *(stages[name].get("outs") or [])]}
        declared |= {
            _path(m) for m in [*(stages[name].get("metrics") or []), *(stages[name].get("plots") or [])]
        }
        for kind in ("deps", "outs"):
            for entry in stage.get(kind) or []:
                if entry.get("path") not in declared:
                    raise ConfigError(f"{where}.{kind}: {str(entry.get('path'))[:60]!r} is not in dvc.yaml")
                for key, value in entry.items():
                    ok = (
                        key == "path"
                        or (key == "hash" and value == "md5")
                        or (key == "md5" and isinstance(value, str) and _MD5.match(value))
                        or (key in {"size", "nfiles"} and isinstance(value, int))
                    )
                    if not ok:
                        raise ConfigError(f"{where}.{kind}: {entry.get('path')}: {key}: unexpected value")
        for values in (stage.get("params") or {}).values():
            for key, value in (values or {}).items():
                if _lookup(params, str(key)) != value:
                    raise ConfigError(f"{where}.params: {key}: differs from params.yaml")
    return dict(lock)


def _path(entry: Any) -> str:
    return next(iter(entry)) if isinstance(entry, Mapping) else str(entry)


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return object()
        node = node[part]
    return node


def load_handoff(folder: Path, dvc_yaml: Mapping[str, Any], params: Mapping[str, Any]) -> Handoff:
    """Read and check a hand-off folder (see the module docstring for the layout)."""
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    extra = sorted(present - _HANDOFF_FILES)
    if extra:
        raise ConfigError(f"{folder}: unexpected file in the hand-off: {extra[0][:80]}")
    for needed in (LOCK_FILE, METRICS_FILE, MD5_FILE):
        if needed not in present:
            raise ConfigError(f"{folder}: {needed}: missing from the hand-off")
    files = {p: (folder / p).read_bytes() for p in present}
    features = list((params.get("data") or {}).get("features") or [])
    try:
        metrics = read_metrics(json.loads(files[METRICS_FILE]))
        plots = {
            name: read_plot(name, json.loads(files[layout.PLOTS.child(f"{name}.json")]), features, name)
            for name in PLOT_KEYS
            if layout.PLOTS.child(f"{name}.json") in files
        }
        lock_text = files[LOCK_FILE].decode("utf-8")
        lock = check_lock(parse_yaml(lock_text, f"{folder}/{LOCK_FILE}"), dvc_yaml, params)
    except ValueError as err:
        raise ConfigError(f"{folder}: not valid JSON/YAML: {type(err).__name__}") from None
    md5 = files[MD5_FILE].decode("ascii", errors="replace").strip()
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise ConfigError(f"{folder}/{MD5_FILE}: not an md5")
    recorded = [
        o.get("md5")
        for s in lock["stages"].values()
        for o in s.get("outs") or []
        if o.get("path") == MODEL_PATH
    ]
    if recorded != [md5]:
        raise ConfigError(f"{folder}/{MD5_FILE}: {md5} is not the model md5 dvc.lock records ({recorded})")
    return Handoff(metrics, plots, md5, lock, lock_text, files)
