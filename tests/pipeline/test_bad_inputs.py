"""Every bad input ends in one ``edgetrain: error:`` line naming the file/column, and writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from edgetrain.errors import DataError
from edgetrain.pipeline import splits
from edgetrain.pipeline import train as train_mod
from edgetrain.pipeline.engines import common as engine_common


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("edgetrain: error: ")
    return err[0]


def assert_nothing_written(project) -> None:
    artifacts = project.root / "artifacts"
    assert not project.prepared.exists()
    leftovers = [p.name for p in artifacts.rglob("*")] if artifacts.exists() else []
    assert leftovers == []


def bad_drop(project, frame_for, edit) -> str:
    frame = frame_for(project.task, rows=100, seed=3).astype({"x1": object})
    project.write_drop("2024-01-03.csv", edit(frame))
    return "2024-01-03.csv"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda f: f.rename(columns={"y": "label"}), "missing target column 'y'"),
        (lambda f: f.drop(columns=["x2"]), "missing feature column 'x2'"),
        (lambda f: f.drop(columns=["kind"]), "missing feature column 'kind'"),
        (
            lambda f: f.assign(x1=["1.5"] * 40 + ["abc"] + ["2"] * 59),
            "column 'x1' must be numeric; line 42 has 'abc'",
        ),
        (lambda f: f.assign(y=[np.nan] * 3 + [1] * 97), "target column 'y' is blank in 3 row(s)"),
    ],
    ids=[
        "renamed-target",
        "missing-numeric-feature",
        "missing-categorical-feature",
        "wrong-dtype",
        "nan-labels",
    ],
)
def test_bad_drop_names_file_and_column(binary, frame_for, capsys, edit, expected) -> None:
    name = bad_drop(binary, frame_for, edit)
    assert binary.cli("prepare") == DataError.exit_code
    line = error_line(capsys)
    assert name in line
    assert expected in line
    assert_nothing_written(binary)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty drop"),
        (b"x1,x2,kind,extra,y\n", "empty drop (header only"),
        (bytes(range(256)) * 8, "corrupt CSV: binary data"),
        (b"\x89\xff\xfe\x80" * 100 + b"\n1,2\n", "corrupt CSV"),
        (
            b"x1,x2,kind,extra,y\n0.1,2,a,0,1\n0.2,3,b,1,0,7,7\n",
            "corrupt CSV: Expected 5 columns, got 7",
        ),
        (b"x1,x2,kind,extra,y\n0.1,2,a,0,1\n0.2,3,b\n", "corrupt CSV: Expected 5 columns, got 3"),
        (
            b"x1,x2,kind,extra,y\n0.1,2,a,0,1\n0.2,3,\xff\xfe,1,0\n",
            "corrupt CSV: column 'kind' is not valid UTF-8 text",
        ),
        (
            b"x1,x2,kind,extra,y\n0.1,2,a,0,1\n\xff\xfe,3,b,1,0\n",
            "corrupt CSV: column 'x1' is not valid UTF-8",
        ),
    ],
    ids=[
        "zero-bytes",
        "header-only",
        "binary-garbage",
        "not-utf8",
        "ragged-rows",
        "short-row",
        "bad-utf8-text",
        "bad-utf8-number",
    ],
)
def test_broken_file_is_named(binary, capsys, content, expected) -> None:
    binary.write_drop("2024-01-03.csv", content)
    assert binary.cli("prepare") == 3
    line = error_line(capsys)
    assert "2024-01-03.csv" in line
    assert expected in line
    assert_nothing_written(binary)


def test_single_class_names_the_column(make_project, frame_for, capsys) -> None:
    project = make_project("binary", drops=1)
    frame = frame_for("binary").assign(y=1)
    project.write_drop("2024-01-01.csv", frame)
    assert project.cli("prepare") == 3
    assert "target column 'y' has a single class (1)" in error_line(capsys)
    assert_nothing_written(project)


def test_binary_with_three_classes(make_project, frame_for, capsys) -> None:
    project = make_project("binary", drops=1)
    project.write_drop("2024-01-01.csv", frame_for("multiclass"))
    assert project.cli("prepare") == 3
    assert "target column 'y' has 3 classes; task binary needs exactly 2" in error_line(capsys)


def test_regression_target_must_be_numeric(make_project, frame_for, capsys) -> None:
    project = make_project("regression")
    project.write_drop("2024-01-03.csv", frame_for("multiclass", rows=50))
    assert project.cli("prepare") == 3
    line = error_line(capsys)
    assert "2024-01-03.csv" in line
    assert "target column 'y' must be numeric" in line


def test_unseen_label_in_test_split(make_project, frame_for, capsys) -> None:
    project = make_project("multiclass", drops=1)
    base = frame_for("multiclass")
    seed, split = 7, (0.2, 0.2)
    # A row with a new label whose content hash sends it to the test split.
    for i in range(1000):
        row = pd.DataFrame({"kind": ["a"], "x1": [float(i)], "x2": [1.0], "y": ["rare"]})
        if splits.assign_splits(row, seed, *split)[0] == 2:
            break
    project.write_drop("2024-01-02.csv", row.assign(extra=0)[base.columns])
    assert project.cli("prepare") == 3
    assert "unseen label 'rare' in target column 'y'" in error_line(capsys)
    assert_nothing_written(project)


def test_missing_data_dir_and_no_drops(binary, capsys) -> None:
    for path in binary.data.iterdir():
        path.unlink()
    assert binary.cli("prepare") == 3
    assert "no *.csv drops" in error_line(capsys)
    binary.data.rmdir()
    assert binary.cli("prepare") == 3
    assert "data directory not found" in error_line(capsys)


def test_failed_prepare_keeps_previous_outputs(binary, capsys) -> None:
    assert binary.cli("prepare") == 0
    before = {
        p.relative_to(binary.prepared): p.read_bytes() for p in binary.prepared.rglob("*") if p.is_file()
    }
    capsys.readouterr()
    binary.write_drop("2024-01-03.csv", b"")
    assert binary.cli("prepare") == 3
    error_line(capsys)
    assert {
        p.relative_to(binary.prepared): p.read_bytes() for p in binary.prepared.rglob("*") if p.is_file()
    } == before
    assert sorted(p.name for p in binary.prepared.parent.iterdir()) == ["prepared"]


def test_crash_while_writing_leaves_nothing(binary, monkeypatch) -> None:
    calls = []
    real = pd.DataFrame.to_parquet

    def flaky(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    with pytest.raises(OSError, match="disk full"):
        binary.cli("prepare")
    assert_nothing_written(binary)


def test_train_crash_writes_neither_model_file(binary, monkeypatch) -> None:
    assert binary.cli("prepare") == 0

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(train_mod, "write_json_atomic", broken)
    with pytest.raises(OSError, match="disk full"):
        binary.cli("train")
    assert not binary.model.exists() or list(binary.model.iterdir()) == []
    assert sorted(p.name for p in binary.model.parent.iterdir()) in (["prepared"], ["model", "prepared"])


def test_train_and_evaluate_need_their_inputs(binary, capsys) -> None:
    assert binary.cli("train") == 3
    assert "manifest.json: not found (run `edgetrain prepare` first)" in error_line(capsys)
    assert binary.cli("evaluate") == 3
    assert "metadata.json: not found (run `edgetrain train` first)" in error_line(capsys)
    assert not binary.metrics.exists()
    assert not binary.plots.exists()


def test_task_changed_since_prepare(binary, capsys) -> None:
    assert binary.cli("prepare") == 0
    binary.task = "regression"
    binary.write_params()
    assert binary.cli("train") == 3
    assert "prepared for task 'binary' but params say 'regression'" in error_line(capsys)


def test_cuda_without_gpu_is_one_clear_line(binary, capsys) -> None:
    assert binary.cli("prepare") == 0
    capsys.readouterr()
    binary.write_params(device="cuda")
    engine_common._cuda_problem.cache_clear()
    problem = engine_common._cuda_problem()
    code = binary.cli("train")
    if problem is None:  # a machine with a usable GPU trains on it
        assert code == 0
        assert json.loads((binary.model / "metadata.json").read_text())["params"]["device"] == "cuda"
    else:
        assert code == 2
        line = error_line(capsys)
        assert "train.device: cuda requested but" in line
        assert problem in line
        assert not binary.model.exists()


def test_unknown_objective_is_a_config_error(binary, capsys) -> None:
    params = binary.params.read_text().replace("binary:logistic", "multi:softprob")
    binary.params.write_text(params)
    assert binary.cli("prepare") == 2
    assert "train.objective 'multi:softprob' does not fit task 'binary'" in error_line(capsys)


def test_evaluate_crash_writes_no_plots_or_metrics(binary, monkeypatch) -> None:
    from edgetrain.pipeline import evaluate as evaluate_mod

    for stage in ("prepare", "train"):
        assert binary.cli(stage) == 0
    calls = []
    real = evaluate_mod.write_json_atomic

    def flaky(path, data, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, data, **kwargs)

    monkeypatch.setattr(evaluate_mod, "write_json_atomic", flaky)
    with pytest.raises(OSError, match="disk full"):
        binary.cli("evaluate")
    assert not binary.plots.exists()
    assert not binary.metrics.exists()
    assert sorted(p.name for p in binary.plots.parent.iterdir()) == ["model", "prepared"]


def test_malformed_data_dvc_is_named(binary, capsys) -> None:
    (binary.root / "data.dvc").write_text("outs: []\n", encoding="utf-8")
    assert binary.cli("prepare") == 3
    assert "data.dvc: not a DVC file with outs[0].md5" in error_line(capsys)


def test_blank_cell_in_integer_column_is_a_missing_value(binary, frame_for, capsys) -> None:
    """An integer feature with a blank cell reads as float with NaN (XGBoost's missing value)."""
    frame = frame_for("binary", rows=100, seed=3).assign(x2=np.arange(100))
    text = frame.to_csv(index=False, lineterminator="\n").splitlines()
    cells = text[5].split(",")
    cells[frame.columns.get_loc("x2")] = ""
    text[5] = ",".join(cells)
    binary.write_drop("2024-01-03.csv", "\n".join(text) + "\n")
    assert binary.cli("prepare") == 0
    parts = [pd.read_parquet(binary.prepared / f"{n}.parquet") for n in ("train", "valid", "test")]
    assert sum(int(p["x2"].isna().sum()) for p in parts) == 1
    assert all(p["x2"].dtype == np.float64 for p in parts)
    assert binary.cli("train") == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("x1", "inf"),
        ("x1", "-inf"),
        ("x2", "1e+39"),  # finite in float64, inf in XGBoost's float32
        ("y", "inf"),
    ],
)
def test_infinite_or_out_of_range_number_is_named(make_project, frame_for, capsys, column, value) -> None:
    role = "target" if column == "y" else "numeric feature"
    project = make_project("regression")
    frame = frame_for("regression", rows=100, seed=3).astype({column: object})
    frame.loc[41, column] = value
    project.write_drop("2024-01-03.csv", frame)
    assert project.cli("prepare") == 3
    line = error_line(capsys)
    assert "2024-01-03.csv" in line
    assert f"{role} column {column!r} must be finite and within float32 range" in line
    assert f"line 43 has {value!r}" in line
    assert_nothing_written(project)


@pytest.mark.parametrize(
    ("content", "line_no", "column"),
    [
        ('x1,x2,kind,extra,y\n0.1,2,a,0,1\n0.2,3,"b,1,0\n0.3,4,c,2,1\n0.4,5,"d""e",3,0\n', 3, "kind"),
        ('x1,x2,kind,extra,y\n0.1,2,a,0,1\n0.2,3,b,1,0\n"0.3,4,c,2,1\n', 4, "x1"),
        ('x1,x2,kind,extra,y\n0.1,2,"a,b",0,1\n0.2,3,b,"1,0\n', 3, "extra"),  # a column params do not name
    ],
    ids=["swallows-lines", "last-line", "unused-column"],
)
def test_unbalanced_quote_names_the_line(binary, capsys, content, line_no, column) -> None:
    binary.write_drop("2024-01-03.csv", content)
    assert binary.cli("prepare") == 3
    line = error_line(capsys)
    assert "2024-01-03.csv: corrupt CSV: " in line
    assert f'line {line_no} has an unbalanced quote (") in column {column!r}' in line
    assert_nothing_written(binary)


def test_quoted_values_are_fine(binary) -> None:
    binary.write_drop("2024-01-03.csv", 'x1,x2,kind,extra,y\n0.1,2,"a",0,1\n"0.2",3,"b ""x""",1,0\n')
    assert binary.cli("prepare") == 0


def test_edge_config_typo_fails_every_stage(binary, capsys) -> None:
    """Each stage validates config/edge.yaml too, before touching data or outputs."""
    binary.edge.write_text(binary.edge.read_text().replace("raw_container:", "raw_containr:", 1))
    for stage in ("prepare", "train", "evaluate"):
        assert binary.cli(stage) == 2
        line = error_line(capsys)
        assert f"{binary.edge}: storage.raw_containr: unknown key" in line
    assert not (binary.root / "artifacts").exists()


def test_blank_category_is_a_missing_value(binary) -> None:
    """Blank and ``NA`` cells in a categorical feature are missing, not categories named '' or 'NA'."""
    rows = "".join(f"0.{i},{i},{kind},{i},{i % 2}\n" for i, kind in enumerate(["", "NA", "a", "b"] * 3))
    binary.write_drop("2024-01-03.csv", "x1,x2,kind,extra,y\n" + rows)
    assert binary.cli("prepare") == 0
    manifest = json.loads((binary.prepared / "manifest.json").read_text())
    assert manifest["features"][0]["categories"] == ["a", "b", "c"]
    parts = [pd.read_parquet(binary.prepared / f"{n}.parquet") for n in ("train", "valid", "test")]
    assert sum(int(p["kind"].isna().sum()) for p in parts) == 6
