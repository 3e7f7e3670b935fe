"""Quality gate: a candidate may not be worse than production by more than the tolerance."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edgetrain.registry.base import ModelVersion
from edgetrain.registry.errors import QualityGateError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    message: str
    production_version: str | None = None
    production_value: float | None = None


def production_metric(version: ModelVersion, metric: str) -> float | None:
    raw = version.tags.get(f"metric_{metric}", version.properties.get(f"metric_{metric}"))
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def compare(
    *,
    metric: str,
    candidate: float,
    production: ModelVersion | None,
    current: float | None,
    higher_is_better: bool,
    tolerance: float,
    note: str = "",
) -> GateResult:
    """Pure comparison; ``passed`` is False when the candidate is worse by more than ``tolerance``.

    ``current`` is production's ``metric`` on the *candidate's* test split (see
    :mod:`edgetrain.registry.baseline`), never the figure production recorded on its own, older split;
    ``None`` means production could not be scored there (``note`` says why): the gate fails closed, since a
    missing or forged figure must not open it; a manual run may still override it with a recorded reason.
    """
    if production is None:
        return GateResult(True, "no production version yet; gate passes")
    if current is None:
        why = note or f"production version {production.version} could not be scored on this test split"
        return GateResult(False, f"{why}; not comparable, the gate fails closed", production.version)
    worse_by = (current - candidate) if higher_is_better else (candidate - current)
    direction = "higher" if higher_is_better else "lower"
    recorded = production_metric(production, metric)
    on_own = f"; it recorded {recorded:.6g} on its own split" if recorded is not None else ""
    figures = (
        f"candidate {metric}={candidate:.6g} vs production v{production.version} "
        f"{metric}={current:.6g}, both on the candidate's test split{on_own} "
        f"({direction} is better, tolerance {tolerance:g})"
    )
    return GateResult(worse_by <= tolerance + 1e-12, figures, production.version, current)


def enforce(result: GateResult, *, force: bool, reason: str | None) -> None:
    """Raise :class:`QualityGateError` for a failed gate unless forced with a reason."""
    if result.passed:
        log.info("quality gate passed: %s", result.message)
        return
    if force and reason:
        log.warning("quality gate failed but forced (%s): %s", reason, result.message)
        return
    raise QualityGateError(f'quality gate: {result.message}; use --force --reason "..." to register anyway')
