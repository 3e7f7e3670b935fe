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
    higher_is_better: bool,
    tolerance: float,
) -> GateResult:
    """Pure comparison; ``passed`` is False when the candidate is worse by more than ``tolerance``."""
    if production is None:
        return GateResult(True, "no production version yet; gate passes")
    current = production_metric(production, metric)
    if current is None:
        return GateResult(
            True,
            f"production version {production.version} records no {metric}; gate passes",
            production.version,
        )
    worse_by = (current - candidate) if higher_is_better else (candidate - current)
    direction = "higher" if higher_is_better else "lower"
    figures = (
        f"candidate {metric}={candidate:.6g} vs production v{production.version} "
        f"{metric}={current:.6g} ({direction} is better, tolerance {tolerance:g})"
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
