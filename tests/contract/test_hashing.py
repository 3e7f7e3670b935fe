"""``path_md5`` gives the md5 DVC records, for a file and for a directory (``<md5>.dir``): the quality gate
checks the partitioned test split (a directory of Parquet parts) against ``dvc.lock`` with it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from tests.conftest import subprocess_env

from edgetrain.contract.hashing import path_md5


def _dvc_add(repo: Path, target: str) -> str:
    env = subprocess_env()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True, env=env, timeout=120)
    subprocess.run(["dvc", "add", "-q", target], cwd=repo, check=True, env=env, timeout=120)
    return yaml.safe_load((repo / f"{target}.dvc").read_text())["outs"][0]["md5"]


def test_directory_md5_is_what_dvc_records(tmp_path: Path) -> None:
    split = tmp_path / "test.parquet"
    (split / "nested").mkdir(parents=True)
    (split / "part-00001.parquet").write_bytes(b"second part")
    (split / "part-00000.parquet").write_bytes(b"first part")
    (split / "nested" / "part-00002.parquet").write_bytes(b"third")
    assert path_md5(split) == _dvc_add(tmp_path, "test.parquet")
    assert path_md5(split).endswith(".dir")


def test_file_md5_is_what_dvc_records(tmp_path: Path) -> None:
    (tmp_path / "model.ubj").write_bytes(b"\x00model bytes\x01")
    assert path_md5(tmp_path / "model.ubj") == _dvc_add(tmp_path, "model.ubj")


def test_a_changed_part_changes_the_directory_md5(tmp_path: Path) -> None:
    split = tmp_path / "split"
    split.mkdir()
    (split / "part-00000.parquet").write_bytes(b"rows")
    before = path_md5(split)
    (split / "part-00000.parquet").write_bytes(b"other rows")
    assert path_md5(split) != before
