"""The training, pull, streaming and scale benches at smoke size (seconds of data, one round): each runs
from the template as `make bench` runs it and writes its section with the command that reproduces it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.bench.helpers import run_bench


@pytest.mark.timeout(1800)  # a dozen subprocesses and dvc commands: slow on a busy machine
def test_train_and_pull_smoke(tmp_path: Path) -> None:
    args = ["--rows", "3000", "--days", "2", "--repeats", "1", "--fixed-repeats", "1"]
    args += ["--dvc-jobs", "default"]  # one `dvc pull` setting: the -j variants add a clone and pull each
    _, text = run_bench("train_and_pull.py", *args, tmp=tmp_path)
    assert "## Training and data" in text
    assert "Reproduce: `python bench/train_and_pull.py --rows 3000" in text
    assert "### Train stage vs bare `xgboost.train`" in text
    assert "identical models: yes" in text
    assert "| `dvc pull` (default jobs) |" in text
    assert "it re-ran nothing: yes" in text


def test_stream_smoke(tmp_path: Path) -> None:
    args = ["--rows", "3000", "--days", "2", "--partition", "1000", "--repeats", "1"]
    _, text = run_bench("stream.py", *args, tmp=tmp_path)
    assert "## Streamed prepare and evaluate" in text
    assert "`python bench/stream.py --rows 3000" in text
    assert "| **ratio streamed/in-memory** |" in text


def test_scale_extmem_and_dask_smoke(tmp_path: Path) -> None:
    run_bench("scale.py", "--part", "extmem", "--sizes", "3000", "--repeats", "1", tmp=tmp_path)
    _, text = run_bench("scale.py", "--part", "dask", "--dask-rows", "3000", "--repeats", "1", tmp=tmp_path)
    raw = json.loads((tmp_path / "scale.json").read_text())
    assert set(raw) == {"extmem", "dask"}  # parts run separately keep each other's figures
    assert "In-memory vs external-memory training" in text
    assert "Dask vs one process" in text
    assert "python bench/scale.py --part dask --dask-rows 3000" in text


@pytest.mark.timeout(1800)  # a stand-in and five dvc commands: slow on a busy machine
def test_scale_pull_smoke(tmp_path: Path) -> None:
    args = ["--part", "pull", "--pull-mb", "2", "--pull-files", "3", "--repeats", "1"]
    args += ["--pull-shapes", "files"]  # one stand-in: the one-file shape is the same code on one blob
    _, text = run_bench("scale.py", *args, tmp=tmp_path)
    assert "`dvc pull` vs direct" in text
    assert "python bench/scale.py --part pull --pull-mb 2" in text
