"""Small synthetic projects (params.yaml + data/*.csv) for the pipeline stages, one per task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from edgetrain.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]

OBJECTIVE = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}
PRIMARY = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}


def make_frame(task: str, rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Columns ``x1``, ``x2`` (numeric), ``kind`` (a/b/c) and a learnable target ``y``."""
    rng = np.random.default_rng(seed)
    x1 = np.round(rng.normal(0, 1, rows), 3)
    x2 = np.round(rng.uniform(0, 10, rows), 3)
    kind = rng.choice(["a", "b", "c"], rows)
    score = x1 + (kind == "b") * 0.8 + rng.normal(0, 0.3, rows)
    if task == "binary":
        y: Any = (score > 0.5).astype(int)
    elif task == "multiclass":
        y = np.where(score < -0.3, "low", np.where(score < 0.7, "mid", "high"))
    else:
        y = np.round(2.0 * x1 + 0.3 * x2 + rng.normal(0, 0.1, rows), 4)
    return pd.DataFrame({"x1": x1, "x2": x2, "kind": kind, "extra": np.arange(rows), "y": y})


def params_dict(task: str, **train: Any) -> dict[str, Any]:
    return {
        "seed": 7,
        "task": task,
        "data": {"target": "y", "features": ["kind", "x1", "x2"], "categorical": ["kind"]},
        "split": {"valid_fraction": 0.2, "test_fraction": 0.2},
        "partition_rows": 250_000,
        "train": {
            "objective": OBJECTIVE[task],
            "eta": 0.3,
            "max_depth": 3,
            "num_boost_round": 30,
            "early_stopping_rounds": 5,
            "nthread": 1,
            **train,
        },
        "evaluate": {"primary_metric": PRIMARY[task], **({"threshold": 0.5} if task == "binary" else {})},
    }


@dataclass
class Project:
    """A throwaway project directory with the contract's layout."""

    root: Path
    task: str

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def edge(self) -> Path:
        return self.root / "config" / "edge.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def prepared(self) -> Path:
        return self.root / "artifacts" / "prepared"

    @property
    def model(self) -> Path:
        return self.root / "artifacts" / "model"

    @property
    def metrics(self) -> Path:
        return self.root / "artifacts" / "metrics.json"

    @property
    def plots(self) -> Path:
        return self.root / "artifacts" / "plots"

    def write_params(self, **train: Any) -> None:
        self.params.write_text(yaml.safe_dump(params_dict(self.task, **train)), encoding="utf-8")

    def write_drop(self, name: str, frame: pd.DataFrame | bytes | str) -> Path:
        self.data.mkdir(exist_ok=True)
        path = self.data / name
        if isinstance(frame, pd.DataFrame):
            frame.to_csv(path, index=False, lineterminator="\n")
        elif isinstance(frame, bytes):
            path.write_bytes(frame)
        else:
            path.write_text(frame, encoding="utf-8")
        return path

    def cli(self, stage: str, *extra: str) -> int:
        common = ["--params", str(self.params), "--config", str(self.edge)]
        paths = {
            "prepare": [
                "--data",
                str(self.data),
                "--data-dvc",
                str(self.root / "data.dvc"),
                "--out",
                str(self.prepared),
            ],
            "train": ["--prepared", str(self.prepared), "--out", str(self.model)],
            "evaluate": [
                "--model",
                str(self.model),
                "--test",
                str(self.prepared / "test.parquet"),
                "--metrics",
                str(self.metrics),
                "--plots",
                str(self.plots),
            ],
        }[stage]
        return main([stage, *common, *paths, *extra])


def new_project(root: Path, task: str, rows: int = 600, drops: int = 2) -> Project:
    project = Project(root, task)
    project.write_params()
    project.edge.parent.mkdir()
    project.edge.write_bytes((REPO_ROOT / "config" / "edge.yaml").read_bytes())
    frame = make_frame(task, rows)
    for i, part in enumerate(np.array_split(np.arange(rows), drops)):
        project.write_drop(f"2024-01-0{i + 1}.csv", frame.iloc[part])
    return project


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """``make_project(task, rows=600, drops=2)``: a fresh project in its own directory."""
    count = iter(range(1000))

    def make(task: str, rows: int = 600, drops: int = 2) -> Project:
        root = tmp_path / f"{task}-{next(count)}"
        root.mkdir()
        return new_project(root, task, rows, drops)

    return make


@pytest.fixture
def frame_for() -> Callable[..., pd.DataFrame]:
    """``frame_for(task, rows=600, seed=0)``: the synthetic frame behind :func:`make_project`."""
    return make_frame


@pytest.fixture
def binary(make_project: Callable[..., Project]) -> Project:
    return make_project("binary")
