"""``data.missing_target``: blank targets refused for every file with line numbers, or dropped and counted.

Both prepare paths (the streamed stage and the in-memory reference) behave the same, and a refusal leaves
the outputs of the last good run as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.pipeline import reference
from tests.pipeline.conftest import params_dict
from tests.pipeline.test_prepare_stream import tree

from edgetrain.cli import main
from edgetrain.config.params import load_params
from edgetrain.contract.dvcfiles import read_data_version
from edgetrain.data.drops import read_drops, read_drops_counted
from edgetrain.errors import ConfigError, DataError


def blank_targets(frame: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    out = frame.astype({"y": object}).copy()
    out.loc[out.index[rows], "y"] = np.nan
    return out


def set_mode(project, mode: str) -> None:  # type: ignore[no-untyped-def]
    params = params_dict(project.task)
    params["data"]["missing_target"] = mode
    project.params.write_text(yaml.safe_dump(params), encoding="utf-8")


def in_memory(project, out: Path) -> dict:  # type: ignore[no-untyped-def]
    params = load_params(project.params)
    names, frame, dropped = read_drops_counted(project.data, params.data, params.task)
    prepared = reference.prepare(
        frame,
        params,
        drops=names,
        data_version=read_data_version(project.root / "data.dvc"),
        missing_target=dropped,
    )
    reference.write_prepared(prepared, out, params.partition_rows)
    return prepared.manifest


def error_line(capsys) -> str:  # type: ignore[no-untyped-def]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_error_lists_every_file_and_leaves_the_last_outputs(binary, frame_for, capsys) -> None:  # type: ignore[no-untyped-def]
    assert binary.cli("prepare") == 0
    before = tree(binary.prepared)
    frame = frame_for("binary", rows=100, seed=3)
    binary.write_drop("2024-01-03.csv", blank_targets(frame, [0, 4]))
    binary.write_drop(
        "2024-01-04.csv", blank_targets(frame_for("binary", rows=100, seed=4), list(range(20, 35)))
    )

    assert binary.cli("prepare") == DataError.exit_code
    line = error_line(capsys)
    assert line.startswith("edgetrain: error: target column 'y' is blank in 17 row(s): ")
    assert "2024-01-03.csv lines 2, 6 (2 rows)" in line
    assert "2024-01-04.csv lines 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 and 5 more (15 rows)" in line
    assert "2024-01-01.csv" not in line
    assert "data.missing_target: drop" in line
    assert tree(binary.prepared) == before  # the last good outputs, untouched

    params = load_params(binary.params)  # the in-memory reference refuses with the same line
    with pytest.raises(DataError) as err:
        read_drops(binary.data, params.data, params.task)
    assert line == f"edgetrain: error: {err.value}"


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_drop_leaves_the_rows_out_and_counts_them(make_project, frame_for, tmp_path, task) -> None:  # type: ignore[no-untyped-def]
    """Prepared data equals that of the same drops with those rows deleted; only the count differs."""
    project = make_project(task)
    clean = make_project(task)
    set_mode(project, "drop")
    set_mode(clean, "drop")
    extra = frame_for(task, rows=120, seed=8)
    blank = [0, 5, 6, 119]
    project.write_drop("2024-01-03.csv", blank_targets(extra, blank))
    clean.write_drop("2024-01-03.csv", extra.drop(index=extra.index[blank]))

    assert project.cli("prepare") == 0
    assert clean.cli("prepare") == 0
    streamed = tree(project.prepared)
    manifest = json.loads(streamed.pop("manifest.json"))
    clean_tree = tree(clean.prepared)
    clean_manifest = json.loads(clean_tree.pop("manifest.json"))
    assert streamed == clean_tree
    assert manifest["missing_target_dropped"] == len(blank)
    assert clean_manifest["missing_target_dropped"] == 0
    assert {k: v for k, v in manifest.items() if k != "missing_target_dropped"} == {
        k: v for k, v in clean_manifest.items() if k != "missing_target_dropped"
    }

    reference = in_memory(project, tmp_path / "in-memory")  # the in-memory core: the same bytes
    assert reference["missing_target_dropped"] == len(blank)
    assert tree(tmp_path / "in-memory") == tree(project.prepared)

    assert project.cli("train") == 0
    assert project.cli("evaluate") == 0
    metrics = json.loads(project.metrics.read_text())
    assert metrics["missing_target_dropped"] == len(blank)


def test_missing_target_is_error_or_drop(binary, capsys) -> None:  # type: ignore[no-untyped-def]
    set_mode(binary, "skip")
    assert binary.cli("prepare") == ConfigError.exit_code
    line = error_line(capsys)
    assert f"{binary.params}: data.missing_target: Input should be 'error' or 'drop'" in line
    assert not binary.prepared.exists()


@pytest.mark.parametrize(("key", "name"), [("features", "x1[m]"), ("target", "y<5"), ("features", "]")])
def test_params_refuse_column_names_xgboost_refuses(binary, capsys, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    params = params_dict("binary")
    if key == "features":
        params["data"]["features"] = ["kind", name, "x2"]
        where = "data.features[1]"
    else:
        params["data"]["target"] = name
        where = "data.target"
    binary.params.write_text(yaml.safe_dump(params), encoding="utf-8")
    assert binary.cli("prepare") == ConfigError.exit_code
    line = error_line(capsys)
    assert line.startswith(f"edgetrain: error: {binary.params}: {where}: column {name!r} contains ")
    assert "XGBoost refuses column names containing [, ] or <" in line
    assert not binary.prepared.exists()
    assert main(["doctor", "--repo", str(binary.root), "--params", str(binary.params)]) == 1
    assert f"FAIL config: {binary.params}: {where}: column {name!r}" in capsys.readouterr().out


def test_the_rule_is_xgboosts() -> None:
    """Every name the params accept, XGBoost accepts; each one they refuse, XGBoost refuses too."""
    import xgboost as xgb

    from edgetrain.config.params import name_problem

    for name in ["a", "temp (C)", "x,y", "é", "a>b", "a[", "b]", "<c", "ok_name"]:
        matrix = xgb.DMatrix(np.zeros((1, 1)))
        try:
            matrix.feature_names = [name]
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == (name_problem(name) is None), name
