"""What a check returns and what it is given (the runner that puts the checks in order is :mod:`.run`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetrain.config.edge import EdgeConfig


@dataclass(frozen=True)
class Result:
    """One check's verdict. ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail}"
        return head if self.ok or not self.fix else f"{head} -- fix: {self.fix}"


@dataclass
class Context:
    """Where the checks look. ``edge`` is filled by the config check (None when the config is invalid)."""

    repo: Path
    config_path: Path
    params_path: Path
    edge: EdgeConfig | None = None
    #: The storage connection string once found (never printed; see :func:`redact`).
    connection_string: str | None = None
    #: Extra ``MLClient`` keywords and a credential (tests point the real SDK at a loopback stand-in).
    azureml_client_kwargs: dict[str, Any] = field(default_factory=dict)
    azureml_credential: Any = None
    #: On the edge runner: it holds no Azure credentials by design (the GitHub-hosted jobs log in).
    edge_runner: bool = False
    secrets: list[str] = field(default_factory=list)

    def redact(self, text: str) -> str:
        """``text`` with every known secret (account key, SAS, whole connection string) replaced."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


Check = Callable[[Context], Iterator[Result]]


def skipped(name: str, why: str) -> Result:
    """A check that could not run because an earlier one failed (counts as a failure)."""
    return Result(name, False, f"not checked: {why}", "fix the failure above first")
