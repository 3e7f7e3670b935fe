"""data-refresh's hand-off goes through pr-publish's check and renderer: ``report comment --refresh``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.report.test_handoff_and_comment import DVC_YAML, PARAMS, _model_md5

from edgetrain.cli import main
from edgetrain.contract.data_report import MARKER as REPORT_MARKER
from edgetrain.errors import ConfigError
from edgetrain.report.comment import MARKER
from edgetrain.report.handoff import load_handoff
from edgetrain.report.refresh_handoff import load_refresh_handoff

NEW_DATA = "0123456789abcdef0123456789abcdef.dir"
FEATURE = PARAMS["data"]["features"][0]


def _report() -> dict:
    numeric = {"kind": "numeric", "mean": 1.5, "std": 0.5, "missing_rate": 0.0, "edges": [1.0, 2.0]}
    labels = {"kind": "categorical", "missing_rate": 0.0, "counts": {"0": 90, "1": 10}}
    return {
        "rows": {"before": 100, "after": 160},
        "missing_target_rows": {"before": 0, "after": 0},
        "drops_added": {"2031-01-03.csv": 60},
        "drops_removed": [],
        "features": {
            FEATURE: {
                "before": {**numeric, "counts": {"0": 50, "1": 50}},
                "after": {**numeric, "counts": {"0": 80, "1": 80}},
                "psi": 0.0,
            }
        },
        "labels": {"before": labels, "after": labels, "psi": 0.0},
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The default branch as the hosted job checks it out: dvc.yaml, params, data.dvc, metrics."""
    work = tmp_path / "repo"
    (work / "artifacts").mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", "data.dvc", "dvc.lock"):
        shutil.copy(REPO_ROOT / name, work / name)
    for rel in ("artifacts/metrics.json", "artifacts/model/run.json", "artifacts/plots/roc.json"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, work / rel)
    return work


@pytest.fixture
def handoff(tmp_path: Path, repo: Path) -> Path:
    """A refresh's hand-off: the committed results re-recorded on a new data version, and its report."""
    folder = tmp_path / "handoff"
    (folder / "artifacts" / "plots").mkdir(parents=True)
    (folder / "artifacts" / "model").mkdir()
    old = yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["md5"]
    (folder / "dvc.lock").write_text((REPO_ROOT / "dvc.lock").read_text().replace(old, NEW_DATA))
    (folder / "data.dvc").write_text((REPO_ROOT / "data.dvc").read_text().replace(old, NEW_DATA))
    shutil.copy(REPO_ROOT / "artifacts" / "metrics.json", folder / "artifacts" / "metrics.json")
    shutil.copy(REPO_ROOT / "artifacts" / "plots" / "roc.json", folder / "artifacts" / "plots")
    shutil.copy(REPO_ROOT / "artifacts" / "model" / "run.json", folder / "artifacts" / "model")
    (folder / "model.md5").write_text(_model_md5() + "\n")
    (folder / "data-report.json").write_text(json.dumps(_report()))
    return folder


def _committed(repo: Path) -> bytes:
    return (repo / "data.dvc").read_bytes()


def test_a_refresh_handoff_is_checked_and_its_data_dvc_rewritten(handoff: Path, repo: Path) -> None:
    got, report = load_refresh_handoff(handoff, DVC_YAML, PARAMS, _committed(repo))
    assert yaml.safe_load(got.files["data.dvc"])["outs"][0]["md5"] == NEW_DATA
    assert got.files["data.dvc"].decode().splitlines()[0].startswith("md5: ")  # DVC's key order kept
    assert report["drops_added"] == {"2031-01-03.csv": 60}


def test_a_comment_line_in_data_dvc_never_reaches_the_branch(handoff: Path, repo: Path) -> None:
    path = handoff / "data.dvc"
    path.write_text(path.read_text() + "# leaked row 298.1,308.6,1551\n")
    got, _ = load_refresh_handoff(handoff, DVC_YAML, PARAMS, _committed(repo))
    assert b"leaked" not in got.files["data.dvc"]


def test_a_pull_requests_handoff_may_not_carry_the_refresh_files(handoff: Path) -> None:
    with pytest.raises(ConfigError, match=r"unexpected file in the hand-off: data-report\.json"):
        load_handoff(handoff, DVC_YAML, PARAMS)


def _edit_yaml(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _edit_report(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads((folder / "data-report.json").read_text())
    change(doc)
    (folder / "data-report.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: (f / "data-report.json").unlink(), "data-report.json: missing from the hand-off"),
        (lambda f: (f / "data.dvc").unlink(), "data.dvc: missing from the hand-off"),
        (
            lambda f: _edit_yaml(f / "data.dvc", lambda d: d["deps"][0].update(path="azure://elsewhere/x")),
            "deps: path 'azure://elsewhere/x' is not 'remote://stackhub-raw/raw'",
        ),
        (
            lambda f: _edit_yaml(f / "data.dvc", lambda d: d["outs"][0].update(md5="f" * 32 + ".dir")),
            "is not the data dvc.lock's stages read",
        ),
        (
            lambda f: _edit_yaml(f / "data.dvc", lambda d: d.update(cmd="curl evil")),
            "data.dvc: keys must be among",
        ),
        (
            lambda f: _edit_yaml(f / "data.dvc", lambda d: d["outs"][0].update(note="row 1,2,3")),
            "data.dvc: outs: note: unexpected key or value",
        ),
        (lambda f: (f / "data-report.json").write_text("{"), "data-report.json: not valid JSON"),
        (
            lambda f: _edit_report(
                f, lambda d: d["features"].update({"298.1,308.6": d["features"][FEATURE]})
            ),
            "not one of params.yaml data.features",
        ),
        (
            lambda f: _edit_report(f, lambda d: d.update(rows_sample=[[298.1, 308.6, 1551]])),
            "data-report.json: keys must be among",
        ),
        (
            lambda f: _edit_report(f, lambda d: d["drops_added"].update({"x.csv": "298.1,308.6"})),
            "drops_added: not a count",
        ),
        (
            lambda f: _edit_report(f, lambda d: d["labels"].update(psi="high")),
            "labels.psi: not a finite number",
        ),
        (
            lambda f: (f / "data-report.json").write_text(" " * (1024 * 1024 + 1)),
            "data-report.json: larger than",
        ),
    ],
)
def test_anything_off_schema_is_refused_with_one_line(
    handoff: Path, repo: Path, mutate, message: str
) -> None:  # type: ignore[no-untyped-def]
    mutate(handoff)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_refresh_handoff(handoff, DVC_YAML, PARAMS, _committed(repo))
    assert "\n" not in str(caught.value)


def test_a_linked_report_is_refused(handoff: Path, repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(_report()))
    (handoff / "data-report.json").unlink()
    (handoff / "data-report.json").symlink_to(outside)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_refresh_handoff(handoff, DVC_YAML, PARAMS, _committed(repo))


def _cli(handoff: Path, repo: Path, out: Path, *extra: str) -> int:
    return main([
        "report", "comment", "--handoff", str(handoff), "--repo", str(repo), "--base-ref", "main",
        "--out", str(out / "comment.md"), "--changed", str(out / "changed.json"),
        "--commit-dir", str(out / "commit"), *extra,
    ])  # fmt: skip


def test_cli_renders_comment_and_body_and_writes_the_changed_files(
    handoff: Path, repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert _cli(handoff, repo, out, "--refresh", "--body", str(out / "body.md")) == 0
    body = (out / "body.md").read_text()
    comment = (out / "comment.md").read_text()
    assert body.startswith(REPORT_MARKER)
    assert "| 2031-01-03.csv | 60 |" in body
    assert comment.startswith(MARKER)
    assert "### Metrics (test split) vs `main`" in comment
    assert comment.rstrip().endswith(body.rstrip())
    changed = json.loads((out / "changed.json").read_text())
    assert changed == ["data.dvc", "dvc.lock"]  # metrics, plots and run.json equal the branch's
    for name in changed:
        assert yaml.safe_load((out / "commit" / name).read_text())


def test_cli_refuses_a_bad_refresh_handoff_and_writes_nothing(
    handoff: Path, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _edit_report(handoff, lambda d: d["features"].update({"evil": d["features"][FEATURE]}))
    assert _cli(handoff, repo, out, "--refresh", "--body", str(out / "body.md")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "features.evil: not one of params.yaml data.features" in err[0]
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.parametrize("extra", [["--refresh"], ["--body", "b.md"], ["--refresh", "--head", "h"]])
def test_cli_refresh_and_head_are_exclusive(
    handoff: Path, repo: Path, tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(handoff, repo, tmp_path, *extra) == 2
    assert "--head for a pull request's run, or --refresh with --body" in capsys.readouterr().err
