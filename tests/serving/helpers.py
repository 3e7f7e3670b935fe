"""Helpers: tiny trained models (binary with a categorical feature, multiclass, regression), their build
contexts, and scoring servers started from those contexts on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import xgboost as xgb

from edgetrain.serving.package import PackageOptions, build_context
from edgetrain.storage.azurite import free_port

REPO = Path(__file__).resolve().parents[2]
CATEGORIES = ["H", "L", "M"]
TASK_PARAMS = {
    "binary": ("binary:logistic", "auc"),
    "multiclass": ("multi:softprob", "accuracy"),
    "regression": ("reg:squarederror", "rmse"),
}
READY_TIMEOUT = 90.0


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "type": pd.Categorical(rng.choice(CATEGORIES, n), categories=CATEGORIES),
            "air_temperature_k": rng.normal(300, 2, n),
            "torque_nm": rng.normal(40, 10, n),
            "tool_wear_min": rng.integers(0, 250, n).astype(np.float64),
        }
    )
    frame.loc[rng.random(n) < 0.05, "torque_nm"] = np.nan
    frame.loc[rng.random(n) < 0.03, "type"] = np.nan
    return frame


def make_target(frame: pd.DataFrame, task: str, seed: int) -> tuple[np.ndarray, list | None]:
    rng = np.random.default_rng(seed + 1)
    score = (
        (frame["type"] == "M") * 1.5
        + (frame["torque_nm"].fillna(40) - 40) / 10
        + rng.normal(0, 0.5, len(frame))
    )
    if task == "binary":
        return (score > 0.8).to_numpy().astype(int), [0, 1]
    if task == "multiclass":
        return np.digitize(score, [-0.5, 0.8]).astype(int), ["low", "mid", "high"]
    return (score * 3 + frame["tool_wear_min"] / 50).to_numpy(), None


@dataclass(frozen=True)
class TrainedModel:
    task: str
    root: Path
    model_dir: Path
    context: Path
    booster: xgb.Booster
    test_frame: pd.DataFrame
    classes: list | None
    threshold: float


def _write_project(root: Path, task: str, features: list[str]) -> None:
    objective, metric = TASK_PARAMS[task]
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "edge.yaml").write_text((REPO / "config" / "edge.yaml").read_text())
    params = {
        "seed": 42,
        "task": task,
        "data": {"target": "y", "features": features, "categorical": ["type"]},
        "train": {"objective": objective, "num_boost_round": 30, "nthread": 1},
        "evaluate": {"primary_metric": metric, **({"threshold": 0.4} if task == "binary" else {})},
    }
    (root / "params.yaml").write_text(json.dumps(params))
    metrics = (
        {"rmse": 1.0, "rows": 100} if task == "regression" else {"accuracy": 0.9, "auc": 0.95, "rows": 100}
    )
    (root / "artifacts").mkdir(exist_ok=True)
    (root / "artifacts" / "metrics.json").write_text(json.dumps(metrics))


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON records as a client would send them: NaN becomes null, categories their string value."""
    out = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [
        {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in row.items()} for row in out
    ]


def train_model(root: Path, task: str, seed: int = 7) -> TrainedModel:
    train = make_frame(600, seed)
    y, classes = make_target(train, task, seed)
    objective, _ = TASK_PARAMS[task]
    params = {"objective": objective, "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": seed}
    if task == "multiclass":
        params["num_class"] = 3
    booster = xgb.train(params, xgb.DMatrix(train, y, enable_categorical=True), num_boost_round=25)
    model_dir = root / "artifacts" / "model"
    model_dir.mkdir(parents=True)
    booster.save_model(model_dir / "model.ubj")
    features = [{"name": "type", "dtype": "category", "categories": CATEGORIES}] + [
        {"name": c, "dtype": "float64"} for c in train.columns[1:]
    ]
    metadata = {
        "format": "edgetrain-model/1",
        "model_file": "model.ubj",
        "task": task,
        "target": "y",
        "features": features,
        "classes": classes,
        "rows": {"train": 600, "valid": 0, "test": 200},
        "best_iteration": 24,
        "data_version": {"md5": "0123456789abcdef0123456789abcdef", "source": "remote://stackhub-raw/raw"},
        "params": params,
        "xgboost_version": xgb.__version__,
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata, indent=2))
    _write_project(root, task, [f["name"] for f in features])
    context = build_context(
        PackageOptions(
            model_dir=model_dir,
            metrics=root / "artifacts" / "metrics.json",
            params=root / "params.yaml",
            config=root / "config" / "edge.yaml",
            output=root / "build" / "scoring",
            model_version="7",
            root=root,
        )
    )
    return TrainedModel(task, root, model_dir, context, booster, make_frame(200, seed + 100), classes, 0.4)


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop_gracefully(self) -> None:
        """SIGTERM; uvicorn drains, runs shutdown, then re-raises the signal (exit -15) or exits 0."""
        code = self.stop()
        log = self.log.read_text()
        assert code in (0, -signal.SIGTERM), log[-3000:]
        assert "Application shutdown complete" in log, log[-3000:]


def start_server(argv: list[str], cwd: Path, env: dict[str, str], port: int, log: Path) -> Server:
    """Start a server process and wait (bounded) until its readiness route answers 200."""
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    ready_route = "/" + env.get("EDGETRAIN_READINESS_ROUTE", "/ready").lstrip("/")
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + ready_route, timeout=2).status_code == 200:
                    return Server(url, process, log)
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready after {READY_TIMEOUT}s:\n{log.read_text()[-3000:]}")
    except BaseException:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        raise


def serve_context(context: Path, tmp: Path, extra_env: dict[str, str] | None = None) -> Server:
    """``edgetrain serve --context`` (= the Dockerfile CMD with cwd = context) on a free port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGETRAIN_", "PORT", "WORKERS"))}
    env.update(extra_env or {})
    argv = [sys.executable, "-m", "edgetrain", "serve", "--context", str(context), "--port", str(port)]
    return start_server(argv, tmp, env, port, tmp / f"server-{port}.log")
