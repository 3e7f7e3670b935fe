"""Workflow rehearsals share one trained ``main`` and one trained pull request (see rehearsal/fixtures.py)."""

from tests.rehearsal.fixtures import rehearsal_base, trained_pr

__all__ = ["rehearsal_base", "trained_pr"]
