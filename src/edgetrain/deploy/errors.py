"""Deploy failures: one line each, exit 14 (a refused or failed rollout leaves traffic where it was)."""

from __future__ import annotations

from edgetrain.errors import EdgetrainError


class DeployError(EdgetrainError):
    """A deploy, status or rollback that cannot go on; traffic has not moved."""

    exit_code = 14
