"""Checks that make a real request: storage endpoint and API version, containers, DVC's pin, Azure ML."""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from edgetrain.config.edge import STACK_HUB_API_VERSIONS, StorageConfig
from edgetrain.doctor.result import Context, Result, skipped
from edgetrain.errors import EdgetrainError
from edgetrain.registry.azureml import AzureMLRegistry
from edgetrain.registry.errors import RegistryAuthError
from edgetrain.storage import api_pin
from edgetrain.storage.connection import (
    DVC_CACHE_REMOTE,
    blob_service,
    dvc_remote_connection_string,
    is_standin,
)
from edgetrain.storage.identity import identity_problem

log = logging.getLogger(__name__)
PIN_PROBE_TIMEOUT_S = 60
#: One attempt only: doctor reports, it does not wait out an outage.
AZUREML_ATTEMPTS = 1
#: Run inside DVC's interpreter: which x-ms-version would azure-storage-blob (hence adlfs) send?
PIN_PROBE = (
    "import json, sys\n"
    "import azure.storage.blob._serialize as s\n"
    "print(json.dumps({'effective': s.get_api_version({}), "
    "'hook': 'edgetrain.storage.api_pin' in sys.modules}))\n"
)


def _sdk_knows(version: str) -> None:
    """Let this process's azure-storage-blob send ``version`` when asked to (the start-up pin may have
    trimmed it); the default version stays the last one in the SDK's list, as the pin left it."""
    import azure.storage.blob._serialize as serialize  # noqa: PLC0415 - azure SDK loads only to probe

    supported: list[str] = serialize._SUPPORTED_API_VERSIONS
    if version not in supported:
        supported.insert(0, version)


def _probe(storage: StorageConfig, conn: str, version: str, container: str) -> tuple[str, str]:
    """One real request (container properties) with ``version``: ``(outcome, one-line detail)``."""
    from azure.core.exceptions import (  # noqa: PLC0415 - azure SDK loads only when a service is called
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    service = blob_service(storage.model_copy(update={"api_version": version}), conn)
    try:
        # list one page, not container properties: a container SAS (the broker's) may list, never read those
        pages = service.get_container_client(container).list_blobs(results_per_page=1).by_page()
        next(iter(pages), None)
    except ResourceNotFoundError:
        return "missing", f"container {container!r} not found"
    except ClientAuthenticationError as exc:
        return "auth", f"credentials refused ({getattr(exc, 'error_code', None) or 403})"
    except ServiceRequestError as exc:
        return "unreachable", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    except HttpResponseError as exc:
        code = getattr(exc, "error_code", None)
        if code == "InvalidHeaderValue":
            return "version", f"rejected x-ms-version {version}"
        return "other", f"HTTP {exc.status_code} {code or ''}".strip()
    return "ok", f"container {container!r} exists"


def _accepted_version(storage: StorageConfig, conn: str, container: str) -> str | None:
    """The newest Stack Hub API version the server accepts (tried with real requests), if any."""
    for version in sorted(STACK_HUB_API_VERSIONS, reverse=True):
        if version != storage.api_version and _probe(storage, conn, version, container)[0] != "version":
            return version
    return None


def check_storage(ctx: Context) -> Iterator[Result]:
    """The endpoint answers, accepts the configured API version and holds both containers."""
    if ctx.edge is None or ctx.connection_string is None:
        why = "config invalid" if ctx.edge is None else "no connection string"
        yield skipped("storage endpoint", why)
        yield skipped("containers", why)
        return
    storage, conn = ctx.edge.storage, ctx.connection_string
    _sdk_knows(storage.api_version)
    where = storage.blob_url
    try:
        outcomes = {storage.raw_container: _probe(storage, conn, storage.api_version, storage.raw_container)}
        if outcomes[storage.raw_container][0] in {"ok", "missing"}:
            dvc_conn = dvc_remote_connection_string(DVC_CACHE_REMOTE, ctx.repo) or conn
            outcomes[storage.dvc_container] = _probe(
                storage, dvc_conn, storage.api_version, storage.dvc_container
            )
    except EdgetrainError as err:
        yield Result("storage endpoint", False, str(err), "fix the connection string")
        yield skipped("containers", "storage endpoint failed")
        return
    kind, detail = next(iter(outcomes.values()))
    if kind == "version":
        wanted = _accepted_version(storage, conn, storage.raw_container)
        said = (
            f"; it accepts {wanted}"
            if wanted
            else f"; it accepts none of {', '.join(STACK_HUB_API_VERSIONS)}"
        )
        fix = (
            f'set storage.api_version: "{wanted}" in config/edge.yaml'
            if wanted
            else "check that storage.blob_endpoint / endpoint_suffix is a Stack Hub storage endpoint"
        )
        yield Result("storage endpoint", False, f"{where} {detail}{said}", fix)
    elif kind == "unreachable":
        fix = (
            "start the local stand-in: `edgetrain storage up` (or `make up`)"
            if is_standin(storage)
            else "check storage.blob_endpoint / endpoint_suffix, DNS and outbound HTTPS (443) from here"
        )
        yield Result("storage endpoint", False, f"{where} unreachable: {detail}", fix)
    elif kind == "auth":
        yield Result(
            "storage endpoint", False, f"{where}: {detail}", "use a current account key or an unexpired SAS"
        )
    elif kind == "other":
        yield Result("storage endpoint", False, f"{where} answered {detail}", "check the endpoint in config")
    else:
        yield Result("storage endpoint", True, f"{where} answers x-ms-version {storage.api_version}")
    if kind in {"version", "unreachable", "auth", "other"}:
        yield skipped("containers", "storage endpoint failed")
        return
    missing = [c for c, (k, _) in outcomes.items() if k != "ok"]
    for container in missing:
        yield Result(
            "containers",
            False,
            f"{outcomes[container][1]} in account {storage.account_name!r}",
            f"create it (deploy/edge-runner/azuredeploy.json creates both; or `az storage container create "
            f"--name {container}`), or correct config/edge.yaml",
        )
    if not missing:
        yield Result("containers", True, f"{storage.raw_container!r} and {storage.dvc_container!r} exist")


def check_standin_identity(ctx: Context) -> Iterator[Result]:
    """With ``storage.blob_endpoint: standin``: the storage reached is the stand-in this checkout started.

    Another checkout's stand-in on the same port would otherwise pass every check, and seed, land and
    ``dvc push`` would write there.
    """
    name = "stand-in identity"
    if ctx.edge is None or not ctx.edge.standin_managed:
        return
    if ctx.connection_string is None:
        yield skipped(name, "no connection string")
        return
    try:
        problem = identity_problem(ctx.edge, ctx.connection_string)
    except EdgetrainError as err:
        yield skipped(name, str(err))
        return
    if problem:
        yield Result(name, False, problem, "run `edgetrain storage up` in this checkout (or `make up`)")
        return
    yield Result(name, True, f"{ctx.edge.storage.blob_url} is this checkout's stand-in")


def _dvc_interpreter() -> str | None:
    """The Python interpreter the ``dvc`` on PATH runs with, from its shebang.

    Where the interpreter's path is too long for a shebang line (a checkout under a long path), pip and uv
    write ``#!/bin/sh`` and a second line ``'''exec' '<python>' "$0" "$@"``: that form is read too.
    """
    dvc = shutil.which("dvc")
    if dvc is None:
        return None
    try:
        head = Path(dvc).read_bytes()[:4096].decode(errors="replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = head[0][2:].split()
    if words and words[0] == "/bin/sh" and len(head) > 1:
        try:
            words = shlex.split(head[1])
        except ValueError:
            return None
        words = words[1:] if words[:1] == ["exec"] else []
    if words and Path(words[0]).name == "env":  # #!/usr/bin/env python3
        words = [shutil.which(words[1]) or ""] if len(words) > 1 else []
    return words[0] if words and "python" in Path(words[0]).name else None


def check_dvc_pin(ctx: Context) -> Iterator[Result]:
    """Inside DVC's own interpreter, azure-storage-blob's default version is the configured one."""
    name = "dvc api-version pin"
    if ctx.edge is None:
        yield skipped(name, "config invalid")
        return
    want = ctx.edge.storage.api_version
    interpreter = _dvc_interpreter()
    if interpreter is None:
        yield Result(name, False, "no Python-based dvc on PATH", "run `make install`; use .venv/bin/dvc")
        return
    proc = subprocess.run(
        [interpreter, "-c", PIN_PROBE],
        cwd=ctx.repo,
        capture_output=True,
        text=True,
        timeout=PIN_PROBE_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        yield Result(name, False, f"{interpreter}: {last}", "install dvc-azure into the project venv")
        return
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    if seen["effective"] != want:
        how = "the start-up hook is not installed" if not seen["hook"] else f"{api_pin.ENV_VAR} overrides it"
        yield Result(
            name,
            False,
            f"dvc ({interpreter}) would send x-ms-version {seen['effective']}, config wants {want} ({how})",
            f"run `make install` (installs edgetrain_stackhub.pth) and unset {api_pin.ENV_VAR}",
        )
        return
    yield Result(name, True, f"dvc sends x-ms-version {want} (start-up hook active)")


def check_azureml(ctx: Context) -> Iterator[Result]:
    """With ``registry.backend: azureml``: logged in and the workspace answers."""
    name = "azure ml"
    if ctx.edge is None:
        yield skipped(name, "config invalid")
        return
    if ctx.edge.registry.backend != "azureml":
        yield Result(name, True, f"not used (registry.backend is {ctx.edge.registry.backend})")
        return
    if ctx.edge_runner:
        yield Result(name, True, "not checked on the edge runner: it holds no Azure credentials by design")
        return
    cfg = ctx.edge.azureml
    try:
        registry = AzureMLRegistry(
            cfg, credential=ctx.azureml_credential, client_kwargs=ctx.azureml_client_kwargs or None
        )
        registry.attempts = AZUREML_ATTEMPTS
        registry._call("get workspace", lambda: registry.client.workspaces.get(cfg.workspace))
    except RegistryAuthError as err:
        yield Result(name, False, str(err), "run `az login` (laptop) or azure/login with OIDC (workflow)")
        return
    except EdgetrainError as err:
        yield Result(name, False, str(err), "check azureml.subscription_id, resource_group and workspace")
        return
    yield Result(name, True, f"logged in; workspace {cfg.workspace!r} answers")


CHECKS = [check_storage, check_standin_identity, check_dvc_pin, check_azureml]
