"""`edgetrain refresh changed`: new data means another data version (outs md5), not another file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

from edgetrain.cli import main

DATA_DVC = (REPO_ROOT / "data.dvc").read_text()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "data.dvc").write_text(DATA_DVC)
    subprocess.run(["git", "-C", str(tmp_path), "add", "data.dvc"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "data"], check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _changed(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    assert main(["refresh", "changed"]) == 0
    out = capsys.readouterr()
    return out.out.strip(), out.err.strip()


def test_same_data_new_source_etags_is_no_new_drop(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "data.dvc"
    path.write_text(DATA_DVC.replace("30542db222f1f784962b89aec3ef78f0", "01af42b863b81774dee032417a7e4c51"))
    out, err = _changed(capsys)
    assert out == "false"
    assert err.startswith("no new drops")


def test_new_data_version_is_a_change(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "data.dvc").write_text(
        DATA_DVC.replace("e1a158b0a092d9e10eeb705901520d3c", "850462de5259f947b3ae82d4525ae7da")
    )
    out, err = _changed(capsys)
    assert out == "true"
    assert "e1a158b0a092d9e10eeb705901520d3c.dir -> 850462de5259f947b3ae82d4525ae7da.dir" in err


def test_first_import_is_a_change(tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "-C", str(repo), "rm", "-q", "--cached", "data.dvc"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "none"], check=True)
    assert _changed(capsys)[0] == "true"
