"""Fixtures for registry tests: a throwaway git repo holding a tiny real XGBoost model + dvc.lock."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

MODEL = "artifacts/model/model.ubj"
METADATA = "artifacts/model/metadata.json"
TEST = "artifacts/prepared/test.parquet"

EDGE_YAML = """\
storage:
  account_name: devstoreaccount1
  blob_endpoint: http://127.0.0.1:10000/devstoreaccount1
azureml:
  subscription_id: 11111111-2222-3333-4444-555555555555
  resource_group: rg-edgetrain
  workspace: mlw-edgetrain
  model_name: edgetrain-xgb
registry:
  backend: local
  local_path: {local_path}
  gate_tolerance: 0.01
acr:
  login_server: edgetrainacr.azurecr.io
runner:
  labels: [self-hosted]
"""

PARAMS = {
    "seed": 42,
    "task": "binary",
    "data": {"target": "machine_failure", "features": ["a", "b"], "categorical": []},
    "train": {
        "objective": "binary:logistic",
        "eta": 0.1,
        "max_depth": 3,
        "num_boost_round": 20,
        "nthread": 1,
    },
    "evaluate": {"threshold": 0.5, "primary_metric": "auc"},
}

_MODELS: dict[int, bytes] = {}


def tiny_model(rounds: int) -> bytes:
    """A real XGBoost binary classifier in UBJSON, different bytes per ``rounds``."""
    if rounds not in _MODELS:
        import numpy as np
        import xgboost as xgb

        rng = np.random.default_rng(rounds)
        x = rng.normal(size=(40, 2))
        y = (x[:, 0] + x[:, 1] > 0).astype(int)
        booster = xgb.train(
            {"objective": "binary:logistic", "max_depth": 2, "nthread": 1, "seed": 0},
            xgb.DMatrix(x, label=y),
            num_boost_round=rounds,
        )
        _MODELS[rounds] = bytes(booster.save_raw("ubj"))
    return _MODELS[rounds]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


FEATURES = [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "float64"}]
TARGET = "machine_failure"


def make_split(split: int = 0, rows: int = 300) -> pd.DataFrame:
    """A prepared test split; split 0 follows the rule the tiny models learnt (a + b > 0), others do not."""
    rng = np.random.default_rng(1000 + split)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    rule = a + b if split == 0 else a - b + rng.normal(scale=0.5, size=rows) * split
    return pd.DataFrame({"a": a, "b": b, TARGET: (rule > 0).astype(np.int64)})


def split_bytes(split: int) -> bytes:
    buffer = io.BytesIO()
    make_split(split).to_parquet(buffer, index=False)
    return buffer.getvalue()


def real_auc(model: bytes, split: int) -> float:
    """The AUC of ``model`` on ``split``, computed here with sklearn (not with the code under test)."""
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    booster = xgb.Booster()
    booster.load_model(bytearray(model))
    frame = make_split(split)
    predicted = booster.predict(xgb.DMatrix(frame[["a", "b"]].to_numpy()))
    return float(roc_auc_score(frame[TARGET], predicted))


@dataclass
class ModelRepo:
    path: Path
    registry_dir: Path
    commits: list[str] = field(default_factory=list)

    @staticmethod
    def model_bytes(rounds: int) -> bytes:
        return tiny_model(rounds)

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def write(self, rel: str, data: bytes | str) -> Path:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        target.write_bytes(data)
        return target

    def lock_text(self, model: bytes, metadata: bytes, test: bytes = b"") -> str:
        return yaml.safe_dump(
            {
                "schema": "2.0",
                "stages": {
                    "train": {
                        "cmd": "edgetrain train",
                        "outs": [
                            {"path": MODEL, "hash": "md5", "md5": md5(model), "size": len(model)},
                            {"path": METADATA, "hash": "md5", "md5": md5(metadata), "size": len(metadata)},
                        ],
                    },
                    "evaluate": {
                        "cmd": "edgetrain evaluate",
                        "deps": [{"path": TEST, "hash": "md5", "md5": md5(test), "size": len(test)}],
                    },
                },
            },
            sort_keys=False,
        )

    def release(
        self,
        *,
        rounds: int = 3,
        auc: float = 0.9,
        message: str = "train",
        split: int = 0,
        features: list[dict] | None = None,
        data_md5: str = "d" * 32,
        params: dict | None = None,
    ) -> str:
        """Write a model + lineage files as `dvc repro` would and commit them; return the commit."""
        model = tiny_model(rounds)
        metadata = json.dumps(
            {
                "format": "edgetrain-model/1",
                "model_file": "model.ubj",
                "task": "binary",
                "rounds": rounds,
                "target": TARGET,
                "features": features or FEATURES,
                "classes": [0, 1],
                "params": {"objective": "binary:logistic"},
            }
        ).encode()
        test = split_bytes(split)
        self.write(MODEL, model)
        self.write(METADATA, metadata)
        self.write(TEST, test)
        self.write("dvc.lock", self.lock_text(model, metadata, test))
        self.write("params.yaml", yaml.safe_dump(params or PARAMS, sort_keys=False))
        self.write(
            "artifacts/metrics.json",
            json.dumps(
                {
                    "auc": auc,
                    "pr_auc": auc - 0.1,
                    "f1": 0.5,
                    "log_loss": 0.3,
                    "accuracy": 0.8,
                    "threshold": 0.5,
                    "rows": 12,
                }
            ),
        )
        self.write(
            "data.dvc",
            yaml.safe_dump(
                {
                    "outs": [
                        {"md5": f"{data_md5}.dir", "size": 100, "nfiles": 2, "hash": "md5", "path": "data"}
                    ],
                    "deps": [{"path": "remote://stackhub-raw/raw"}],
                    "frozen": True,
                }
            ),
        )
        run_info = {"engine": "dask", "workers": 2, "external_memory": False}
        self.write("artifacts/model/run.json", json.dumps(run_info))
        self.git("add", "dvc.lock", "params.yaml", "artifacts/metrics.json", "data.dvc", "config/edge.yaml")
        # -f: the test repository ignores artifacts/model/ (in the template DVC ignores only its cached outs)
        self.git("add", "-f", "artifacts/model/run.json")
        self.git("commit", "-q", "-m", message)
        sha = self.git("rev-parse", "HEAD")
        self.commits.append(sha)
        return sha


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the CI's GitHub variables or a real registry folder."""
    for key in (
        "GITHUB_REF",
        "GITHUB_REF_NAME",
        "GITHUB_HEAD_REF",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "GITHUB_RUN_ATTEMPT",
        "EDGETRAIN_PR_NUMBER",
        "EDGETRAIN_REGISTRY_DIR",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def model_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRepo:
    path = tmp_path / "repo"
    path.mkdir()
    repo = ModelRepo(path=path, registry_dir=tmp_path / "registry")
    repo.git("init", "-q", "-b", "main")
    repo.write(".gitignore", "/artifacts/model/\n/artifacts/prepared/\n")
    repo.write("config/edge.yaml", EDGE_YAML.format(local_path=tmp_path / "from-config"))
    repo.git("add", ".gitignore")
    monkeypatch.chdir(path)
    return repo


def _load_standin_module():
    """``tests/rehearsal/azureml_standin.py``."""
    import importlib

    return importlib.import_module("tests.rehearsal.azureml_standin")


class FakeCredential:
    """A credential that hands out a real ``AccessToken`` (or raises what a failed login raises)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object):
        import time

        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken("standin-token", int(time.time()) + 3600)


@pytest.fixture
def azureml(standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Azure ML stand-in (blob store = the shared Azurite), wired into ``AzureMLRegistry``."""
    from edgetrain.registry import azureml as backend
    from edgetrain.storage.azurite import DEV_KEY

    module = _load_standin_module()
    folder = tmp_path / "aml-standin"
    folder.mkdir()
    cfg = yaml.safe_load(EDGE_YAML.format(local_path="unused"))["azureml"]
    with module.AzureMLStandin(
        folder,
        standin.azurite_endpoint,
        DEV_KEY,
        subscription=cfg["subscription_id"],
        resource_group=cfg["resource_group"],
        workspace=cfg["workspace"],
    ) as aml:
        for key, value in aml.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)  # MLClient sets it process-wide
        credential = FakeCredential()
        aml.credential = credential
        monkeypatch.setattr(backend, "default_credential", lambda: aml.credential)
        monkeypatch.setattr(backend.AzureMLRegistry, "client_kwargs", aml.cloud_kwargs())
        monkeypatch.setattr(backend.AzureMLRegistry, "backoff_s", 0.0)
        yield aml
    from azure.ai.ml import _azure_environments

    for name in [n for n in _azure_environments._environments if n.startswith("EdgetrainLoopback")]:
        del _azure_environments._environments[name]
