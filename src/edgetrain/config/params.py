"""``params.yaml``: how to train. DVC tracks each key a stage reads (see ``dvc.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from edgetrain.config.loader import StrictModel, load_model
from edgetrain.contract import layout
from edgetrain.errors import ConfigError

DEFAULT_PARAMS = Path(layout.PARAMS)

Column = Annotated[str, StringConstraints(min_length=1)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Task = Literal["binary", "multiclass", "regression"]

#: Objectives XGBoost accepts for each task.
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "binary": ("binary:logistic", "binary:logitraw"),
    "multiclass": ("multi:softprob",),
    "regression": (
        "reg:squarederror",
        "reg:squaredlogerror",
        "reg:pseudohubererror",
        "reg:absoluteerror",
        "reg:quantileerror",
        "reg:gamma",
        "reg:tweedie",
        "count:poisson",
    ),
}

#: Metrics ``evaluate`` writes per task; the registry gate's ``primary_metric`` must be one of them.
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "pr_auc", "f1", "log_loss", "accuracy"),
    "multiclass": ("auc", "f1", "log_loss", "accuracy"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})

#: XGBoost objectives that output hard labels, not scores: auc and log_loss would be meaningless.
LABEL_ONLY_OBJECTIVES: dict[str, str] = {"multi:softmax": "multi:softprob", "binary:hinge": "binary:logistic"}


#: Characters XGBoost refuses in a feature name (``DMatrix.feature_names`` in xgboost/core.py: "may not
#: contain [, ] or <"; they would break its tree dump syntax). The target is held to the same rule.
XGBOOST_FORBIDDEN = ("[", "]", "<")
NAME_RULE = "XGBoost refuses column names containing [, ] or <"


def name_problem(name: str) -> str | None:
    """Why XGBoost would refuse ``name`` as a column name, or None."""
    bad = [c for c in XGBOOST_FORBIDDEN if c in name]
    return f"column {name!r} contains {' and '.join(repr(c) for c in bad)}: {NAME_RULE}" if bad else None


class DataParams(StrictModel):
    target: Column
    features: list[Column] = Field(min_length=1)
    categorical: list[Column] = Field(default_factory=list, description="features read as categories")
    missing_target: Literal["error", "drop"] = Field(
        default="error", description="rows with a blank target: refuse them (error) or leave them out (drop)"
    )

    def columns(self) -> list[tuple[str, str]]:
        """``(params key, column)`` for every column named here."""
        features = [(f"data.features[{i}]", name) for i, name in enumerate(self.features)]
        return [*features, ("data.target", self.target)]

    @model_validator(mode="after")
    def _consistent(self) -> DataParams:
        if self.target in self.features:
            raise ValueError(f"target {self.target!r} is also listed in features")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features lists a column twice")
        unknown = [c for c in self.categorical if c not in self.features]
        if unknown:
            raise ValueError(f"categorical column {unknown[0]!r} is not in features")
        return self


class SplitParams(StrictModel):
    valid_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> SplitParams:
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError("valid_fraction + test_fraction must be below 1")
        return self


class TrainParams(StrictModel):
    objective: Column
    eta: Annotated[float, Field(gt=0, le=1)] = 0.1
    max_depth: Annotated[int, Field(ge=0, le=64)] = 6
    num_boost_round: Annotated[int, Field(ge=1)] = 500
    early_stopping_rounds: Annotated[int, Field(ge=1)] = 30
    subsample: Annotated[float, Field(gt=0, le=1)] = 1.0
    colsample_bytree: Annotated[float, Field(gt=0, le=1)] = 1.0
    min_child_weight: Annotated[float, Field(ge=0)] = 1.0
    tree_method: Literal["hist", "approx", "exact"] = "hist"
    device: Literal["cpu", "cuda"] = "cpu"
    nthread: Annotated[int, Field(ge=0, description="0 = all cores; fix it for bit-identical models")] = 4
    external_memory: bool = Field(
        default=False, description="train from on-disk pages, one partition in memory at a time (hist only)"
    )

    @model_validator(mode="after")
    def _external_memory_needs_hist(self) -> TrainParams:
        if self.external_memory and self.tree_method != "hist":
            raise ValueError("external_memory needs tree_method: hist")
        return self


class EvaluateParams(StrictModel):
    threshold: Annotated[float, Field(gt=0, lt=1, description="binary only: P(class 1) >= threshold")] = 0.5
    primary_metric: Column


class Params(StrictModel):
    seed: Annotated[int, Field(ge=0)] = 42
    task: Task
    #: Rows per prepared Parquet partition: the unit a Dask worker or the external-memory iterator reads.
    partition_rows: Annotated[int, Field(ge=1)] = 250_000
    data: DataParams
    split: SplitParams = SplitParams()
    train: TrainParams
    evaluate: EvaluateParams

    @model_validator(mode="after")
    def _task_matches(self) -> Params:
        objective = self.train.objective
        if objective in LABEL_ONLY_OBJECTIVES:
            raise ValueError(
                f"train.objective {objective!r} outputs class labels only, so auc and log_loss would be "
                f"meaningless; use {LABEL_ONLY_OBJECTIVES[objective]!r} (same model, with probabilities)"
            )
        if self.train.objective not in OBJECTIVES[self.task]:
            allowed = ", ".join(OBJECTIVES[self.task])
            raise ValueError(
                f"train.objective {self.train.objective!r} does not fit task {self.task!r} "
                f"(use one of {allowed})"
            )
        if self.evaluate.primary_metric not in METRICS[self.task]:
            allowed = ", ".join(METRICS[self.task])
            raise ValueError(
                f"evaluate.primary_metric {self.evaluate.primary_metric!r} is not computed "
                f"for task {self.task!r} (use one of {allowed})"
            )
        if self.task != "binary" and "threshold" in self.evaluate.model_fields_set:
            raise ValueError(
                f"evaluate.threshold: only task 'binary' uses a decision threshold; "
                f"remove the key for task {self.task!r}"
            )
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.evaluate.primary_metric not in LOWER_IS_BETTER


def check_column_names(params: Params, path: Path | str) -> None:
    """ConfigError naming ``path``, the key and the column when XGBoost would refuse a column name."""
    for key, column in params.data.columns():
        problem = name_problem(column)
        if problem:
            raise ConfigError(f"{path}: {key}: {problem} (rename the column in your CSV files and here)")


def load_params(path: Path | str = DEFAULT_PARAMS, *, check_names: bool = True) -> Params:
    """Load and validate ``params.yaml`` (exit code 2 with one line on any problem).

    ``check_names=False`` leaves the column-name rule to the caller (``storage land`` checks it per file,
    so its message names the CSV file).
    """
    params = load_model(path, Params)
    if check_names:
        check_column_names(params, path)
    return params
