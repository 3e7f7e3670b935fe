"""The quality gate scores production on the candidate's test split (not the figure it once recorded).

Real tiny XGBoost models, real parquet test splits, the local registry and ``edgetrain.cli.main``;
the expected AUCs are computed here with sklearn, independently of the evaluate code under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.registry.conftest import TEST, real_auc

from edgetrain.cli import main


def register(repo: Any, *extra: str) -> int:
    return main(["register", "--repo", str(repo.path), "--registry-dir", str(repo.registry_dir), *extra])


def promote(repo: Any, version: str) -> None:
    assert main(["models", "promote", version, "--registry-dir", str(repo.registry_dir)]) == 0


def test_the_same_model_on_a_harder_split_passes(model_repo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Old behaviour: 'candidate 0.7 vs recorded 0.95' refused a model identical to production."""
    model = model_repo.model_bytes(3)
    easy, hard = real_auc(model, 0), real_auc(model, 2)
    assert easy - hard > 0.05  # the new split really is harder
    model_repo.release(rounds=3, auc=round(easy, 6), split=0)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=3, auc=round(hard, 6), split=2, message="same model, new data drop")
    capsys.readouterr()
    assert register(model_repo) == 0
    out = capsys.readouterr().out
    assert "registered edgetrain-xgb version 2" in out
    assert f"production v1 auc={hard:.6g}, both on the candidate's test split" in out
    assert f"it recorded {easy:.6g} on its own split" in out


def test_a_worse_model_is_refused_although_production_recorded_less(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old behaviour: 'candidate 0.9 vs recorded 0.7' let a clearly worse model through."""
    strong, weak = model_repo.model_bytes(30), model_repo.model_bytes(1)
    recorded_on_hard = real_auc(strong, 2)
    candidate, production_now = real_auc(weak, 0), real_auc(strong, 0)
    assert candidate > recorded_on_hard + 0.01  # the old gate would pass it
    assert production_now > candidate + 0.01  # but production is better on the candidate's split
    model_repo.release(rounds=30, auc=round(recorded_on_hard, 6), split=2)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=1, auc=round(candidate, 6), split=0, message="weaker model")
    capsys.readouterr()
    assert register(model_repo) == 5
    err = capsys.readouterr().err
    assert f"production v1 auc={production_now:.6g}" in err
    assert "quality gate" in err


def test_production_that_cannot_be_scored_there_fails_closed_unless_forced_with_a_reason(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wider = [
        {"name": "a", "dtype": "float64"},
        {"name": "b", "dtype": "float64"},
        {"name": "c", "dtype": "float64"},
    ]
    model_repo.release(rounds=3, auc=0.99, features=wider)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=1, auc=0.5, message="features changed")
    capsys.readouterr()
    assert register(model_repo) != 0
    err = capsys.readouterr().err
    assert "production v1 cannot be scored on this test split" in err
    assert "not comparable, the gate fails closed" in err
    assert register(model_repo, "--force", "--reason", "features changed on purpose") == 0


@pytest.mark.parametrize("damage", ["missing", "different"])
def test_the_split_must_be_the_one_dvc_lock_evaluated(
    model_repo: Any, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    model_repo.release(rounds=3, auc=0.9)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=4, auc=0.9, message="retrain")
    split = model_repo.path / TEST
    if damage == "missing":
        split.unlink()
    else:
        split.write_bytes(split.read_bytes() + b"\0")
    capsys.readouterr()
    assert register(model_repo) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert TEST in err[0]
    assert ("is missing" if damage == "missing" else "dvc checkout") in err[0]


def score_production(repo: Any, out: Any) -> int:
    registry = ["--registry-dir", str(repo.registry_dir)]
    return main(["models", "score-production", "--repo", str(repo.path), *registry, "--out", str(out)])


def test_hand_off_scores_where_the_data_is_and_registers_where_it_is_not(
    model_repo: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    strong, weak = model_repo.model_bytes(30), model_repo.model_bytes(1)
    production_now = real_auc(strong, 0)
    model_repo.release(rounds=30, auc=0.5, split=2)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=1, auc=round(real_auc(weak, 0), 6), split=0, message="weaker model")
    handoff = tmp_path / "baseline.json"
    assert score_production(model_repo, handoff) == 0
    assert f"production v1 on this test split: auc={production_now:.6g}" in capsys.readouterr().out
    data = json.loads(handoff.read_text())
    assert data["value"] == pytest.approx(production_now, abs=1e-6)
    assert set(data) == {"format", "commit", "test_split_md5", "production_version"} | {
        "production_model_md5", "metric", "value", "note"
    }  # fmt: skip

    (model_repo.path / TEST).unlink()  # the registering job has no rows
    assert register(model_repo) == 6  # without the hand-off it cannot score production
    assert register(model_repo, "--baseline", str(handoff)) == 5
    assert f"production v1 auc={production_now:.6g}" in capsys.readouterr().err
    assert register(model_repo, "--baseline", str(handoff), "--force", "--reason", "accepted") == 0


@pytest.mark.parametrize("stale", ["commit", "production_version", "production_model_md5", "test_split_md5"])
def test_a_hand_off_for_something_else_is_refused(
    model_repo: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str], stale: str
) -> None:
    model_repo.release(rounds=3, auc=0.9)
    assert register(model_repo) == 0
    promote(model_repo, "1")
    model_repo.release(rounds=4, auc=0.9, message="retrain")
    handoff = tmp_path / "baseline.json"
    assert score_production(model_repo, handoff) == 0
    data = json.loads(handoff.read_text())
    data[stale] = "2" if stale == "production_version" else "0" * 32
    handoff.write_text(json.dumps(data))
    capsys.readouterr()
    assert register(model_repo, "--baseline", str(handoff)) == 6
    assert f"{stale} is " in capsys.readouterr().err
