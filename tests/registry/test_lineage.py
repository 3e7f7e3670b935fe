"""Lineage gathering is pure: small inputs in, tags/properties/description out."""

from __future__ import annotations

import hashlib
import re

import pytest

from edgetrain.config.params import Params
from edgetrain.errors import ConfigError, DataError
from edgetrain.registry import lineage
from edgetrain.registry.lineage import GitInfo, build_lineage

PARAMS = Params.model_validate(
    {
        "task": "binary",
        "data": {"target": "y", "features": ["a"]},
        "train": {"objective": "binary:logistic", "eta": 0.05, "max_depth": 4, "num_boost_round": 300},
        "evaluate": {"primary_metric": "auc"},
    }
)
DATA_DVC = {"outs": [{"md5": "abc.dir", "path": "data"}], "deps": [{"path": "remote://stackhub-raw/raw"}]}


@pytest.mark.parametrize(
    ("env", "message", "expected"),
    [
        ({"GITHUB_REF": "refs/pull/42/merge"}, "", "42"),
        ({"EDGETRAIN_PR_NUMBER": "7", "GITHUB_REF": "refs/pull/42/merge"}, "", "7"),
        ({"GITHUB_REF": "refs/heads/main"}, "Merge pull request #13 from me/feature\n\nx", "13"),
        ({}, "Tune eta (#99)\n", "99"),
        ({"GITHUB_REF": "refs/heads/main"}, "plain commit", None),
    ],
)
def test_pull_request_number(env: dict[str, str], message: str, expected: str | None) -> None:
    assert lineage.pull_request_number(env, message) == expected


def test_branch_prefers_pr_head_then_ref_name_then_git() -> None:
    assert lineage.branch_name({"GITHUB_HEAD_REF": "feat", "GITHUB_REF_NAME": "42/merge"}, "HEAD") == "feat"
    assert lineage.branch_name({"GITHUB_REF_NAME": "main"}, "other") == "main"
    assert lineage.branch_name({}, "topic") == "topic"
    assert lineage.branch_name({}, "HEAD") is None


def test_run_url_only_when_complete() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "5"}
    assert lineage.run_url(env) == "https://github.com/o/r/actions/runs/5"
    assert (
        lineage.run_url({**env, "GITHUB_RUN_ATTEMPT": "2"})
        == "https://github.com/o/r/actions/runs/5/attempts/2"
    )
    assert lineage.run_url({"GITHUB_RUN_ID": "5"}) is None


def test_data_version_reads_md5_and_source() -> None:
    assert lineage.data_version(DATA_DVC) == ("abc.dir", "remote://stackhub-raw/raw")
    with pytest.raises(DataError, match=r"data\.dvc: not a DVC file with outs\[0\]\.md5"):
        lineage.data_version({"outs": []})
    assert lineage.data_version({"outs": [{"md5": "m"}]}) == ("m", "unknown")
    imported = {"outs": [{"md5": "m"}], "deps": [{"path": "data", "repo": {"url": "https://git/x"}}]}
    assert lineage.data_version(imported) == ("m", "https://git/x:data")


def test_build_lineage_tags_and_description() -> None:
    env = {
        "GITHUB_REF": "refs/pull/3/merge",
        "GITHUB_HEAD_REF": "tune",
        "GITHUB_SERVER_URL": "https://gh",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "9",
    }
    built = build_lineage(
        git=GitInfo("f" * 40, "HEAD", ""),
        env=env,
        data_dvc=DATA_DVC,
        params_text=b"x: 1\n",
        params=PARAMS,
        metrics={"auc": 0.91, "f1": 0.5, "rows": 10},
        model_md5="m" * 32,
    )
    tags = built.tags()
    assert tags["git_commit"] == "f" * 40
    assert tags["pull_request"] == "3"
    assert tags["git_branch"] == "tune"
    assert tags["data_md5"] == "abc.dir"
    assert tags["data_source"] == "remote://stackhub-raw/raw"
    assert tags["model_md5"] == "m" * 32
    assert tags["params_sha256"] == hashlib.sha256(b"x: 1\n").hexdigest()
    assert tags["param_eta"] == "0.05"
    assert tags["param_max_depth"] == "4"
    assert tags["param_num_boost_round"] == "300"
    assert tags["param_task"] == "binary"
    assert tags["metric_auc"] == "0.91"
    assert "metric_rows" not in tags
    assert tags["run_url"] == "https://gh/o/r/actions/runs/9"
    assert all(isinstance(v, str) for v in tags.values())
    assert built.properties() == tags
    text = built.description()
    assert "ffffffffffff" in text
    assert "PR #3" in text
    assert "auc=0.91" in text
    assert "https://gh/o/r/actions/runs/9" in text


def test_missing_primary_metric_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="auc: missing"):
        lineage.numeric_metrics({"f1": 0.2}, "auc")


def test_lineage_records_dvc_lock_md5_and_engine() -> None:
    lock = b"schema: '2.0'\nstages: {}\n"
    got = build_lineage(
        git=GitInfo(commit="c" * 40),
        env={},
        data_dvc=DATA_DVC,
        params_text=b"task: binary\n",
        params=PARAMS,
        metrics={"auc": 0.9},
        model_md5="m" * 32,
        lock_bytes=lock,
    )
    tags = got.tags()
    assert tags["dvc_lock_md5"] == hashlib.md5(lock).hexdigest()
    assert tags["engine"].startswith("xgboost ")
    assert tags["engine"].endswith(
        " unknown"
    )  # no run.json committed (a model from before the train stage wrote one)
    without = build_lineage(
        git=GitInfo(commit="c" * 40),
        env={},
        data_dvc=DATA_DVC,
        params_text=b"task: binary\n",
        params=PARAMS,
        metrics={"auc": 0.9},
        model_md5="m" * 32,
    )
    assert "dvc_lock_md5" not in without.tags()


@pytest.mark.parametrize(
    ("run_info", "expected"),
    [
        ({"engine": "local", "workers": 1, "external_memory": False}, r"^xgboost \S+ local, 1 worker$"),
        ({"engine": "dask", "workers": 2, "external_memory": False}, r"^xgboost\.dask \S+ dask, 2 workers$"),
        (
            {"engine": "local", "workers": 1, "external_memory": True},
            r"^xgboost \S+ local, 1 worker, external memory$",
        ),
    ],
)
def test_engine_comes_from_the_committed_run_info(run_info, expected) -> None:  # type: ignore[no-untyped-def]
    got = build_lineage(
        git=GitInfo(commit="c" * 40),
        env={},
        data_dvc=DATA_DVC,
        params_text=b"task: binary\n",
        params=PARAMS,
        metrics={"auc": 0.9},
        model_md5="m" * 32,
        run_info=run_info,
    )
    assert re.match(expected, got.tags()["engine"])
