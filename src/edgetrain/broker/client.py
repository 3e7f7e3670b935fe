"""What a job runs (``edgetrain broker credential``): its OIDC token to the broker, the SAS set into the job.

1. Ask GitHub for an ID token for the broker's audience (``ACTIONS_ID_TOKEN_REQUEST_URL`` / ``_TOKEN``;
   only a job with ``permissions: id-token: write`` has them).
2. ``POST`` it to the broker on its Unix socket (``$EDGETRAIN_BROKER_SOCKET``, the path the job sandbox
   bind-mounts; default :data:`DEFAULT_SOCKET`).
3. Mask every SAS and connection string in the log (``::add-mask::``), then check each granted container
   answers with its SAS (one listing request), so an unreachable endpoint or a stale broker key fails here.
4. Only then write, for later steps: ``AZURE_STORAGE_CONNECTION_STRING`` (the raw container's SAS: what
   ``edgetrain`` reads) and ``DVC_GLOBAL_CONFIG_DIR`` (a private folder whose DVC config gives every remote
   of ``.dvc/config`` the SAS of its own container) to ``$GITHUB_ENV``.

Every failure is one line naming the fix, and nothing is written.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobServiceClient
from configobj import ConfigObj  # DVC's own config format

from edgetrain.broker.sas import sas_connection_string
from edgetrain.errors import EdgetrainError

SOCKET_ENV = "EDGETRAIN_BROKER_SOCKET"
DEFAULT_SOCKET = Path("/run/edgetrain-broker/broker.sock")
DEFAULT_AUDIENCE = "edgetrain-storage-broker"
TIMEOUT_S = 30.0
MAX_ANSWER = 256 * 1024
DVC_CONFIG_ENV = "DVC_GLOBAL_CONFIG_DIR"
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


class CredentialError(EdgetrainError):
    """The job got no storage credential (one line naming the fix)."""

    exit_code = 15


def id_token(audience: str, environ: dict[str, str]) -> str:
    """The job's GitHub OIDC token for ``audience``."""
    url, bearer = environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"), environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise CredentialError(
            "no GitHub OIDC token: give this job 'permissions: id-token: write' "
            "(ACTIONS_ID_TOKEN_REQUEST_URL is unset)"
        )
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    request = urllib.request.Request(  # noqa: S310 - the URL GitHub gives the job (http(s))
        f"{url}{sep}audience={urllib.parse.quote(audience, safe='')}",
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:  # noqa: S310 - GitHub's own URL
            answer = json.loads(resp.read(MAX_ANSWER))
    except urllib.error.HTTPError as err:
        fix = " (the job needs 'permissions: id-token: write')" if err.code in (401, 403) else ""
        raise CredentialError(f"GitHub refused the OIDC token request: HTTP {err.code}{fix}") from None
    except (OSError, ValueError) as err:
        raise CredentialError(f"cannot get the job's OIDC token from GitHub: {err}") from None
    value = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value:
        raise CredentialError("GitHub's OIDC answer holds no token; re-run the job")
    return value


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("broker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._path))


def ask_broker(path: Path, token: str, want: dict[str, str] | None = None) -> dict[str, Any]:
    """The broker's grant for ``token``; :class:`CredentialError` with the broker's one line if refused."""
    body = json.dumps({"token": token, **({"want": want} if want else {})})
    conn = _UnixConnection(path, TIMEOUT_S)
    try:
        conn.request("POST", "/v1/sas", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read(MAX_ANSWER)
    except (FileNotFoundError, ConnectionRefusedError):
        raise CredentialError(
            f"the storage broker is not running at {path}: start it on the host "
            f"('systemctl start edgetrain-broker') and mount its socket into the job (${SOCKET_ENV})"
        ) from None
    except OSError as err:
        raise CredentialError(f"the storage broker at {path} did not answer: {err}") from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        raise CredentialError(
            f"the storage broker at {path} answered HTTP {resp.status} without JSON"
        ) from None
    if resp.status != 200:
        message = answer.get("message", "") if isinstance(answer, dict) else ""
        fix = {
            "token-refused": "; re-run the job for a fresh token",
            "refused": "; this job's claims get no storage (see docs/storage-credentials.md)",
        }.get(answer.get("error", "") if isinstance(answer, dict) else "", "")
        raise CredentialError(f"the storage broker refused: {message}{fix}")
    if not isinstance(answer, dict) or not isinstance(answer.get("containers"), dict):
        raise CredentialError("the storage broker's answer has no containers")
    return answer


def dvc_remotes(repo: Path) -> dict[str, str]:
    """Remote name -> container, for every ``azure://`` remote of ``.dvc/config``."""
    out: dict[str, str] = {}
    config = ConfigObj(str(repo / ".dvc" / "config"))
    for section, values in config.items():
        if section.startswith('remote "') and str(values.get("url", "")).startswith("azure://"):
            out[section[len('remote "') : -1]] = values["url"][len("azure://") :].split("/", 1)[0]
    return out


def write_dvc_config(folder: Path, remotes: dict[str, str], connections: dict[str, str]) -> Path:
    config = ConfigObj()
    config.filename = str(folder / "config")
    for remote, container in sorted(remotes.items()):
        if container in connections:
            config[f'remote "{remote}"'] = {"connection_string": connections[container]}
    fd = os.open(config.filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        config.write(fh)
    return folder


def check_containers(grant: dict[str, Any], connections: dict[str, str], api_version: str) -> None:
    """One listing request per container with its own SAS: the endpoint answers and takes the SAS."""
    for container, conn in connections.items():
        client = BlobServiceClient.from_connection_string(
            conn, api_version=api_version, connection_timeout=10, retry_total=1
        ).get_container_client(container)
        try:
            next(iter(client.list_blobs(results_per_page=1).by_page()), None)
        except (ClientAuthenticationError, HttpResponseError) as err:
            code = getattr(err, "error_code", None) or getattr(err, "status_code", "")
            raise CredentialError(
                f"storage refused the broker's SAS for container {container!r} ({code}): the broker's "
                "account key or storage.blob_endpoint is wrong (rotate the key: docs/storage-credentials.md)"
            ) from None
        except AzureError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CredentialError(
                f"storage endpoint {grant['blob_endpoint']} is unreachable ({first[:160]}): check "
                "storage.blob_endpoint in config/edge.yaml and the VM's egress to it"
            ) from None


def export(
    grant: dict[str, Any],
    *,
    repo: Path,
    raw_container: str,
    api_version: str,
    environ: dict[str, str],
    out: TextIO = sys.stdout,
    check: bool = True,
) -> dict[str, str]:
    """Mask, check, then write the job's variables; returns what was written to ``$GITHUB_ENV``."""
    endpoint = str(grant["blob_endpoint"])
    connections = {
        str(c): sas_connection_string(endpoint, str(v["sas"])) for c, v in grant["containers"].items()
    }
    for container, value in grant["containers"].items():
        out.write(f"::add-mask::{value['sas']}\n")
        out.write(f"::add-mask::{connections[container]}\n")
    out.flush()
    github_env = environ.get("GITHUB_ENV")
    if not github_env:
        raise CredentialError("GITHUB_ENV is unset: run this as a step of a GitHub Actions job")
    if any("\n" in v or "\r" in v for v in connections.values()):
        raise CredentialError("the broker's answer holds a line break; refusing to write it")
    if check:
        check_containers(grant, connections, api_version)
    temp_root = environ.get("RUNNER_TEMP") or tempfile.gettempdir()
    folder = Path(tempfile.mkdtemp(prefix="edgetrain-dvc-", dir=temp_root))
    write_dvc_config(folder, dvc_remotes(repo), connections)
    written = {DVC_CONFIG_ENV: str(folder)}
    if raw_container in connections:
        written[CONNECTION_STRING_ENV] = connections[raw_container]
    with Path(github_env).open("a", encoding="utf-8") as fh:
        fh.write("".join(f"{k}={v}\n" for k, v in written.items()))
    rights = ", ".join(f"{c}={v['permissions']}" for c, v in grant["containers"].items())
    out.write(f"storage credential: {grant['rule']} ({rights}) until {grant['expires']}\n")
    return written
