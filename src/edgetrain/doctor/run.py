"""The runner: every check of :mod:`.local` and :mod:`.remote` in order, each detail redacted."""

from __future__ import annotations

from edgetrain.doctor import local, remote
from edgetrain.doctor.result import Check, Context, Result


def run_all(ctx: Context, checks: list[Check] | None = None) -> list[Result]:
    """Run every check in order; later checks may rely on what earlier ones stored in ``ctx``."""
    results: list[Result] = []
    for check in checks or [*local.FIRST, *remote.CHECKS, *local.LAST]:
        for result in check(ctx):
            results.append(Result(result.name, result.ok, ctx.redact(result.detail), ctx.redact(result.fix)))
    return results
