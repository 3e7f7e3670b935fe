"""Checks that need no network: config files, credentials present, DVC remotes, runner labels, tools."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgetrain.config.edge import load_edge_config
from edgetrain.config.params import load_params
from edgetrain.contract import layout
from edgetrain.contract.yamlfile import read_yaml
from edgetrain.doctor.credentials import check_no_account_key
from edgetrain.doctor.result import Context, Result, skipped
from edgetrain.errors import EdgetrainError
from edgetrain.storage.connection import (
    CONNECTION_STRING_ENV,
    DVC_CACHE_REMOTE,
    DVC_LOCAL_CONFIG,
    DVC_PR_REMOTE,
    DVC_RAW_REMOTE,
    connection_string,
)

#: Python packages the scoring server (``edgetrain serve`` and the image's CMD) needs.
SCORING_MODULES = ("xgboost", "fastapi", "uvicorn", "orjson")
#: Command-line tools every workflow step calls.
TOOLS = ("git", "dvc")
SELF_HOSTED = "self-hosted"


def check_config(ctx: Context) -> Iterator[Result]:
    try:
        ctx.edge = load_edge_config(ctx.config_path)
        load_params(ctx.params_path)
    except EdgetrainError as err:
        yield Result("config", False, str(err), "correct the file and key named here")
        return
    yield Result("config", True, f"{ctx.config_path} and {ctx.params_path} are valid")


def _secret_parts(conn: str) -> list[str]:
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    return [conn, *(parts.get(k, "") for k in ("AccountKey", "SharedAccessSignature"))]


def check_connection_string(ctx: Context) -> Iterator[Result]:
    name = "connection string"
    if ctx.edge is None:
        yield skipped(name, "config invalid")
        return
    storage = ctx.edge.storage
    source = (
        CONNECTION_STRING_ENV
        if os.environ.get(CONNECTION_STRING_ENV, "").strip()
        else str(DVC_LOCAL_CONFIG)
        if (ctx.repo / DVC_LOCAL_CONFIG).is_file()
        else "the stand-in's published dev key"
    )
    cwd = Path.cwd()
    try:
        os.chdir(ctx.repo)  # connection_string() reads .dvc/config.local relative to the repository
        conn = connection_string(storage)
    except EdgetrainError as err:
        yield Result(
            name,
            False,
            f"none found for account {storage.account_name!r}",
            f"export {CONNECTION_STRING_ENV}='DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;"
            f"EndpointSuffix=...' or 'dvc remote modify --local {DVC_CACHE_REMOTE} connection_string ...' "
            f"({str(err).split(':', 1)[0]})",
        )
        return
    finally:
        os.chdir(cwd)
    ctx.secrets.extend(_secret_parts(conn))
    ctx.connection_string = conn
    fields = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    account = fields.get("AccountName")
    if account is not None and account != storage.account_name:
        yield Result(
            name,
            False,
            f"from {source}: it is for account {account!r}, config/edge.yaml says {storage.account_name!r}",
            f"use the connection string of account {storage.account_name!r} or correct storage.account_name",
        )
        return
    endpoint = fields.get("BlobEndpoint", "").rstrip("/")
    suffix = fields.get("EndpointSuffix")
    if (endpoint and endpoint != storage.blob_url) or (
        suffix and not endpoint and suffix != storage.endpoint_suffix
    ):
        yield Result(
            name,
            False,
            f"from {source}: it points at {endpoint or 'suffix ' + str(suffix)}, config/edge.yaml at "
            f"{storage.blob_url}",
            "make the connection string's BlobEndpoint/EndpointSuffix and config/edge.yaml storage agree",
        )
        return
    if not ({"AccountKey", "SharedAccessSignature"} & fields.keys()):
        yield Result(
            name,
            False,
            f"from {source}: it has neither AccountKey nor SharedAccessSignature",
            "Stack Hub storage has no Azure AD auth: use an account-key or SAS connection string",
        )
        return
    yield Result(name, True, f"present (from {source}; value not shown)")


def _dvc_config(repo: Path) -> dict[str, Any]:
    from dvc.config import Config  # noqa: PLC0415 - dvc is heavy; loaded only to read the DVC config

    config: dict[str, Any] = Config(dvc_dir=str(repo / ".dvc"), validate=False)  # a dict subclass
    return config


def check_dvc_remotes(ctx: Context) -> Iterator[Result]:
    name = "dvc remotes"
    if ctx.edge is None:
        yield skipped(name, "config invalid")
        return
    storage = ctx.edge.storage
    if not (ctx.repo / ".dvc" / "config").is_file():
        yield Result(name, False, f"{ctx.repo / '.dvc' / 'config'} not found", "run from the repository root")
        return
    config = _dvc_config(ctx.repo)
    remotes = config.get("remote", {})
    problems: list[tuple[str, str]] = []
    for remote, container in (
        (DVC_CACHE_REMOTE, storage.dvc_container),
        (DVC_RAW_REMOTE, storage.raw_container),
        (DVC_PR_REMOTE, storage.pr_container),
    ):
        want = f"azure://{container}"
        got = remotes.get(remote, {}).get("url")
        if got != want:
            problems.append(
                (
                    f"remote {remote!r} url is {got!r}, config/edge.yaml wants {want!r}",
                    f"dvc remote modify {remote} url {want}",
                )
            )
        account = remotes.get(remote, {}).get("account_name")
        if account is not None and account != storage.account_name:
            problems.append(
                (
                    f"remote {remote!r} account_name is {account!r}, config/edge.yaml says "
                    f"{storage.account_name!r}",
                    f"dvc remote modify {remote} account_name {storage.account_name}",
                )
            )
    default = config.get("core", {}).get("remote")
    if default != DVC_CACHE_REMOTE:
        problems.append(
            (
                f"default remote is {default!r}, not {DVC_CACHE_REMOTE!r}",
                f"dvc remote default {DVC_CACHE_REMOTE}",
            )
        )
    data_dvc = ctx.repo / layout.DATA_DVC
    if data_dvc.is_file():
        deps = read_yaml(data_dvc).get("deps") or [{}]
        source, want = deps[0].get("path"), f"remote://{DVC_RAW_REMOTE}/{storage.raw_prefix}"
        if source != want:
            problems.append(
                (
                    f"data.dvc imports {source!r}, config/edge.yaml wants {want!r}",
                    f"dvc import-url --force {want} data",
                )
            )
    for detail, fix in problems:
        yield Result(name, False, detail, fix)
    if not problems:
        yield Result(
            name,
            True,
            f"{DVC_CACHE_REMOTE} -> {storage.dvc_container}, "
            f"{DVC_RAW_REMOTE} -> {storage.raw_container}, {DVC_PR_REMOTE} -> {storage.pr_container}, "
            "data.dvc agrees",
        )


def _runs_on(job: dict[str, Any]) -> list[str] | None:
    value = job.get("runs-on")
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        value = value.get("labels")
        value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or any("${{" in str(v) for v in value):
        return None
    return [str(v) for v in value]


def check_runner_labels(ctx: Context) -> Iterator[Result]:
    name = "runner labels"
    if ctx.edge is None:
        yield skipped(name, "config invalid")
        return
    labels = set(ctx.edge.runner.labels)
    folder = ctx.repo / ".github" / "workflows"
    problems, jobs = [], 0
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            flow = read_yaml(path)
        except EdgetrainError as exc:
            problems.append(f"{path.name}: not YAML ({str(exc).removeprefix(f'{path}: ')})")
            continue
        for job_id, job in (flow.get("jobs") or {}).items():
            wanted = _runs_on(job or {})
            if not wanted or SELF_HOSTED not in wanted:
                continue
            jobs += 1
            missing = sorted(set(wanted) - labels)
            if missing:
                problems.append(f"{path.name} job {job_id!r} asks for {missing}, not in runner.labels")
    for problem in problems:
        yield Result(
            name,
            False,
            problem,
            "make runs-on match runner.labels in config/edge.yaml (the runner registers with those labels)",
        )
    if not problems:
        yield Result(name, True, f"{jobs} self-hosted job(s) match runner.labels {sorted(labels)}")


def check_tools(ctx: Context) -> Iterator[Result]:  # noqa: ARG001 (every check takes the context)
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    missing += [f"python package {m}" for m in SCORING_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        yield Result(
            "tools",
            False,
            f"missing: {', '.join(missing)}",
            "run `make install` and put .venv/bin on PATH (apt-get install git for git)",
        )
        return
    yield Result("tools", True, f"{', '.join(TOOLS)} on PATH; scoring packages {', '.join(SCORING_MODULES)}")


FIRST = [check_config, check_connection_string, check_no_account_key]
LAST = [check_dvc_remotes, check_runner_labels, check_tools]
