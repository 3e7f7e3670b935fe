"""A real OCI registry on loopback standing in for ACR (rehearsal and tests only).

Debian's ``docker-registry`` (the CNCF distribution registry) on ``127.0.0.1:<free port>``, plain HTTP,
storage in a temporary folder; buildah and skopeo talk to it with ``--tls-verify=false``, which
``edgetrain image`` allows for loopback registries only.

    python tests/rehearsal/registry.py DIR     # serve until interrupted; prints the registry address
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from edgetrain.errors import EdgetrainError
from edgetrain.storage.azurite import free_port

BINARY = "docker-registry"
READY_TIMEOUT_S = 30.0
POLL_S = 0.1
STOP_TIMEOUT_S = 10.0


def config_text(storage: Path, port: int, htpasswd: Path | None = None) -> str:
    """The registry's configuration (JSON is valid YAML): loopback only, filesystem storage, and either no
    auth or, with ``htpasswd``, a login for every request (as ACR requires)."""
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "edgetrain-rehearsal", "path": str(htpasswd)}}
    return json.dumps(config, indent=2) + "\n"


def htpasswd_line(user: str, password: str) -> str:
    """``user:<bcrypt>``, the only hash the registry's htpasswd accepts (glibc's crypt: ``$2b$``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # stdlib until 3.13; the rehearsal runs on 3.11 (uv.lock)

    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        raise EdgetrainError("this libc's crypt() has no bcrypt: the registry's htpasswd needs it")
    return f"{user}:{hashed}\n"


class LoopbackRegistry:
    """``with LoopbackRegistry(folder) as registry: registry.address`` (``127.0.0.1:<port>``)."""

    def __init__(self, folder: Path, port: int | None = None, login: tuple[str, str] | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        #: ``(user, password)`` every request must present (HTTP basic), or ``None`` for an open registry.
        self.login = login

    def _auth_header(self) -> dict[str, str]:
        if self.login is None:
            return {}
        token = base64.b64encode(":".join(self.login).encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def authfile(self, path: Path) -> Path:
        """A containers auth file (Docker config format) holding this registry's login."""
        auths = {}
        if self.login is not None:
            auths[self.address] = {"auth": base64.b64encode(":".join(self.login).encode()).decode()}
        path.touch(mode=0o600)
        path.write_text(json.dumps({"auths": auths}), encoding="utf-8")
        return path

    @property
    def log(self) -> Path:
        return self.folder / "registry.log"

    def start(self) -> LoopbackRegistry:
        binary = shutil.which(BINARY)
        if binary is None:
            raise EdgetrainError(f"{BINARY}: not installed (apt-get install docker-registry)")
        (self.folder / "storage").mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        htpasswd = None
        if self.login is not None:
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text(htpasswd_line(*self.login), encoding="utf-8")
        config.write_text(config_text(self.folder / "storage", self.port, htpasswd), encoding="utf-8")
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EdgetrainError(f"{BINARY} exited with {self.process.returncode}: {self._log_tail()}")
            try:
                request = urllib.request.Request(f"http://{self.address}/v2/", headers=self._auth_header())
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(POLL_S)
        self.stop()
        raise EdgetrainError(f"{BINARY} not ready on {self.address} after {READY_TIMEOUT_S:.0f}s")

    def _log_tail(self) -> str:
        if not self.log.exists():
            return "no output"
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return lines[-1] if lines else "no output"

    def tags(self, repository: str) -> list[str]:
        """The registry's own view of a repository's tags (distribution API)."""
        url = f"http://{self.address}/v2/{repository}/tags/list"
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=self._auth_header()), timeout=10
            ) as response:
                return sorted(json.load(response).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> LoopbackRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="config, storage and log go here")
    parser.add_argument("--port", type=int, help="default: a free port")
    args = parser.parse_args(argv)
    try:
        with LoopbackRegistry(args.folder, args.port) as registry:
            sys.stdout.write(f"{registry.address}\n")
            sys.stdout.flush()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except EdgetrainError as err:
        sys.stderr.write(f"registry: error: {err}\n")
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
