"""``edgetrain release verify``: stale dvc.lock and md5 mismatches stop a release with one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgetrain.release.verify import ReleaseError, check_md5s, describe_status

MODEL, META = "artifacts/model/model.ubj", "artifacts/model/metadata.json"


def test_clean_status_has_no_reasons() -> None:
    assert describe_status({}) == []


def test_status_reasons_name_stage_file_and_key() -> None:
    status = {
        "train": [{"changed deps": {"params.yaml": {"modified": ["train.max_depth"]}}}],
        "evaluate": [{"changed outs": {"artifacts/metrics.json": "deleted"}}, "always changed"],
    }
    assert describe_status(status) == [
        "train: changed deps params.yaml (modified train.max_depth)",
        "evaluate: changed outs artifacts/metrics.json (deleted)",
        "evaluate: always changed",
    ]


def _repo(tmp_path: Path, model: bytes = b"model", meta: bytes = b"{}") -> tuple[Path, dict]:
    (tmp_path / "artifacts" / "model").mkdir(parents=True)
    (tmp_path / MODEL).write_bytes(model)
    (tmp_path / META).write_bytes(meta)
    lock = {
        "stages": {
            "train": {
                "outs": [
                    {"path": MODEL, "md5": hashlib.md5(b"model").hexdigest()},
                    {"path": META, "md5": hashlib.md5(b"{}").hexdigest()},
                ]
            }
        }
    }
    return tmp_path, lock


def test_md5s_match(tmp_path: Path) -> None:
    repo, lock = _repo(tmp_path)
    assert check_md5s(repo, lock)[MODEL] == hashlib.md5(b"model").hexdigest()


def test_md5_mismatch_is_refused(tmp_path: Path) -> None:
    repo, lock = _repo(tmp_path, model=b"poisoned")
    with pytest.raises(ReleaseError, match=r"model\.ubj: md5 .* differs from dvc\.lock"):
        check_md5s(repo, lock)


def test_missing_model_is_refused(tmp_path: Path) -> None:
    repo, lock = _repo(tmp_path)
    (repo / MODEL).unlink()
    with pytest.raises(ReleaseError, match="not pulled"):
        check_md5s(repo, lock)
