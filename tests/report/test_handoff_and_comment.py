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
    assert "| train.max_depth | `6` | `4` |" in text
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
