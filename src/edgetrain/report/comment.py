"""The sticky pull-request comment, rendered from checked numbers only (see :mod:`.handoff`).

Metrics diff and params diff against the base branch (as ``dvc metrics diff`` / ``dvc params diff``
show them), the model md5, and the plots as Mermaid ``xychart-beta`` charts that GitHub renders: ROC and
precision-recall resampled on a fixed grid, residuals per decile, feature importance as bars. No image
and no row-level value leaves the premises.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from edgetrain.contract import layout
from edgetrain.contract.escape import md, mermaid

MARKER = "<!-- edgetrain:pr-train -->"
GRID = tuple(round(i / 20, 2) for i in range(21))
MAX_BARS = 15


def _fmt(value: float | None) -> str:
    return "-" if value is None else format(value, ".4f").rstrip("0").rstrip(".") or "0"


def metrics_table(base: Mapping[str, float], head: Mapping[str, float]) -> list[str]:
    rows = ["| metric | base | this PR | change |", "|---|---:|---:|---:|"]
    for key in sorted(set(base) | set(head)):
        old, new = base.get(key), head.get(key)
        change = "-" if old is None or new is None else format(new - old, "+.4f")
        rows.append(f"| {md(key)} | {_fmt(old)} | {_fmt(new)} | {change} |")
    return rows


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def params_table(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    old, new = _flatten(base), _flatten(head)
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k, "-") != new.get(k, "-")]
    if not changed:
        return ["No params changed."]
    rows = ["| param | base | this PR |", "|---|---|---|"]
    rows += [f"| {md(k)} | {md(old.get(k, '-'))} | {md(new.get(k, '-'))} |" for k in changed]
    return rows


def resample(points: list[dict[str, Any]], x: str, y: str, grid: tuple[float, ...] = GRID) -> list[float]:
    """``y`` at each grid value of ``x`` (step curve: the best ``y`` reached at or before ``x``)."""
    pairs = sorted((p[x], p[y]) for p in points if x in p and y in p)
    xs = [a for a, _ in pairs]
    out = []
    for g in grid:
        i = bisect.bisect_right(xs, g + 1e-12)
        out.append(max((b for _, b in pairs[:i]), default=pairs[0][1] if pairs else 0.0))
    return out


def _chart(title: str, x_label: str, x_values: list[str], y_label: str, series: list[str]) -> list[str]:
    return [
        "",
        "```mermaid",
        "xychart-beta",
        f'  title "{title}"',
        f'  x-axis "{x_label}" [{", ".join(x_values)}]',
        f'  y-axis "{y_label}"',
        *series,
        "```",
    ]


def _line(values: list[float]) -> str:
    return "  line [" + ", ".join(format(v, ".3f") for v in values) + "]"


def charts(plots: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    out: list[str] = []
    grid = [format(g, ".2f") for g in GRID]
    if plots.get("roc"):
        out += _chart(
            "ROC (test split)",
            "false positive rate",
            grid,
            "true positive rate",
            [_line(resample(plots["roc"], "fpr", "tpr"))],
        )
    if plots.get("precision_recall"):
        pr = [
            max((p["precision"] for p in plots["precision_recall"] if p["recall"] >= g), default=0.0)
            for g in GRID
        ]
        out += _chart("Precision-recall (test split)", "recall", grid, "precision", [_line(pr)])
    if plots.get("residuals"):
        rows = sorted(plots["residuals"], key=lambda p: p.get("bin", 0))
        labels = [str(int(p.get("bin", i))) for i, p in enumerate(rows)]
        out += _chart(
            "Mean residual per prediction decile",
            "decile",
            labels,
            "residual",
            [_line([p.get("residual_mean", 0.0) for p in rows])],
        )
    if plots.get("importance"):
        bars = sorted(plots["importance"], key=lambda p: -p["gain"])[:MAX_BARS]
        names = [mermaid(p["feature"]) for p in bars]
        out += _chart(
            "Feature importance (mean gain)",
            "feature",
            names,
            "gain",
            ["  bar [" + ", ".join(format(p["gain"], ".3f") for p in bars) + "]"],
        )
    return out


def render(
    *,
    base_ref: str,
    base_metrics: Mapping[str, float],
    head_metrics: Mapping[str, float],
    base_params: Mapping[str, Any],
    head_params: Mapping[str, Any],
    model_md5: str,
    plots: Mapping[str, list[dict[str, Any]]],
    lock_changed: bool,
) -> str:
    """The whole comment (starts with :data:`MARKER`, which the updater looks for)."""
    lines = [
        MARKER,
        f"### Metrics (test split) vs `{base_ref}`",
        *metrics_table(base_metrics, head_metrics),
        "",
        f"### Params vs `{base_ref}`",
        *params_table(base_params, head_params),
        "",
        f"Model md5 (`{layout.MODEL}`): `{model_md5}`",
        "",
        "`dvc.lock` with its metrics and plots was committed to this branch."
        if lock_changed
        else "`dvc.lock` on this branch already records this result.",
        "",
        *charts(plots),
    ]
    return "\n".join(lines).rstrip() + "\n"
