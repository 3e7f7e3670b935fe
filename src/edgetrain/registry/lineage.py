"""Lineage of a model version: where its code, data, params and metrics came from.

Everything here is a pure function over already-parsed files and an environment mapping, so it is
tested on small inputs; reading git and files happens in :mod:`edgetrain.registry.service`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from edgetrain.config.params import Params
from edgetrain.contract import layout
from edgetrain.contract.dvcfiles import data_version as parse_data_version
from edgetrain.contract.hashing import bytes_md5, sha256_hex
from edgetrain.errors import ConfigError
from edgetrain.registry.base import COMMIT_TAG, MODEL_MD5_TAG, REPRODUCED_TAG

#: The train params copied onto every version (``param_<key>``).
KEY_PARAMS = (
    "objective",
    "eta",
    "max_depth",
    "num_boost_round",
    "early_stopping_rounds",
    "subsample",
    "colsample_bytree",
    "min_child_weight",
    "tree_method",
)

_PR_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")
_PR_IN_MESSAGE = re.compile(r"^Merge pull request #(\d+)\b|\(#(\d+)\)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class GitInfo:
    commit: str
    branch: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Lineage:
    git_commit: str
    git_branch: str | None
    pull_request: str | None
    data_md5: str
    data_source: str
    model_md5: str
    params_sha256: str
    params: dict[str, str]
    primary_metric: str
    higher_is_better: bool
    metrics: dict[str, float]
    run_url: str | None
    extra: dict[str, str] = field(default_factory=dict)
    #: md5 of the committed ``dvc.lock`` (the whole recorded pipeline state) and the training engine.
    dvc_lock_md5: str | None = None
    engine: str | None = None

    @property
    def primary_value(self) -> float:
        return self.metrics[self.primary_metric]

    def tags(self) -> dict[str, str]:
        """Searchable tags (Azure ML tags are mutable; the same lineage is in immutable properties)."""
        out: dict[str, str] = {
            COMMIT_TAG: self.git_commit,
            MODEL_MD5_TAG: self.model_md5,
            "data_md5": self.data_md5,
            "data_source": self.data_source,
            "params_sha256": self.params_sha256,
            "primary_metric": self.primary_metric,
            "higher_is_better": str(self.higher_is_better).lower(),
        }
        optional = {
            "git_branch": self.git_branch,
            "pull_request": self.pull_request,
            "run_url": self.run_url,
            "dvc_lock_md5": self.dvc_lock_md5,
            "engine": self.engine,
        }
        out.update({k: v for k, v in optional.items() if v})
        out.update({f"param_{k}": v for k, v in self.params.items()})
        out.update({f"metric_{k}": _num(v) for k, v in self.metrics.items()})
        out.update(self.extra)
        return out

    def properties(self) -> dict[str, str]:
        return self.tags()

    def description(self) -> str:
        where = f"branch {self.git_branch}" if self.git_branch else "detached HEAD"
        pr = f", PR #{self.pull_request}" if self.pull_request else ""
        params = ", ".join(
            f"{k}={self.params[k]}"
            for k in ("task", "objective", "eta", "max_depth", "num_boost_round")
            if k in self.params
        )
        lines = [
            f"XGBoost model from commit {self.git_commit[:12]} ({where}{pr}); "
            f"test {self.primary_metric}={_num(self.primary_value)}.",
            f"Data {self.data_md5} from {self.data_source}; model md5 {self.model_md5} (dvc.lock).",
            f"Params {params} (params.yaml sha256 {self.params_sha256[:12]}).",
        ]
        if self.run_url:
            lines.append(f"Pipeline run: {self.run_url}")
        if self.extra.get(REPRODUCED_TAG) == "false":
            lines.append(
                "Not reproduced by the release (config/edge.yaml release.reproduce: false): these are the "
                "files the pull request's job trained, checked against dvc.lock and run.json."
            )
        if "force_reason" in self.extra:
            lines.append(f"Quality gate overridden: {self.extra['force_reason']}")
        return "\n".join(lines)


def _num(value: float) -> str:
    return format(value, ".6g") if isinstance(value, float) else str(value)


def pull_request_number(env: Mapping[str, str], commit_message: str = "") -> str | None:
    """PR number from ``EDGETRAIN_PR_NUMBER``, ``GITHUB_REF`` ``refs/pull/N/merge``, or a merge message."""
    explicit = env.get("EDGETRAIN_PR_NUMBER", "").strip()
    if explicit.isdigit():
        return explicit
    match = _PR_REF.match(env.get("GITHUB_REF", ""))
    if match:
        return match.group(1)
    found = _PR_IN_MESSAGE.search(commit_message)
    if found:
        return found.group(1) or found.group(2)
    return None


def branch_name(env: Mapping[str, str], git_branch: str | None) -> str | None:
    """The branch: a PR's head branch in Actions, else the pushed ref, else what git says."""
    for key in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        value = env.get(key, "").strip()
        if value and not (key == "GITHUB_REF_NAME" and value.endswith("/merge")):
            return value
    return git_branch if git_branch and git_branch != "HEAD" else None


def run_url(env: Mapping[str, str]) -> str | None:
    """``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`` when all are set."""
    server, repo, run = (
        env.get(k, "").strip() for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repo and run):
        return None
    attempt = env.get("GITHUB_RUN_ATTEMPT", "").strip()
    suffix = f"/attempts/{attempt}" if attempt and attempt != "1" else ""
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}{suffix}"


def data_version(data_dvc: Mapping[str, Any]) -> tuple[str, str]:
    """``(md5, source URL)`` of the data import from a parsed ``data.dvc`` (source ``unknown`` if absent)."""
    md5, source = parse_data_version(data_dvc)
    return md5, source or "unknown"


def key_params(params: Params) -> dict[str, str]:
    out = {"task": params.task, "seed": str(params.seed)}
    train = params.train.model_dump()
    out.update({k: _num(train[k]) for k in KEY_PARAMS})
    return out


#: Counts evaluate writes next to the metrics in ``metrics.json``: not metrics.
COUNTS = frozenset({"rows", "missing_target_dropped"})


def numeric_metrics(metrics: Mapping[str, Any], primary: str) -> dict[str, float]:
    """The float metrics from ``metrics.json``; the primary one must be there."""
    out = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in COUNTS
    }
    if primary not in out:
        raise ConfigError(f"{layout.METRICS}: {primary}: missing ({layout.PARAMS} evaluate.primary_metric)")
    return out


def build_lineage(
    *,
    git: GitInfo,
    env: Mapping[str, str],
    data_dvc: Mapping[str, Any],
    params_text: bytes,
    params: Params,
    metrics: Mapping[str, Any],
    model_md5: str,
    extra: Mapping[str, str] | None = None,
    lock_bytes: bytes | None = None,
    run_info: Mapping[str, Any] | None = None,
) -> Lineage:
    data_md5, source = data_version(data_dvc)
    primary = params.evaluate.primary_metric
    return Lineage(
        git_commit=git.commit,
        git_branch=branch_name(env, git.branch),
        pull_request=pull_request_number(env, git.message),
        data_md5=data_md5,
        data_source=source,
        model_md5=model_md5,
        params_sha256=sha256_hex(params_text),
        params=key_params(params),
        primary_metric=primary,
        higher_is_better=params.higher_is_better,
        metrics=numeric_metrics(metrics, primary),
        run_url=run_url(env),
        extra=dict(extra or {}),
        dvc_lock_md5=bytes_md5(lock_bytes) if lock_bytes is not None else None,
        engine=training_engine(run_info),
    )


def training_engine(run_info: Mapping[str, Any] | None) -> str:
    """Where the model was trained, from the committed ``artifacts/model/run.json`` the train stage writes:
    ``xgboost <version> local, 1 worker`` / ``xgboost.dask <version>, 2 workers`` (+ ``external memory``).
    The version is the one installed here, which ``uv.lock`` (a dep of every stage) pins to the trainer's."""
    info = run_info or {}
    engine = str(info.get("engine", "unknown"))
    try:
        xgb = version("xgboost")
    except PackageNotFoundError:
        xgb = "?"
    name = "xgboost.dask" if engine == "dask" else "xgboost"
    workers = info.get("workers")
    where = f"{engine}, {workers} worker{'s' if workers != 1 else ''}" if workers is not None else engine
    memory = ", external memory" if info.get("external_memory") else ""
    return f"{name} {xgb} {where}{memory}"
