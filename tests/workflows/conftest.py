"""Workflow rehearsals share one trained ``main`` (see rehearsal/fixtures.py)."""

from rehearsal.fixtures import rehearsal_base

__all__ = ["rehearsal_base"]
