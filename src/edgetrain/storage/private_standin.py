"""A private Stack Hub stand-in on free loopback ports, for one test session or benchmark.

Azurite as a child process and the strict API-version proxy in a thread of this process, so its request log
can be inspected. The background instance for the demo and plain ``dvc`` is :mod:`edgetrain.storage.standin`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgetrain.storage import azurite
from edgetrain.storage.azurite import LOOPBACK
from edgetrain.storage.standin import STOP_TIMEOUT_S, Endpoints

if TYPE_CHECKING:  # aiohttp loads only when a stand-in starts in this process
    from edgetrain.storage.strict_proxy import ProxyThread


class Standin:
    """A private stand-in on free loopback ports: ``with Standin(tmp_path) as s: s.connection_string``."""

    def __init__(
        self,
        location: Path,
        *,
        max_version: str = "2019-07-07",
        azurite_version: str = "3.37.0",
        tools_dir: Path | None = None,
    ) -> None:
        self.location = location
        self.max_version = max_version
        self.azurite_version = azurite_version
        self.tools_dir = tools_dir or azurite.TOOLS_DIR
        self._azurite: subprocess.Popen[bytes] | None = None
        self._proxy: ProxyThread | None = None
        self.endpoints: Endpoints | None = None

    def __enter__(self) -> Standin:
        from edgetrain.storage.strict_proxy import ProxyThread  # noqa: PLC0415 - aiohttp loads only for an in-process stand-in

        az_port = azurite.free_port()
        self._azurite = azurite.start(
            self.azurite_version,
            az_port,
            self.location,
            log_file=self.location.parent / "azurite.log",
            tools_dir=self.tools_dir,
        )
        self._proxy = ProxyThread(f"http://{LOOPBACK}:{az_port}", self.max_version).__enter__()
        self.endpoints = Endpoints(self._proxy.port, az_port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proxy is not None:
            self._proxy.__exit__(*exc)
        if self._azurite is not None:
            self._azurite.terminate()
            try:
                self._azurite.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._azurite.kill()
                self._azurite.wait()

    @property
    def requests(self) -> list[Any]:
        """Every request the strict proxy saw (method, host, path, version, status)."""
        return self._proxy.state.records if self._proxy else []

    @property
    def blob_endpoint(self) -> str:
        assert self.endpoints is not None
        return self.endpoints.blob_endpoint

    @property
    def azurite_endpoint(self) -> str:
        assert self.endpoints is not None
        return self.endpoints.azurite_endpoint

    @property
    def connection_string(self) -> str:
        assert self.endpoints is not None
        return self.endpoints.connection_string()
