"""``prepare`` reads one drop at a time and writes the bytes the in-memory core writes for all drops."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.pipeline import reference
from tests.pipeline.conftest import params_dict

from edgetrain.config.params import load_params
from edgetrain.contract.dvcfiles import read_data_version
from edgetrain.data.drops import read_drops

PARTITION_ROWS = 37


def project_with_duplicates(make_project, frame_for, task: str, partition_rows: int = PARTITION_ROWS):
    """Four drops: rows repeated within a drop and across drops, so de-duplication matters."""
    project = make_project(task, rows=600, drops=2)
    params = params_dict(task)
    params["partition_rows"] = partition_rows
    project.params.write_text(yaml.safe_dump(params), encoding="utf-8")
    first = pd.read_csv(project.data / "2024-01-01.csv")
    extra = frame_for(task, rows=200, seed=5)
    project.write_drop("2024-01-03.csv", pd.concat([first.iloc[10:60], extra, extra.iloc[:20]]))
    project.write_drop("2024-01-04.csv", pd.concat([extra.iloc[50:90], first.iloc[:5]]))
    return project


def in_memory(project, out: Path) -> dict:
    """What the stage wrote before it streamed: every drop in one frame, then the pure core."""
    params = load_params(project.params)
    names, frame = read_drops(project.data, params.data, params.task)
    prepared = reference.prepare(
        frame, params, drops=names, data_version=read_data_version(project.root / "data.dvc")
    )
    reference.write_prepared(prepared, out, params.partition_rows)
    return prepared.manifest


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_streamed_prepare_writes_the_in_memory_bytes(make_project, frame_for, tmp_path, task) -> None:
    project = project_with_duplicates(make_project, frame_for, task)
    manifest = in_memory(project, tmp_path / "in-memory")
    assert manifest["duplicates_dropped"] >= 20 + 50 + 40 + 5
    assert project.cli("prepare") == 0
    streamed, expected = tree(project.prepared), tree(tmp_path / "in-memory")
    assert len([name for name in expected if name.startswith("test.parquet/")]) >= 3  # several partitions
    assert streamed.keys() == expected.keys()
    for name, content in expected.items():
        assert streamed[name] == content, name
    assert sorted(p.name for p in project.prepared.parent.iterdir()) == ["prepared"]  # no temp dir left


def test_labels_as_numbers_in_one_drop_and_words_in_another(make_project, frame_for, tmp_path) -> None:
    project = project_with_duplicates(make_project, frame_for, "multiclass")
    numbers = frame_for("multiclass", rows=60, seed=9).assign(y=lambda f: f["y"].map({"low": 0, "mid": 1}))
    project.write_drop("2024-01-05.csv", numbers.dropna())
    in_memory(project, tmp_path / "in-memory")
    assert project.cli("prepare") == 0
    assert tree(project.prepared) == tree(tmp_path / "in-memory")


def test_no_frame_larger_than_a_drop_and_a_partition(make_project, frame_for, monkeypatch) -> None:
    """Rows are never gathered beyond one drop plus one partition's buffer; no reader of every drop."""
    project = project_with_duplicates(make_project, frame_for, "binary", partition_rows=20)
    largest_drop = max(len(pd.read_csv(p)) for p in project.data.iterdir())
    sizes: list[int] = []
    real_concat = pd.concat

    def concat_spy(*args, **kwargs):
        out = real_concat(*args, **kwargs)
        if isinstance(out, pd.DataFrame):
            sizes.append(len(out))
        return out

    def whole(*args, **kwargs):
        raise AssertionError("read_drops holds every drop at once")

    monkeypatch.setattr(pd, "concat", concat_spy)
    monkeypatch.setattr("edgetrain.data.drops.read_drops", whole)
    assert project.cli("prepare") == 0
    rows = sum(yaml.safe_load((project.prepared / "manifest.json").read_text())["rows"].values())
    assert sizes  # the spy saw the partition buffers
    assert max(sizes) <= largest_drop + 20 < rows
