"""The contract's readers refuse bad files with one line naming the file (and line), never a traceback,
and its git reads answer ``None`` instead of raising when a revision lacks the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.conftest import subprocess_env

from edgetrain.contract import dvcfiles, git, hashing
from edgetrain.contract.yamlfile import parse_yaml, read_yaml
from edgetrain.errors import ConfigError, DataError, IntegrityError

LOCK = """schema: '2.0'
stages:
  train:
    outs:
    - path: artifacts/model/model.ubj
      md5: 0123456789abcdef0123456789abcdef
      size: 12
  evaluate:
    deps:
    - path: artifacts/prepared/test.parquet
      md5: fedcba9876543210fedcba9876543210.dir
    outs:
    - path: artifacts/metrics.json
      md5: 11111111111111111111111111111111
"""


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: line 3: ") as err:
        read_yaml(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        read_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="x: top level must be a mapping, got list"):
        parse_yaml("- a\n", "x")
    assert parse_yaml(None, "x") == {}
    with pytest.raises(IntegrityError, match="where: line 1"):
        parse_yaml("{", "where", error=IntegrityError)


def test_lock_reader_outs_deps_and_refusals(tmp_path: Path) -> None:
    lock = dvcfiles.parse_lock(LOCK, "dvc.lock@abc")
    model = dvcfiles.locked_out(lock, "w", "artifacts/model/model.ubj")
    assert (model.md5, model.size) == ("0123456789abcdef0123456789abcdef", 12)
    assert dvcfiles.stage_deps(lock, "evaluate")["artifacts/prepared/test.parquet"].md5.endswith(".dir")
    assert set(dvcfiles.all_outs(lock)) == {"artifacts/model/model.ubj", "artifacts/metrics.json"}
    with pytest.raises(IntegrityError, match="w: the train stage records no md5 for other"):
        dvcfiles.locked_out(lock, "w", "other")
    with pytest.raises(IntegrityError, match=r"w: no 'prepare' stage"):
        dvcfiles.stage_outs(lock, "prepare", "w")
    with pytest.raises(IntegrityError, match=r"dvc\.lock: file not found"):
        dvcfiles.read_lock(tmp_path / "dvc.lock")
    (tmp_path / "dvc.lock").write_text("stages: [\n")
    with pytest.raises(IntegrityError, match=r"dvc\.lock: line 2"):
        dvcfiles.read_lock(tmp_path / "dvc.lock")


def test_data_dvc_reader(tmp_path: Path) -> None:
    assert dvcfiles.read_data_version(tmp_path / "data.dvc") is None
    (tmp_path / "data.dvc").write_text("outs:\n- md5: m.dir\ndeps:\n- path: remote://raw/x\n")
    assert dvcfiles.read_data_version(tmp_path / "data.dvc") == {"md5": "m.dir", "source": "remote://raw/x"}
    (tmp_path / "data.dvc").write_text("outs: [\n")
    with pytest.raises(DataError, match=r"data\.dvc: not a DVC file with outs\[0\]\.md5"):
        dvcfiles.read_data_version(tmp_path / "data.dvc")


def test_git_reads(tmp_path: Path) -> None:
    env = subprocess_env()
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x.invalid"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    (tmp_path / "a.txt").write_text("one\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "a"], check=True, env=env)
    (tmp_path / "a.txt").write_text("two\n")
    (tmp_path / "new.txt").write_text("new\n")
    assert git.show(tmp_path, "HEAD", "a.txt") == b"one\n"
    assert git.show(tmp_path, "HEAD", "missing.txt") is None
    head = git.rev_parse(tmp_path, "HEAD")
    assert head is not None
    assert len(head) == 40
    assert git.commit_of(tmp_path, "HEAD") == head
    assert git.commit_of(tmp_path, "no-such-ref") is None
    assert git.status(tmp_path) == ["a.txt", "new.txt"]
    assert git.status(tmp_path, untracked="no") == ["a.txt"]
    assert git.toplevel(tmp_path).resolve() == tmp_path.resolve()
    with pytest.raises(ConfigError, match="not inside a git repository"):
        git.toplevel(Path("/"))


def test_hashes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert hashing.file_md5(tmp_path / "f") == "900150983cd24fb0d6963f7d28e17f72"
    assert hashing.bytes_md5(b"abc") == "900150983cd24fb0d6963f7d28e17f72"
    assert hashing.md5_digest(tmp_path / "f") == (bytes.fromhex("900150983cd24fb0d6963f7d28e17f72"), 3)
    assert hashing.sha256_hex(b"abc").startswith("ba7816bf")
