"""The storage credential broker as the edge VM runs it, for the rehearsal: on the host, with the account key.

:class:`RehearsalBroker` starts the real broker (``edgetrain.broker.server``) in a thread on a Unix socket
under a short private ``/tmp`` folder, with the storage stand-in's account key in a 0600 file (as
``/etc/edgetrain/storage-account.key`` on the VM) and the repository's own ``broker-policy.yaml`` with
``repository:`` set to the rehearsal's. Jobs get only the socket path (``EDGETRAIN_BROKER_SOCKET``, what
the runner's sandbox sets when it bind-mounts the socket), never the key. The broker verifies tokens
against the GitHub API stand-in's JWKS.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from edgetrain.broker.client import SOCKET_ENV
from edgetrain.broker.oidc import JwksCache, Verifier
from edgetrain.broker.policy import DEFAULT_POLICY, load_policy
from edgetrain.broker.server import Broker, BrokerThread, Storage
from edgetrain.storage.azurite import DEV_ACCOUNT, DEV_KEY


class RehearsalBroker:
    """``with RehearsalBroker(source, "owner/name", jwks_url, blob_endpoint) as b: b.env``."""

    def __init__(self, source: Path, repository: str, jwks_url: str, blob_endpoint: str) -> None:
        self.source, self.repository, self.jwks_url, self.blob_endpoint = (
            source,
            repository,
            jwks_url,
            blob_endpoint,
        )

    def __enter__(self) -> RehearsalBroker:
        self.folder = Path(tempfile.mkdtemp(prefix="etb-", dir="/tmp"))  # a socket path has ~100 bytes
        text = (self.source / DEFAULT_POLICY).read_text(encoding="utf-8")
        text, count = re.subn(r"(?m)^repository: \S+", f"repository: {self.repository}", text)
        if count != 1:
            raise RuntimeError(f"{DEFAULT_POLICY}: repository: not found once")
        policy_path = self.folder / "broker-policy.yaml"
        policy_path.write_text(text, encoding="utf-8")
        self.policy = load_policy(policy_path)
        verifier = Verifier(self.policy.issuer, self.policy.audience, JwksCache(self.jwks_url))
        self._broker = Broker(self.policy, verifier, Storage(DEV_ACCOUNT, DEV_KEY, self.blob_endpoint))
        self.socket = self.folder / "broker.sock"
        self._thread = BrokerThread(self.socket, self._broker).__enter__()
        return self

    def grant(self, rule: str, container: str, letters: str | None) -> None:
        """Edit one rule's grant as an operator would edit the VM's policy file (None removes it); the
        running broker decides with the edited file from the next request on."""
        path = self.folder / "broker-policy.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        (found,) = [r for r in doc["rules"] if r["name"] == rule]
        if letters is None:
            found["grants"].pop(container, None)
        else:
            found["grants"][container] = letters
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        self.policy = self._broker.policy = load_policy(path)

    def __exit__(self, *exc: Any) -> None:
        self._thread.__exit__(*exc)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def env(self) -> dict[str, str]:
        """What the runner gives every job: where the broker's socket is."""
        return {SOCKET_ENV: str(self.socket)}
