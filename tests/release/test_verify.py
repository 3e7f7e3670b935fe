"""``edgetrain release verify``: the merged commit's records against the release's own reproduction.

A real git repository holds the merged commit's dvc.lock and run.json; the work tree holds what
``dvc repro`` wrote. Equal: the shipped files' sha256. Different: exit 12, one line with both sha256 digests
and what differed (params, data, code, engine).
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgetrain.cli import main
from edgetrain.release.verify import ReleaseError, verify, verify_recorded, what_differed

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL, META, RUN = "artifacts/model/model.ubj", "artifacts/model/metadata.json", "artifacts/model/run.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock(model: bytes, meta: bytes, run: bytes, *, eta: float = 0.1, code: str = "c0de") -> dict[str, Any]:
    md5 = lambda b: hashlib.md5(b).hexdigest()  # noqa: E731 - a short local alias
    return {
        "schema": "2.0",
        "stages": {
            "prepare": {
                "deps": [{"path": "data", "md5": "d474.dir"}, {"path": "uv.lock", "md5": "u"}],
                "outs": [{"path": "artifacts/prepared", "md5": "p.dir"}],
            },
            "train": {
                "deps": [
                    {"path": "artifacts/prepared", "md5": "p.dir"},
                    {"path": "src/edgetrain/pipeline/train.py", "md5": code},
                ],
                "params": {"params.yaml": {"train": {"eta": eta}}},
                "outs": [{"path": p, "md5": md5(b)} for p, b in ((META, meta), (MODEL, model), (RUN, run))],
            },
        },
    }


def _run_json(model: bytes, meta: bytes, engine: str = "local") -> bytes:
    doc = {"engine": engine, "external_memory": False, "workers": 1}
    return json.dumps({**doc, "sha256": {"model.ubj": _sha(model), "metadata.json": _sha(meta)}}).encode()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def _write(repo: Path, model: bytes, meta: bytes, run: bytes, lock: dict[str, Any]) -> None:
    (repo / "artifacts" / "model").mkdir(parents=True, exist_ok=True)
    (repo / MODEL).write_bytes(model)
    (repo / META).write_bytes(meta)
    (repo / RUN).write_bytes(run)
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The merged commit (model b'model') committed, and a work tree DVC rewrote with the same result."""
    _git(tmp_path, "init", "-q")
    run = _run_json(b"model", b"{}")
    _write(tmp_path, b"model", b"{}", run, _lock(b"model", b"{}", run))
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "merged")
    return tmp_path


def _reproduce(
    repo: Path, model: bytes, *, eta: float = 0.1, code: str = "c0de", engine: str = "local"
) -> None:
    run = _run_json(model, b"{}", engine)
    _write(repo, model, b"{}", run, _lock(model, b"{}", run, eta=eta, code=code))


def test_equal_reproduction_gives_the_shipped_sha256s(repo: Path) -> None:
    _reproduce(repo, b"model")
    assert verify(repo, "HEAD") == {MODEL: _sha(b"model"), META: _sha(b"{}")}


def test_cli_prints_the_digests_and_exits_0(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _reproduce(repo, b"model")
    assert main(["release", "verify", "--repo", str(repo)]) == 0
    assert f"{MODEL}: sha256 {_sha(b'model')} reproduced" in capsys.readouterr().out


def test_different_model_from_the_same_inputs_names_both_digests(repo: Path) -> None:
    _reproduce(repo, b"another model")
    with pytest.raises(ReleaseError) as caught:
        verify(repo, "HEAD")
    line = str(caught.value)
    assert "\n" not in line
    assert f"sha256 {_sha(b'model')} recorded, {_sha(b'another model')} reproduced" in line
    assert "params, data, code and engine are equal" in line
    assert "nothing was registered or pushed" in line


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"eta": 0.3}, "params (params.yaml)"),
        ({"code": "f00d"}, "code (src/edgetrain/pipeline/train.py)"),
        ({"engine": "dask"}, "engine (run.json engine)"),
    ],
)
def test_what_differed_is_named(repo: Path, change: dict[str, Any], named: str) -> None:
    _reproduce(repo, b"other", **change)
    with pytest.raises(
        ReleaseError, match=r"does not reproduce: .*" + named.replace("(", r"\(").replace(")", r"\)")
    ):
        verify(repo, "HEAD")


def test_data_difference_is_named() -> None:
    before = _lock(b"m", b"{}", b"r")
    after = copy.deepcopy(before)
    after["stages"]["prepare"]["deps"][0]["md5"] = "other.dir"
    after["stages"]["train"]["deps"][0]["md5"] = "p2.dir"  # an intermediate output: not an input
    assert what_differed(before, after, {}, {}) == "differs in data (data)"


def test_edited_lock_with_another_models_digests_is_refused(repo: Path) -> None:
    """A merged dvc.lock/run.json that claims a model its code does not produce (the tampering case)."""
    other_run = _run_json(b"planted", b"{}")
    _write(repo, b"planted", b"{}", other_run, _lock(b"planted", b"{}", other_run))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "edited records")
    _reproduce(repo, b"model")
    with pytest.raises(
        ReleaseError, match=f"sha256 {_sha(b'planted')} recorded, {_sha(b'model')} reproduced"
    ):
        verify(repo, "HEAD")


def test_recorded_md5_differing_alone_is_refused(repo: Path) -> None:
    """The sha256s agree but dvc.lock records another md5 for an output (e.g. metrics): still refused."""
    run = _run_json(b"model", b"{}")
    lock = _lock(b"model", b"{}", run)
    lock["stages"]["train"]["outs"][0]["md5"] = "0" * 32
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "edited md5")
    _reproduce(repo, b"model")
    with pytest.raises(ReleaseError, match=r"metadata\.json differ"):
        verify(repo, "HEAD")


def test_cli_exits_12_with_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _reproduce(repo, b"another model")
    assert main(["release", "verify", "--repo", str(repo)]) == 12
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "does not reproduce" in err


# --- release.reproduce: false: the pulled outputs are the recorded ones (nothing trained) -------------------


def test_recorded_outputs_pulled_unchanged_give_their_sha256s(repo: Path) -> None:
    assert verify_recorded(repo, "HEAD") == {MODEL: _sha(b"model"), META: _sha(b"{}")}


@pytest.mark.parametrize(
    ("where", "named"),
    [("model", f"{MODEL} is not the recorded output"), ("metadata", f"{META} is not the recorded output")],
)
def test_a_pulled_file_other_than_the_recorded_one_is_refused(repo: Path, where: str, named: str) -> None:
    """The pull-request container is written by pull-request jobs: an overwritten object is caught here."""
    (repo / (MODEL if where == "model" else META)).write_bytes(b"swapped")
    with pytest.raises(ReleaseError, match=named) as caught:
        verify_recorded(repo, "HEAD")
    assert f"pulled md5 {hashlib.md5(b'swapped').hexdigest()}, sha256 {_sha(b'swapped')}" in str(caught.value)
    assert "nothing was registered or pushed" in str(caught.value)


def test_recorded_sha256_that_disagrees_with_dvc_lock_is_refused(repo: Path) -> None:
    """run.json edited to another digest (dvc.lock still the file's md5): the two records must agree."""
    (repo / RUN).write_bytes(_run_json(b"other", b"{}"))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "edited run.json")
    (repo / RUN).write_bytes(_run_json(b"model", b"{}"))
    with pytest.raises(ReleaseError, match=f"sha256 {_sha(b'other')} in run.json"):
        verify_recorded(repo, "HEAD")


def test_a_recorded_output_that_was_not_pulled_is_named(repo: Path) -> None:
    (repo / MODEL).unlink()
    with pytest.raises(ReleaseError, match=f"{MODEL}: not in the work tree"):
        verify_recorded(repo, "HEAD")


def test_cli_recorded_says_not_reproduced(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["release", "verify", "--recorded", "--repo", str(repo)]) == 0
    assert f"{MODEL}: sha256 {_sha(b'model')} as commit" in capsys.readouterr().out
    (repo / MODEL).write_bytes(b"swapped")
    assert main(["release", "verify", "--recorded", "--repo", str(repo)]) == 12
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "printed"), [(None, "reproduce"), ("true", "reproduce"), ("false", "recorded")]
)
def test_mode_follows_release_reproduce(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str | None, printed: str
) -> None:
    config = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    config.pop("release", None)
    if value is not None:
        config["release"] = {"reproduce": value == "true"}
    path = tmp_path / "config" / "edge.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(config))
    assert main(["release", "mode", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == printed


def test_mode_refuses_a_non_boolean_with_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    config["release"] = {"reproduce": "sometimes"}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["release", "mode", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "release.reproduce" in err
    assert len(err.strip().splitlines()) == 1
