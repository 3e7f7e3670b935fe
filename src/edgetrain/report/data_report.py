"""The data report of a refresh, read back from the hand-off as data and rendered as Markdown.

The edge runner writes the report (``edgetrain refresh report``: aggregates only, see
:mod:`edgetrain.contract.data_report`). The job that opens the pull request holds write tokens, so it
takes from the file only what it renders, under known keys and types: counts, rates, PSI values, feature
names that ``params.yaml`` declares, drop names and category values as text (every one escaped with
:func:`edgetrain.contract.escape.md`). Anything else is one line naming the file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from edgetrain.contract.data_report import FILE, MARKER, MISSING, MISSING_TARGET, PSI_MAJOR, PSI_MODERATE
from edgetrain.contract.escape import md
from edgetrain.errors import ConfigError

#: Bounds on what a report may hold (drops, histogram bins, bin edges).
MAX_DROPS, MAX_BINS, MAX_EDGES = 2000, 1000, 100
MAX_NAME = 200
_NUMERIC_KEYS = ("mean", "std", "missing_rate")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: not a count")
    return value


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: not a finite number")
    return float(value)


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise ConfigError(f"{where}: not a name of 1-{MAX_NAME} characters")
    return value


def _mapping(value: Any, where: str, limit: int) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping) or len(value) > limit:
        raise ConfigError(f"{where}: must be a mapping of at most {limit} entries")
    return value


def _before_after(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, Mapping) or set(value) != {"before", "after"}:
        raise ConfigError(f"{where}: must be {{before, after}}")
    return {k: _count(value[k], f"{where}.{k}") for k in ("before", "after")}


def _stats(value: Any, where: str) -> dict[str, Any]:
    """One histogram (numeric or categorical) with its moments; only the keys the renderer uses."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: not a mapping")
    counts = _mapping(value.get("counts"), f"{where}.counts", MAX_BINS)
    out: dict[str, Any] = {
        "kind": "numeric" if value.get("kind") == "numeric" else "categorical",
        "counts": {_name(k, f"{where}.counts"): _count(v, f"{where}.counts") for k, v in counts.items()},
    }
    for key in _NUMERIC_KEYS:
        if key in value:
            out[key] = _number(value[key], f"{where}.{key}")
    if "edges" in value:
        edges = value["edges"]
        if not isinstance(edges, list) or len(edges) > MAX_EDGES:
            raise ConfigError(f"{where}.edges: must be a list of at most {MAX_EDGES} numbers")
        out["edges"] = [_number(e, f"{where}.edges") for e in edges]
    return out


def read_data_report(data: Any, features: Sequence[str], where: str = FILE) -> dict[str, Any]:
    """The report's renderable content, checked (see the module docstring); ConfigError with one line."""
    known = {"rows", MISSING_TARGET, "drops_added", "drops_removed", "features", "labels"}
    if not isinstance(data, Mapping) or not set(data) <= known:
        raise ConfigError(f"{where}: keys must be among {sorted(known)}")
    for key in ("rows", "drops_added", "drops_removed", "features", "labels"):
        if key not in data:
            raise ConfigError(f"{where}: {key}: missing")
    added = _mapping(data["drops_added"], f"{where}: drops_added", MAX_DROPS)
    removed = data["drops_removed"]
    if not isinstance(removed, list) or len(removed) > MAX_DROPS:
        raise ConfigError(f"{where}: drops_removed: must be a list of at most {MAX_DROPS} names")
    report: dict[str, Any] = {
        "rows": _before_after(data["rows"], f"{where}: rows"),
        "drops_added": {
            _name(k, f"{where}: drops_added"): _count(v, f"{where}: drops_added") for k, v in added.items()
        },
        "drops_removed": [_name(n, f"{where}: drops_removed") for n in removed],
    }
    if MISSING_TARGET in data:
        report[MISSING_TARGET] = _before_after(data[MISSING_TARGET], f"{where}: {MISSING_TARGET}")
    report["features"] = {}
    for name, entry in _mapping(data["features"], f"{where}: features", len(features)).items():
        at = f"{where}: features.{str(name)[:40]}"
        if name not in features:
            raise ConfigError(f"{at}: not one of params.yaml data.features")
        if not isinstance(entry, Mapping) or set(entry) != {"before", "after", "psi"}:
            raise ConfigError(f"{at}: must be {{before, after, psi}}")
        before = None if entry["before"] is None else _stats(entry["before"], f"{at}.before")
        report["features"][name] = {
            "before": before,
            "after": _stats(entry["after"], f"{at}.after"),
            "psi": _number(entry["psi"], f"{at}.psi"),
        }
    labels = data["labels"]
    if not isinstance(labels, Mapping) or set(labels) != {"before", "after", "psi"}:
        raise ConfigError(f"{where}: labels: must be {{before, after, psi}}")
    report["labels"] = {
        "before": _stats(labels["before"], f"{where}: labels.before"),
        "after": _stats(labels["after"], f"{where}: labels.after"),
        "psi": _number(labels["psi"], f"{where}: labels.psi"),
    }
    return report


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.6g}"


def _shift(value: float | None) -> str:
    if value is None:
        return "–"
    word = "major" if value > PSI_MAJOR else "moderate" if value > PSI_MODERATE else "stable"
    return f"{value:.4f} ({word})"


def _top(stats: Mapping[str, Any] | None) -> str:
    counts = {k: v for k, v in (stats or {}).get("counts", {}).items() if k != MISSING}
    total = sum((stats or {}).get("counts", {}).values())
    if not counts or not total:
        return "–"
    key = max(counts, key=lambda k: counts[k])
    return f"{md(key)} {counts[key] / total:.0%}"


def render(report: Mapping[str, Any]) -> str:
    """The report as GitHub Markdown (starts with :data:`MARKER`); every name and category escaped."""
    rows = report["rows"]
    out = [MARKER, "### Data refresh", ""]
    out += [f"Rows: {rows['before']} -> {rows['after']} ({rows['after'] - rows['before']:+d})", ""]
    blank = report.get(MISSING_TARGET, {})
    if blank.get("before") or blank.get("after"):
        out += [
            f"Rows with a blank target, left out by prepare (data.missing_target: drop): "
            f"{blank['before']} -> {blank['after']}",
            "",
        ]
    out += ["| drop | rows |", "|---|---:|"]
    out += [f"| {md(name)} | {count} |" for name, count in sorted(report["drops_added"].items())]
    if report["drops_removed"]:
        out += ["", f"Gone from the raw container: {', '.join(md(n) for n in report['drops_removed'])}"]
    out += [
        "",
        "#### Features (before -> after)",
        "",
        "| feature | mean | spread (std) | missing | PSI |",
        "|---|---|---|---|---|",
    ]
    for name, f in report["features"].items():
        b, a = f["before"] or {}, f["after"]
        if a["kind"] == "categorical":
            mean, spread = f"top {_top(b)} -> {_top(a)}", "–"
        else:
            mean = f"{_fmt(b.get('mean'))} -> {_fmt(a.get('mean'))}"
            spread = f"{_fmt(b.get('std'))} -> {_fmt(a.get('std'))}"
        missing = f"{_fmt(b.get('missing_rate'), pct=True)} -> {_fmt(a.get('missing_rate'), pct=True)}"
        out.append(f"| {md(name)} | {mean} | {spread} | {missing} | {_shift(f['psi'])} |")
    out += [
        "",
        f"PSI: below {PSI_MODERATE} stable, {PSI_MODERATE}-{PSI_MAJOR} moderate, above {PSI_MAJOR} major.",
    ]
    labels = report["labels"]
    out += ["", "#### Label balance", "", "| label | before | after |", "|---|---:|---:|"]
    before_counts, after_counts = labels["before"]["counts"], labels["after"]["counts"]
    total_b, total_a = sum(before_counts.values()) or 1, sum(after_counts.values()) or 1
    for key in sorted(set(before_counts) | set(after_counts)):
        b, a = before_counts.get(key, 0), after_counts.get(key, 0)
        out.append(f"| {md(key)} | {b / total_b:.1%} ({b}) | {a / total_a:.1%} ({a}) |")
    out += ["", f"Label PSI: {_shift(labels['psi'])}", ""]
    return "\n".join(out)
