"""From verified claims to a grant: which rule of the policy this job is, and what it may have.

:func:`decide` returns a :class:`Grant` or raises :class:`RefusedError` with one line naming the claim
(or the permission) that failed, for the log and for the job. The checks, in order: ``repository``,
``environment``, then each rule's ``job_workflow_ref`` / ``event_name`` / ``ref``; when no rule matches the
line names the closest rule's first failing claim. A job may ask for less than its rule grants (``want``),
never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgetrain.broker.policy import Policy, Rule
from edgetrain.broker.sas import normalise_permissions


class RefusedError(Exception):
    """One line naming the claim or permission refused."""

    def __init__(self, check: str, why: str) -> None:
        super().__init__(f"{check}: {why}")
        self.check = check


@dataclass(frozen=True)
class Grant:
    rule: str
    containers: dict[str, str]  # container -> permission letters


def _rule_mismatch(policy: Policy, rule: Rule, claims: dict[str, Any]) -> tuple[str, str] | None:
    expected_ref = f"{policy.repository}/{rule.workflow}@{claims['ref']}"
    if claims["job_workflow_ref"] != expected_ref:
        return (
            "job_workflow_ref",
            f"{claims['job_workflow_ref']!r} is not {rule.workflow} of {policy.repository}",
        )
    if claims["event_name"] not in rule.events:
        return "event_name", f"{claims['event_name']!r} is not one of {', '.join(rule.events)}"
    if not rule.ref_matches(claims["ref"]):
        return "ref", f"{claims['ref']!r} does not match {rule.ref}"
    return None


def match_rule(policy: Policy, claims: dict[str, Any]) -> Rule:
    """The rule these (verified) claims satisfy, or :class:`RefusedError`."""
    if claims["repository"] != policy.repository:
        raise RefusedError("repository", f"{claims['repository']!r} is not {policy.repository}")
    if claims["environment"] != policy.environment:
        raise RefusedError(
            "environment",
            f"{claims['environment']!r} is not {policy.environment!r} "
            "(the job must name it; its reviewers gate it)",
        )
    misses = []
    for rule in policy.rules:
        miss = _rule_mismatch(policy, rule, claims)
        if miss is None:
            return rule
        misses.append((rule, miss))
    # the rule for this workflow file, if any, says best what is wrong; else the first rule's first miss
    same_file = [(r, m) for r, m in misses if m[0] != "job_workflow_ref"]
    rule, (check, why) = (same_file or misses)[0]
    raise RefusedError(check, f"{why} (no rule matches; closest: {rule.name})")


def decide(policy: Policy, claims: dict[str, Any], want: dict[str, str] | None = None) -> Grant:
    """What the job gets: its rule's grants, narrowed to ``want`` (container -> letters) if given."""
    rule = match_rule(policy, claims)
    if want is None:
        return Grant(rule.name, dict(rule.grants))
    narrowed: dict[str, str] = {}
    for container, letters in want.items():
        try:
            asked = normalise_permissions(letters)
        except ValueError as err:
            raise RefusedError("want", str(err)) from None
        allowed = rule.grants.get(container, "")
        extra = "".join(p for p in asked if p not in allowed)
        if extra:
            raise RefusedError(
                "permission",
                f"{extra!r} on container {container!r} is not granted to {rule.name} jobs "
                f"(policy grants {allowed or 'nothing'!r})",
            )
        if asked:
            narrowed[container] = asked
    if not narrowed:
        raise RefusedError("want", "asked for no permission at all")
    return Grant(rule.name, narrowed)
