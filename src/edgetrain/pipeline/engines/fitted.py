"""What every training engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fitted:
    """A booster cut at its best iteration, and how it was trained (engine, workers) for lineage."""

    booster: Any
    best_iteration: int
    run_info: dict[str, Any] = field(default_factory=dict)
