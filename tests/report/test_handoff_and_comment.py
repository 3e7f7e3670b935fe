"""The privileged job reads the edge runner's hand-off through a fixed schema and renders the comment."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.errors import ConfigError
from edgetrain.report import comment
from edgetrain.report.handoff import load_handoff, read_metrics, read_plot

DVC_YAML = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def _model_md5() -> str:
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())
    return next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith("model.ubj"))


@pytest.fixture
def handoff(tmp_path: Path) -> Path:
    folder = tmp_path / "handoff"
    (folder / "artifacts" / "plots").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dvc.lock", folder / "dvc.lock")
    shutil.copy(REPO_ROOT / "artifacts" / "metrics.json", folder / "artifacts" / "metrics.json")
    for name in ("roc", "precision_recall", "importance", "confusion"):
        shutil.copy(REPO_ROOT / "artifacts" / "plots" / f"{name}.json", folder / "artifacts" / "plots")
    (folder / "model.md5").write_text(_model_md5() + "\n")
    return folder


def test_committed_results_pass_the_schema(handoff: Path) -> None:
    got = load_handoff(handoff, DVC_YAML, PARAMS)
    assert got.model_md5 == _model_md5()
    assert set(got.plots) == {"roc", "precision_recall", "importance", "confusion"}
    assert got.metrics["auc"] > 0.5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: (f / "artifacts" / "rows.csv").write_text("a,b\n1,2\n"), "unexpected file"),
        (lambda f: (f / "artifacts" / "metrics.json").write_text('{"auc": "0.9 leaked row 1,2,3"}'), "auc"),
        (lambda f: (f / "artifacts" / "metrics.json").write_text('{"row 17: 3.2,1.1": 1}'), "not a metric"),
        (lambda f: (f / "model.md5").write_text("0" * 32), "not the model md5"),
        (
            lambda f: (f / "artifacts" / "plots" / "importance.json").write_text(
                json.dumps({"importance": [{"feature": "298.1,308.6,1551", "gain": 1.0}]})
            ),
            "data.features",
        ),
        (
            lambda f: (f / "artifacts" / "plots" / "roc.json").write_text(
                json.dumps({"roc": [{"fpr": 0.1, "tpr": 0.2, "row": "1,2,3"}]})
            ),
            "keys must be among",
        ),
        (
            lambda f: (f / "dvc.lock").write_text(
                re.sub(r"cmd: [^\n]*train\n", "cmd: curl evil\n", (f / "dvc.lock").read_text(), count=1)
            ),
            "cmd: differs from dvc.yaml",
        ),
        (
            lambda f: (f / "dvc.lock").write_text(
                (f / "dvc.lock").read_text().replace("  prepare:", "  exfil:")
            ),
            "not a stage of dvc.yaml",
        ),
        (lambda f: (f / "dvc.lock").unlink(), "dvc.lock: missing"),
    ],
)
def test_anything_off_schema_is_refused_with_one_line(handoff: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    mutate(handoff)
    with pytest.raises(ConfigError, match=message):
        load_handoff(handoff, DVC_YAML, PARAMS)


def test_lock_params_must_match_params_yaml(handoff: Path) -> None:
    changed = {**PARAMS, "train": {**PARAMS["train"], "eta": 0.5}}
    with pytest.raises(ConfigError, match=r"differs from params\.yaml"):
        load_handoff(handoff, DVC_YAML, changed)


def test_null_metric_is_left_out() -> None:
    assert read_metrics({"auc": None, "f1": 0.5}) == {"f1": 0.5}


def test_numbers_must_be_finite() -> None:
    with pytest.raises(ConfigError, match="finite"):
        read_metrics({"auc": float("nan")})
    with pytest.raises(ConfigError, match="finite"):
        read_plot("roc", {"roc": [{"fpr": True, "tpr": 1}]}, [], "roc")


def test_comment_diff_params_and_charts(handoff: Path) -> None:
    got = load_handoff(handoff, DVC_YAML, PARAMS)
    head_params = {**PARAMS, "train": {**PARAMS["train"], "max_depth": 4}}
    text = comment.render(
        base_ref="main",
        base_metrics={**got.metrics, "auc": got.metrics["auc"] - 0.01},
        head_metrics=got.metrics,
        base_params=PARAMS,
        head_params=head_params,
        model_md5=got.model_md5,
        plots=got.plots,
        lock_changed=True,
    )
    assert text.startswith(comment.MARKER)
    assert "| auc |" in text
    assert "+0.0100" in text
    assert "| train.max&#95;depth | 6 | 4 |" in text
    assert text.count("```mermaid") == 3  # ROC, precision-recall, importance (no residuals for binary)
    assert got.model_md5 in text
    roc_line = next(line for line in text.splitlines() if line.startswith("  line ["))
    assert len(roc_line.split(",")) == len(comment.GRID)


def test_resample_is_a_monotone_step_curve() -> None:
    points = [
        {"fpr": 0.0, "tpr": 0.0},
        {"fpr": 0.0, "tpr": 0.5},
        {"fpr": 0.5, "tpr": 0.9},
        {"fpr": 1.0, "tpr": 1.0},
    ]
    values = comment.resample(points, "fpr", "tpr")
    assert values[0] == 0.5
    assert values[10] == 0.9
    assert values[-1] == 1.0
    assert values == sorted(values)


def test_what_is_committed_is_rebuilt_from_the_parsed_values(handoff: Path) -> None:
    honest = load_handoff(handoff, DVC_YAML, PARAMS).files
    assert honest["dvc.lock"] == (REPO_ROOT / "dvc.lock").read_bytes()  # DVC's own layout, byte for byte
    lock = handoff / "dvc.lock"
    lock.write_text(
        "# 298.1,308.6,1551 a raw row\n" + lock.read_text().replace("  train:\n", "  train:  # row\n")
    )
    got = load_handoff(handoff, DVC_YAML, PARAMS)
    assert b"#" not in got.files["dvc.lock"]
    assert got.files["dvc.lock"] == honest["dvc.lock"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("schema: '2.0'\n", "schema: '2.0'\nextra: 298.1,308.6\n"), "top-level keys"),
        (lambda t: t.replace("  train:\n", "  train:\n    note: 298.1,308.6\n", 1), "keys must be among"),
        (lambda t: t.replace("      hash: md5\n", "      hash: md5\n      row: x\n", 1), "row: unexpected"),
    ],
)
def test_unknown_keys_in_the_lock_are_refused(handoff: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    lock = handoff / "dvc.lock"
    lock.write_text(mutate(lock.read_text()))
    with pytest.raises(ConfigError, match=message):
        load_handoff(handoff, DVC_YAML, PARAMS)


def test_links_oversized_and_rewritten_files_are_refused(handoff: Path, tmp_path: Path) -> None:
    metrics = handoff / "artifacts" / "metrics.json"
    original = metrics.read_text()
    metrics.write_text(original.replace("\n", "\n ", 1))  # same values, other bytes
    with pytest.raises(ConfigError, match="not in the form the pipeline writes"):
        load_handoff(handoff, DVC_YAML, PARAMS)
    data = json.loads(original)
    data["auc"] = 0.999
    metrics.write_text(
        json.dumps(data, indent=2, sort_keys=True) + "\n"
    )  # canonical, but not what DVC hashed
    with pytest.raises(ConfigError, match=r"md5 is not the one dvc\.lock records"):
        load_handoff(handoff, DVC_YAML, PARAMS)
    metrics.write_text(original)
    secret = tmp_path / "secret.json"
    secret.write_text(original)
    roc = handoff / "artifacts" / "plots" / "roc.json"
    roc.unlink()
    roc.symlink_to(secret)
    with pytest.raises(ConfigError, match="links are refused"):
        load_handoff(handoff, DVC_YAML, PARAMS)
    roc.unlink()
    roc.write_text(" " * (2 * 1024 * 1024))
    with pytest.raises(ConfigError, match="larger than"):
        load_handoff(handoff, DVC_YAML, PARAMS)


def _cli(handoff: Path, head: Path, out: Path) -> int:
    from edgetrain.cli import main

    return main([
        "report", "comment", "--handoff", str(handoff), "--head", str(head), "--base-ref", "main",
        "--repo", str(REPO_ROOT), "--out", str(out / "c.md"), "--changed", str(out / "changed.json"),
        "--commit-dir", str(out / "commit"),
    ])  # fmt: skip


def test_cli_reads_the_pull_requests_params_through_the_params_model(
    handoff: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head, out = tmp_path / "head", tmp_path / "out"
    head.mkdir()
    out.mkdir()
    params = {**PARAMS, "note": "<img src=x>"}
    (head / "params.yaml").write_text(yaml.safe_dump(params))
    assert _cli(handoff, head, out) != 0
    assert "note" in capsys.readouterr().err
    assert not list(out.iterdir())  # nothing written
    (head / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    assert _cli(handoff, head, out) == 0
    changed = json.loads((out / "changed.json").read_text())
    assert "dvc.lock" in changed  # the head holds no dvc.lock: every file is written
    assert (out / "commit" / "dvc.lock").read_bytes() == (REPO_ROOT / "dvc.lock").read_bytes()
    (head / "dvc.lock").write_bytes((REPO_ROOT / "dvc.lock").read_bytes())
    assert _cli(handoff, head, out) == 0
    assert "dvc.lock" not in json.loads((out / "changed.json").read_text())
