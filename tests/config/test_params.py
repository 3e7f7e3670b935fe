"""params.yaml rules that tie keys to the task: each breach is one line naming the key and what to use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.config.params import METRICS, load_params
from edgetrain.errors import ConfigError

PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
TASK_KEYS = {
    "binary": ("binary:logistic", "auc"),
    "multiclass": ("multi:softprob", "accuracy"),
    "regression": ("reg:squarederror", "rmse"),
}


def params_for(task: str, **evaluate: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(PARAMS))
    objective, metric = TASK_KEYS[task]
    data["task"] = task
    data["train"]["objective"] = objective
    data["evaluate"] = {"primary_metric": metric, **evaluate}
    return data


def load(tmp_path: Path, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_params(path)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_threshold_is_refused_outside_binary(tmp_path: Path, task: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, params_for(task, threshold=0.5))
    assert "evaluate.threshold: only task 'binary' uses a decision threshold" in str(err.value)
    assert f"remove the key for task {task!r}" in str(err.value)
    assert load(tmp_path, params_for(task)).task == task  # without the key it loads


def test_binary_threshold_defaults_to_one_half(tmp_path: Path) -> None:
    assert load(tmp_path, params_for("binary")).evaluate.threshold == 0.5
    assert load(tmp_path, params_for("binary", threshold=0.3)).evaluate.threshold == 0.3


@pytest.mark.parametrize(
    ("task", "objective", "alternative"),
    [("multiclass", "multi:softmax", "multi:softprob"), ("binary", "binary:hinge", "binary:logistic")],
)
def test_label_only_objectives_are_refused_with_the_alternative(
    tmp_path: Path, task: str, objective: str, alternative: str
) -> None:
    data = params_for(task)
    data["train"]["objective"] = objective
    with pytest.raises(ConfigError) as err:
        load(tmp_path, data)
    assert f"train.objective {objective!r} outputs class labels only" in str(err.value)
    assert f"use {alternative!r}" in str(err.value)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_primary_metric_must_be_one_the_task_computes(tmp_path: Path, task: str) -> None:
    wrong = next(m for t, metrics in METRICS.items() if t != task for m in metrics if m not in METRICS[task])
    with pytest.raises(ConfigError) as err:
        load(tmp_path, params_for(task) | {"evaluate": {"primary_metric": wrong}})
    assert f"evaluate.primary_metric {wrong!r} is not computed for task {task!r}" in str(err.value)
    assert ", ".join(METRICS[task]) in str(err.value)
