"""Atomic writers: all or nothing, deterministic JSON, ordinary permissions."""

from __future__ import annotations

import os

import pytest

from edgetrain.contract import atomic as io


def test_json_is_deterministic_and_sorted(tmp_path) -> None:
    io.write_json_atomic(tmp_path / "a.json", {"b": 1, "a": [1.5, "x"]})
    assert (tmp_path / "a.json").read_bytes() == b'{\n  "a": [\n    1.5,\n    "x"\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError, match="Out of range float"):
        io.dumps_json({"x": float("nan")})


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch) -> None:
    target = tmp_path / "m.json"
    target.write_bytes(b"old")

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        io.write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_written_files_get_umask_permissions(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        io.write_bytes_atomic(tmp_path / "f", b"x")
        with io.staged_outputs(tmp_path / "d", replace_dir=True) as staging:
            (staging / "g").write_bytes(b"y")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_staged_dir_replaces_stale_files(tmp_path) -> None:
    out = tmp_path / "plots"
    out.mkdir()
    (out / "roc.json").write_text("stale")
    with io.staged_outputs(out, replace_dir=True) as staging:
        (staging / "residuals.json").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["residuals.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"]


def test_staged_files_keep_neighbours_and_roll_back(tmp_path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / ".gitignore").write_text("/model.ubj\n")
    (out / "model.ubj").write_text("old")

    def crash() -> None:
        with io.staged_outputs(out) as staging:
            (staging / "model.ubj").write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        crash()
    assert (out / "model.ubj").read_text() == "old"
    with io.staged_outputs(out) as staging:
        (staging / "model.ubj").write_text("new")
        (staging / "metadata.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == [".gitignore", "metadata.json", "model.ubj"]
    assert (out / "model.ubj").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
