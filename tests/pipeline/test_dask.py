"""Training on a real Dask cluster (a scheduler and two workers on 127.0.0.1) through ``dvc repro``."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, subprocess_env
from tests.pipeline.conftest import new_project, params_dict
from tests.pipeline.dask_cluster import Cluster, dask_cluster

from edgetrain.storage.azurite import free_port

#: The Dask model's test AUC may differ from the single-process model's by at most this much
#: (the registry's default quality-gate tolerance): workers sketch quantiles on their own partitions.
AUC_TOLERANCE = 0.01
DVC_TIMEOUT_S = 600
TRAIN_TIMEOUT_S = 300
MODEL_FILES = ("model.ubj", "metadata.json", "run.json")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with dask_cluster(tmp_path_factory.mktemp("dask-logs")) as running:
        yield running


def edge_config(path: Path, scheduler: str, **compute: object) -> Path:
    """The template's config/edge.yaml with its compute section pointed at ``scheduler``."""
    doc = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text(encoding="utf-8"))
    doc["compute"] = {**doc["compute"], "scheduler": scheduler, **compute}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def run(*cmd: str, cwd: Path, timeout: int = DVC_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def dvc_project(root: Path, rows: int = 4000) -> Path:
    """A git + DVC repository with the template's dvc.yaml, a small params.yaml and CSV drops."""
    root.mkdir(parents=True)
    new_project(root, "binary", rows=rows, drops=2)
    params = params_dict("binary", subsample=0.9, num_boost_round=60, early_stopping_rounds=10)
    params["partition_rows"] = 400  # ~7 train partitions: both workers get several
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    for name in ("dvc.yaml", "uv.lock"):  # uv.lock: a dep of every stage
        shutil.copy(REPO_ROOT / name, root / name)
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))  # deps
    (root / "config" / "plots").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "config" / "plots" / "confusion_counts.json", root / "config" / "plots")
    for cmd in (("git", "init", "-q"), ("dvc", "init", "-q")):
        assert run(*cmd, cwd=root).returncode == 0
    return root


def repro(root: Path) -> tuple[dict, bytes, dict]:
    out = run("dvc", "repro", "--force", cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    model = root / "artifacts" / "model"
    metrics = json.loads((root / "artifacts" / "metrics.json").read_text())
    return metrics, (model / "model.ubj").read_bytes(), json.loads((model / "run.json").read_text())


def test_dvc_repro_on_dask_matches_single_process_and_repeats(cluster: Cluster, tmp_path: Path) -> None:
    root = dvc_project(tmp_path / "project")
    edge_config(root / "config" / "edge.yaml", "local")
    local_metrics, _, local_run = repro(root)
    assert {k: v for k, v in local_run.items() if k != "sha256"} == {
        "engine": "local",
        "workers": 1,
        "external_memory": False,
    }

    edge_config(root / "config" / "edge.yaml", cluster.address)
    first_metrics, first_model, first_run = repro(root)
    assert first_run["engine"] == "dask"
    assert first_run["workers"] == 2
    # Both workers really trained: each joined XGBoost's collective.
    assert all("got rank" in cluster.worker_log(i) for i in range(2))
    assert abs(first_metrics["auc"] - local_metrics["auc"]) <= AUC_TOLERANCE
    assert first_metrics["rows"] == local_metrics["rows"]

    # deterministic: a second training on the cluster writes byte-identical model.ubj (what the release
    # relies on when it reproduces a merged commit), and run.json records its sha256
    second_metrics, second_model, second_run = repro(root)
    assert (second_metrics, second_model, second_run) == (first_metrics, first_model, first_run)
    assert first_run["sha256"]["model.ubj"] == hashlib.sha256(first_model).hexdigest()

    lock = yaml.safe_load((root / "dvc.lock").read_text())
    outs = {o["path"] for o in lock["stages"]["train"]["outs"]}
    assert "artifacts/model/run.json" in outs  # lineage: dvc.lock pins how the model was trained


def good_model(root: Path) -> dict[str, bytes]:
    model = root / "artifacts" / "model"
    return {name: (model / name).read_bytes() for name in MODEL_FILES}


def test_killed_worker_fails_in_one_line_and_keeps_the_last_good_model(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    project = new_project(tmp_path / "p", "binary", rows=20000, drops=2)
    params = params_dict("binary")
    params["partition_rows"] = 2000
    project.params.write_text(yaml.safe_dump(params), encoding="utf-8")
    assert project.cli("prepare") == 0
    assert project.cli("train") == 0  # the last good model (trained locally, quickly)
    before = good_model(project.root)
    # Long enough on Dask that the kill lands mid-training.
    params["train"].update(num_boost_round=4000, early_stopping_rounds=4000, eta=0.01, max_depth=8)
    project.params.write_text(yaml.safe_dump(params), encoding="utf-8")

    with dask_cluster(tmp_path / "logs") as cluster:
        config = edge_config(tmp_path / "edge.yaml", cluster.address, collective_timeout_s=30)
        cmd = ["edgetrain", "train", "--params", str(project.params), "--prepared", str(project.prepared)]
        proc = subprocess.Popen(
            [*cmd, "--out", str(project.model), "--edge-config", str(config)],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            deadline = time.monotonic() + TRAIN_TIMEOUT_S
            while not all("got rank" in cluster.worker_log(i) for i in range(2)):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "training never started on both workers"
                time.sleep(0.2)
            time.sleep(1)  # a few rounds in
            cluster.kill_worker(1)
            _, stderr = proc.communicate(timeout=TRAIN_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 13, stderr
    lines = stderr.strip().splitlines()
    assert re.fullmatch(
        r"edgetrain: error: Dask worker tcp://127\.0\.0\.1:\d+ left during training; no model written",
        lines[-1],
    ), stderr
    assert good_model(project.root) == before
    assert sorted(p.name for p in project.model.parent.iterdir()) == ["model", "prepared"]  # no staging left


def test_unreachable_scheduler_is_one_line_and_writes_nothing(binary, tmp_path: Path) -> None:
    assert binary.cli("prepare") == 0
    assert binary.cli("train") == 0
    before = good_model(binary.root)
    config = edge_config(tmp_path / "edge.yaml", f"tcp://127.0.0.1:{free_port()}", connect_timeout_s=2)
    out = run(
        "edgetrain",
        "train",
        "--params",
        str(binary.params),
        "--prepared",
        str(binary.prepared),
        "--out",
        str(binary.model),
        "--edge-config",
        str(config),
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 13
    assert (
        out.stderr.strip().splitlines()[-1].startswith("edgetrain: error: compute.scheduler tcp://127.0.0.1:")
    )
    assert "cannot connect" in out.stderr
    assert good_model(binary.root) == before


def test_too_few_workers_is_one_line(cluster: Cluster, binary, tmp_path: Path) -> None:
    assert binary.cli("prepare") == 0
    config = edge_config(tmp_path / "edge.yaml", cluster.address, min_workers=3, connect_timeout_s=2)
    assert binary.cli("train", "--edge-config", str(config)) == 13
    assert not (binary.model / "model.ubj").exists()


def test_external_memory_on_dask_is_a_config_error(binary, tmp_path: Path, capsys) -> None:
    binary.write_params(external_memory=True)
    assert binary.cli("prepare") == 0
    config = edge_config(tmp_path / "edge.yaml", f"tcp://127.0.0.1:{free_port()}")
    assert binary.cli("train", "--edge-config", str(config)) == 2
    assert "train.external_memory is for one VM" in capsys.readouterr().err
    assert not binary.model.exists()


def test_bad_scheduler_address_names_the_key(binary, tmp_path: Path, capsys) -> None:
    config = edge_config(tmp_path / "edge.yaml", "127.0.0.1:8786")
    assert binary.cli("prepare") == 0
    assert binary.cli("train", "--edge-config", str(config)) == 2
    assert "compute.scheduler" in capsys.readouterr().err


def test_workers_read_their_own_partitions(cluster: Cluster, binary, tmp_path: Path, capsys) -> None:
    """With worker_data_dir the workers read the partitions from their own path, never from the runner."""
    binary.write_params(num_boost_round=10)
    assert binary.cli("prepare") == 0
    mirror = tmp_path / "mirror"
    shutil.copytree(binary.prepared, mirror)
    shutil.rmtree(mirror / "valid.parquet")
    config = edge_config(tmp_path / "edge.yaml", cluster.address, worker_data_dir=str(mirror))
    assert binary.cli("train", "--edge-config", str(config)) == 3  # valid is missing where workers look
    assert str(mirror / "valid.parquet") in capsys.readouterr().err
    shutil.copytree(binary.prepared / "valid.parquet", mirror / "valid.parquet")
    assert binary.cli("train", "--edge-config", str(config)) == 0
    assert json.loads((binary.model / "run.json").read_text())["engine"] == "dask"
