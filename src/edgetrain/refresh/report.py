"""The data report of a refresh: aggregates of the drops before and after, never a row.

Written here as JSON (:func:`compare`), on the edge runner; read back and rendered by
:mod:`edgetrain.report.data_report` in the job that opens the pull request.

:func:`summarize` reduces the drops in a folder to counts and moments (rows per drop, per feature
mean / standard deviation / missing rate and a histogram, label counts). The "before" summary fixes
the histogram bins (deciles of each numeric feature, categories of each categorical one) so the
"after" summary can be binned the same way and compared with the population stability index
(PSI = sum over bins of (after - before) * ln(after / before), shares floored at ``PSI_FLOOR``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgetrain.config.params import Params
from edgetrain.contract.data_report import MISSING, MISSING_TARGET
from edgetrain.data.drops import load_drop

SUMMARY_FORMAT = "edgetrain-data-summary/1"
QUANTILES = np.linspace(0.1, 0.9, 9)
PSI_FLOOR = 1e-4
DECIMALS = 4


def _round(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), DECIMALS)


def _numeric(values: pd.Series, edges: list[float] | None) -> dict[str, Any]:
    present = values.dropna().to_numpy(dtype=np.float64)
    if edges is None:
        edges = sorted({float(q) for q in np.quantile(present, QUANTILES)}) if len(present) else []
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return {
        "kind": "numeric",
        "mean": _round(present.mean()) if len(present) else None,
        "std": _round(present.std(ddof=1)) if len(present) > 1 else None,
        "missing_rate": _round(values.isna().mean()) if len(values) else None,
        "edges": [float(e) for e in edges],
        "counts": {**{str(i): int(c) for i, c in enumerate(counts)}, MISSING: int(values.isna().sum())},
    }


def _categorical(values: pd.Series) -> dict[str, Any]:
    counts = values.astype(object).where(values.notna(), MISSING).value_counts()
    return {
        "kind": "categorical",
        "missing_rate": _round(values.isna().mean()) if len(values) else None,
        "counts": {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))},
    }


def summarize(
    data_dir: Path | str, params: Params, bins_from: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Aggregates of every ``*.csv`` drop in ``data_dir`` (an empty summary when there is none)."""
    data_dir = Path(data_dir)
    paths = sorted(data_dir.glob("*.csv")) if data_dir.is_dir() else []
    drops = [load_drop(p, params.data, params.task) for p in paths]
    frames = {d.path.name: d.frame for d in drops}  # rows with a blank target are counted, not summarized
    cols = [*params.data.features, params.data.target]
    frame = pd.concat(frames.values(), ignore_index=True) if frames else pd.DataFrame(columns=cols)
    before = (bins_from or {}).get("features", {})
    features = {}
    for name in params.data.features:
        if name in params.data.categorical:
            features[name] = _categorical(frame[name])
        else:
            values = pd.to_numeric(frame[name], errors="coerce")
            features[name] = _numeric(values, before.get(name, {}).get("edges") if bins_from else None)
    target = frame[params.data.target]
    if params.task == "regression":
        labels = _numeric(pd.to_numeric(target, errors="coerce"), None)
    else:
        labels = _categorical(target.astype(str) if len(target) else target)
    return {
        "format": SUMMARY_FORMAT,
        "rows": len(frame),
        MISSING_TARGET: sum(len(d.missing_target) for d in drops),
        "drops": {name: len(f) for name, f in frames.items()},
        "features": features,
        "labels": labels,
    }


def psi(before: dict[str, int], after: dict[str, int]) -> float | None:
    """Population stability index of two histograms over the same bins (None without rows)."""
    keys = sorted(set(before) | set(after))
    total_b, total_a = sum(before.values()), sum(after.values())
    if not total_b or not total_a:
        return None
    value = 0.0
    for key in keys:
        b = max(before.get(key, 0) / total_b, PSI_FLOOR)
        a = max(after.get(key, 0) / total_a, PSI_FLOOR)
        value += (a - b) * math.log(a / b)
    return round(value, DECIMALS)


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Before/after per feature with PSI, rows added per drop, label balance: the report's content."""
    changed = set(before.get("new_drops", []))
    added = {
        name: rows
        for name, rows in after["drops"].items()
        if name in changed or before["drops"].get(name) != rows
    }
    features = {
        name: {
            "before": before["features"].get(name),
            "after": stats,
            "psi": psi(before["features"].get(name, {}).get("counts", {}), stats["counts"]),
        }
        for name, stats in after["features"].items()
    }
    return {
        "rows": {"before": before["rows"], "after": after["rows"]},
        MISSING_TARGET: {"before": before.get(MISSING_TARGET, 0), "after": after.get(MISSING_TARGET, 0)},
        "drops_added": added,
        "drops_removed": sorted(set(before["drops"]) - set(after["drops"])),
        "features": features,
        "labels": {
            "before": before["labels"],
            "after": after["labels"],
            "psi": psi(before["labels"]["counts"], after["labels"]["counts"]),
        },
    }
