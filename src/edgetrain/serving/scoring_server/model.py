"""Load `model.ubj` + `metadata.json` (+ `serving.json` from `edgetrain package`) and predict."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .matrix import FeatureSpec

log = logging.getLogger(__name__)

MODEL_FORMAT = "edgetrain-model/1"
TASKS = ("binary", "multiclass", "regression")


def import_xgboost() -> ModuleType:
    """Import xgboost without its optional scikit-learn integration.

    When scikit-learn happens to be installed (a dev environment), xgboost imports it (and scipy's stats)
    at import time: seconds of start-up the server never needs. The image has no scikit-learn anyway.
    """
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return importlib.import_module("xgboost")
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn` raise ImportError
    try:
        return importlib.import_module("xgboost")
    finally:
        del sys.modules["sklearn"]


class ModelLoadError(RuntimeError):
    """The model directory is missing a file or holds something this server cannot serve."""


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return data


@dataclass(frozen=True)
class ModelSchema:
    """What the model takes and returns, from ``metadata.json`` (cheap: no xgboost import)."""

    metadata: dict[str, Any]
    info: dict[str, Any]
    specs: tuple[FeatureSpec, ...]

    @property
    def task(self) -> str:
        return str(self.metadata["task"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)

    @property
    def classes(self) -> list[Any]:
        classes = self.metadata.get("classes")
        if classes:
            return list(classes)
        return [0, 1] if self.task == "binary" else []

    @property
    def threshold(self) -> float:
        return float(self.info.get("threshold", 0.5))

    @classmethod
    def load(cls, model_dir: Path) -> ModelSchema:
        metadata = read_json(model_dir / "metadata.json")
        if metadata.get("format") != MODEL_FORMAT:
            raise ModelLoadError(
                f"{model_dir / 'metadata.json'}: format is {metadata.get('format')!r}, "
                f"expected {MODEL_FORMAT!r}"
            )
        if metadata.get("task") not in TASKS:
            raise ModelLoadError(f"{model_dir / 'metadata.json'}: unknown task {metadata.get('task')!r}")
        specs = tuple(FeatureSpec.from_metadata(entry) for entry in metadata.get("features") or ())
        if not specs:
            raise ModelLoadError(f"{model_dir / 'metadata.json'}: no features listed")
        serving = model_dir / "serving.json"
        info = read_json(serving) if serving.exists() else {}
        return cls(metadata, info, specs)

    def describe(self) -> dict[str, Any]:
        """The ``/metadata`` document."""
        info = self.info
        return {
            "model": {
                "name": info.get("model_name"),
                "version": info.get("model_version"),
                "task": self.task,
                "target": self.metadata.get("target"),
                "classes": self.metadata.get("classes"),
                "threshold": self.threshold if self.task == "binary" else None,
                "best_iteration": self.metadata.get("best_iteration"),
                "xgboost_version": self.metadata.get("xgboost_version"),
            },
            "git_commit": info.get("git_commit"),
            "data_version": self.metadata.get("data_version"),
            "metrics": info.get("metrics"),
            "features": self.metadata.get("features"),
            "rows": self.metadata.get("rows"),
        }


class Predictor:
    """An XGBoost Booster plus the rules that turn its output into labels."""

    def __init__(self, schema: ModelSchema, model_dir: Path, nthread: int = 1) -> None:
        xgb = import_xgboost()
        path = model_dir / str(schema.metadata.get("model_file") or "model.ubj")
        if not path.is_file():
            raise ModelLoadError(f"{path}: model file not found")
        booster = xgb.Booster(model_file=str(path))
        if nthread > 0:
            booster.set_param({"nthread": nthread})
        if booster.feature_names and tuple(booster.feature_names) != schema.feature_names:
            raise ModelLoadError(
                f"{path}: booster features {booster.feature_names} differ from metadata.json"
            )
        self.booster = booster
        self.schema = schema
        self._classes = np.asarray(schema.classes) if schema.classes else None
        self._threshold = np.float32(schema.threshold)

    def predict(self, matrix: np.ndarray) -> dict[str, Any]:
        """``predictions`` (labels or values) and, for classifiers, ``probabilities``."""
        raw = self.booster.inplace_predict(matrix)
        task = self.schema.task
        if task == "regression":
            return {"predictions": raw}
        classes = self._classes
        assert classes is not None
        if task == "binary":
            labels = np.where(raw >= self._threshold, classes[1], classes[0])
            return {"predictions": labels.tolist(), "probabilities": raw}
        if raw.ndim == 1:  # multi:softmax returns the class index
            return {"predictions": classes[raw.astype(np.int64)].tolist()}
        return {"predictions": classes[raw.argmax(axis=1)].tolist(), "probabilities": raw}
