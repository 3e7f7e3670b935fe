"""The release's split gate: fetch production where the registry is, score it where the rows are.

``models fetch-production`` (hosted job: registry, no rows) writes production's files and a record;
``models score-production --from`` (edge job: rows, no registry) scores exactly those files on the
candidate's test split; ``register --baseline`` (hosted job) gates on that figure. Real tiny XGBoost
models, real parquet splits, the local registry; expected AUCs computed independently with sklearn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.registry.conftest import TEST, make_split, md5, real_auc

from edgetrain.cli import main
from edgetrain.registry.fetched import RECORD


def registry_args(repo: Any) -> list[str]:
    return ["--registry-dir", str(repo.registry_dir)]


def register(repo: Any, *extra: str) -> int:
    return main(["register", "--repo", str(repo.path), *registry_args(repo), *extra])


def promote(repo: Any, version: str) -> None:
    assert main(["models", "promote", version, *registry_args(repo)]) == 0


def fetch(repo: Any, out: Path) -> int:
    return main(["models", "fetch-production", *registry_args(repo), "--out", str(out)])


def score_from(repo: Any, source: Path, out: Path) -> int:
    # --backend azureml: were the registry opened, it would fail (no Azure here), as on the edge runner
    argv = ["models", "score-production", "--backend", "azureml", "--repo", str(repo.path)]
    return main([*argv, "--from", str(source), "--out", str(out)])


def test_first_release_no_production_record_registers_v1(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release(rounds=3, auc=0.9)
    prod, handoff = tmp_path / "prod", tmp_path / "baseline.json"
    assert fetch(model_repo, prod) == 0
    assert sorted(p.name for p in prod.iterdir()) == [RECORD]
    record = json.loads((prod / RECORD).read_text())
    assert record == {"format": "edgetrain-production/1", "model_name": "edgetrain-xgb", "version": None}
    assert score_from(model_repo, prod, handoff) == 0
    data = json.loads(handoff.read_text())
    assert data["production_version"] is None
    assert data["value"] is None
    (model_repo.path / TEST).unlink()  # the registering job has no rows
    capsys.readouterr()
    assert register(model_repo, "--baseline", str(handoff)) == 0
    assert "registered edgetrain-xgb version 1" in capsys.readouterr().out


def test_fetched_production_is_scored_on_the_candidates_split(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strong, weak = model_repo.model_bytes(30), model_repo.model_bytes(1)
    recorded = round(real_auc(strong, 2), 6)  # what v1 recorded on its own split
    production_now = real_auc(strong, 0)  # v1 on the candidate's split
    assert abs(production_now - recorded) > 0.01
    model_repo.release(rounds=30, auc=recorded, split=2)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=1, auc=round(real_auc(weak, 0), 6), split=0, message="weaker model")

    prod, handoff = tmp_path / "prod", tmp_path / "baseline.json"
    assert fetch(model_repo, prod) == 0
    assert sorted(p.name for p in prod.iterdir()) == sorted([RECORD, "model.ubj", "metadata.json"])
    record = json.loads((prod / RECORD).read_text())
    assert record["version"] == "1"
    assert record["model_md5"] == md5(strong) == md5((prod / "model.ubj").read_bytes())
    assert "version 1" in capsys.readouterr().out

    assert score_from(model_repo, prod, handoff) == 0
    data = json.loads(handoff.read_text())
    assert data["production_version"] == "1"
    assert data["production_model_md5"] == md5(strong)
    assert data["test_split_md5"] == md5((model_repo.path / TEST).read_bytes())
    assert data["value"] == pytest.approx(production_now, abs=1e-6)

    (model_repo.path / TEST).unlink()
    capsys.readouterr()
    assert register(model_repo, "--baseline", str(handoff)) == 5
    err = capsys.readouterr().err
    assert f"production v1 auc={production_now:.6g}, both on the candidate's test split" in err
    assert f"it recorded {recorded:.6g} on its own split" in err
    assert register(model_repo, "--baseline", str(handoff), "--force", "--reason", "accepted") == 0


def test_a_hand_off_from_an_older_production_is_refused(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Production moved between the fetch and the registration: the figure is about the wrong model."""
    model_repo.release(rounds=3, auc=0.9)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=4, auc=0.9, message="v2")
    assert register(model_repo, "--force", "--reason", "second version") == 0
    model_repo.release(rounds=5, auc=0.9, message="the candidate")
    prod, handoff = tmp_path / "prod", tmp_path / "baseline.json"
    assert fetch(model_repo, prod) == 0
    assert score_from(model_repo, prod, handoff) == 0
    promote(model_repo, "2")  # meanwhile
    capsys.readouterr()
    assert register(model_repo, "--baseline", str(handoff)) == 6
    assert "production_version is '1' but this registration needs '2'" in capsys.readouterr().err


def _damage(prod: Path, how: str) -> str:
    """Make the fetched folder disagree with its record; return what the error must name."""
    record = json.loads((prod / RECORD).read_text())
    if how == "model-bytes":
        (prod / "model.ubj").write_bytes((prod / "model.ubj").read_bytes() + b"\0")
        return "model.ubj: md5 differs from model_md5"
    if how == "model-missing":
        (prod / "model.ubj").unlink()
        return "model.ubj: not a regular file"
    if how == "metadata":
        meta = json.loads((prod / "metadata.json").read_text())
        meta["features"] = meta["features"][:1]
        (prod / "metadata.json").write_text(json.dumps(meta))
        return "metadata.json: md5 differs from metadata_md5"
    if how == "record-md5":
        record["model_md5"] = "0" * 32
    elif how == "record-format":
        record["format"] = "edgetrain-production/0"
    elif how == "record-version":
        record["version"] = 1
    (prod / RECORD).write_text(json.dumps(record))
    return {
        "record-md5": "model.ubj: md5 differs from model_md5",
        "record-format": "format is not edgetrain-production/1",
        "record-version": "version must be a non-empty string or null",
    }[how]


@pytest.mark.parametrize(
    "how", ["model-bytes", "model-missing", "metadata", "record-md5", "record-format", "record-version"]
)
def test_files_that_disagree_with_the_record_are_refused(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    model_repo.release(rounds=3, auc=0.9)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=4, auc=0.9, message="retrain")
    prod, handoff = tmp_path / "prod", tmp_path / "baseline.json"
    assert fetch(model_repo, prod) == 0
    expected = _damage(prod, how)
    capsys.readouterr()
    assert score_from(model_repo, prod, handoff) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert expected in err[0]
    assert not handoff.exists()


def test_fetch_refuses_a_stored_model_that_is_not_the_registered_one(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release(rounds=3, auc=0.9)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    stored = next(model_repo.registry_dir.rglob("model.ubj"))
    stored.write_bytes(model_repo.model_bytes(7))
    prod = tmp_path / "prod"
    capsys.readouterr()
    assert fetch(model_repo, prod) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "was registered with" in err[0]
    assert not prod.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".fetch-")] == []


def test_fetch_refuses_a_folder_that_is_not_empty(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release(rounds=3, auc=0.9)
    prod = tmp_path / "prod"
    prod.mkdir()
    (prod / "left-over").write_text("x")
    capsys.readouterr()
    assert fetch(model_repo, prod) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in prod.iterdir()) == ["left-over"]


def _dvc_dir_md5(folder: Path) -> str:
    """DVC's own directory hash (dvc-data's Tree), the oracle for the split's ``.dir`` md5."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    tree = Tree()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            tree.add(f.relative_to(folder).parts, None, HashInfo("md5", md5(f.read_bytes())))
    tree.digest()
    return tree.hash_info.value


def test_a_partitioned_split_is_checked_by_dvcs_dir_md5(
    model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``prepare`` writes ``test.parquet/part-*.parquet``; dvc.lock records its ``.dir`` md5."""
    strong = model_repo.model_bytes(30)
    model_repo.release(rounds=30, auc=0.5, split=2)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=1, auc=0.9, split=0, message="partitioned split")
    split = model_repo.path / TEST
    split.unlink()
    split.mkdir()
    frame = make_split(0)
    frame.iloc[:150].to_parquet(split / "part-00000.parquet", index=False)
    frame.iloc[150:].to_parquet(split / "part-00001.parquet", index=False)
    lock = model_repo.path / "dvc.lock"
    data = yaml.safe_load(lock.read_text())
    dep = data["stages"]["evaluate"]["deps"][0]
    dep["md5"] = _dvc_dir_md5(split)
    assert dep["md5"].endswith(".dir")
    lock.write_text(yaml.safe_dump(data, sort_keys=False))
    model_repo.git("commit", "-q", "-am", "split written as partitions")

    prod, handoff = tmp_path / "prod", tmp_path / "baseline.json"
    assert fetch(model_repo, prod) == 0
    assert score_from(model_repo, prod, handoff) == 0
    got = json.loads(handoff.read_text())
    assert got["test_split_md5"] == dep["md5"]
    assert got["value"] == pytest.approx(real_auc(strong, 0), abs=1e-6)

    (split / "part-00001.parquet").unlink()  # half the rows: not the split dvc.lock evaluated
    handoff.unlink()
    capsys.readouterr()
    assert score_from(model_repo, prod, handoff) == 6
    assert "dvc checkout" in capsys.readouterr().err
    assert not handoff.exists()
