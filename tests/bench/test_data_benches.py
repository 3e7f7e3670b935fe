"""The training, pull, streaming and scale benches at smoke size (seconds of data, one round): each runs
from the template as `make bench` runs it and writes its section with the command that reproduces it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.helpers import run_bench


def test_train_and_pull_smoke(tmp_path: Path) -> None:
    args = ["--rows", "3000", "--days", "2", "--repeats", "1", "--fixed-repeats", "1"]
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


def test_scale_smoke(tmp_path: Path) -> None:
    run_bench("scale.py", "--part", "extmem", "--sizes", "3000", tmp=tmp_path)
    run_bench("scale.py", "--part", "dask", "--dask-rows", "3000", "--repeats", "1", tmp=tmp_path)
    args = ["--part", "pull", "--pull-mb", "2", "--pull-files", "3", "--repeats", "1"]
    _, text = run_bench("scale.py", *args, tmp=tmp_path)
    raw = json.loads((tmp_path / "scale.json").read_text())
    assert set(raw) == {"extmem", "dask", "pull"}  # parts run separately keep each other's figures
    for title in ("In-memory vs external-memory training", "Dask vs one process", "`dvc pull` vs direct"):
        assert title in text
    assert "python bench/scale.py --part pull --pull-mb 2" in text
