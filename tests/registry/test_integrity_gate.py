"""Pure integrity and quality-gate decisions."""

from __future__ import annotations

import pytest
import yaml

from edgetrain.errors import IntegrityError
from edgetrain.registry import gate, integrity
from edgetrain.registry.base import ModelVersion
from edgetrain.registry.errors import QualityGateError

MODEL = integrity.MODEL_PATH
LOCK = yaml.safe_dump(
    {
        "schema": "2.0",
        "stages": {"train": {"outs": [{"path": MODEL, "hash": "md5", "md5": "a" * 32, "size": 10}]}},
    }
)


def check(actual: dict[str, str | None], committed: str | None = LOCK, worktree: str | None = LOCK) -> None:
    integrity.check_integrity(
        commit="c" * 40, committed_lock=committed, worktree_lock=worktree, actual=actual
    )


def test_matching_model_passes() -> None:
    check({MODEL: "a" * 32})


def test_mismatch_names_both_hashes() -> None:
    with pytest.raises(IntegrityError) as err:
        check({MODEL: "b" * 32})
    assert "b" * 32 in str(err.value)
    assert "a" * 32 in str(err.value)
    assert err.value.exit_code == 6


def test_missing_model_file() -> None:
    with pytest.raises(IntegrityError, match="missing"):
        check({MODEL: None})


def test_worktree_lock_must_equal_committed() -> None:
    with pytest.raises(IntegrityError, match=r"differs from dvc\.lock at commit"):
        check({MODEL: "a" * 32}, worktree=LOCK + "# edited\n")
    with pytest.raises(IntegrityError, match="not committed"):
        check({MODEL: "a" * 32}, committed=None)


def test_lock_without_train_stage() -> None:
    lock = yaml.safe_dump({"schema": "2.0", "stages": {"prepare": {}}})
    with pytest.raises(IntegrityError, match="no 'train' stage"):
        check({MODEL: "a" * 32}, committed=lock, worktree=lock)


def prod(recorded: str = "0.99", version: str = "4") -> ModelVersion:
    """A production version whose *recorded* metric (on its own, older split) is ``recorded``."""
    return ModelVersion(
        "m", version, tags={"stage": "production", "metric_auc": recorded, "metric_rmse": recorded}
    )


@pytest.mark.parametrize(
    ("candidate", "current", "higher", "passed"),
    [
        (0.90, 0.90, True, True),
        (0.895, 0.90, True, True),  # within tolerance 0.01
        (0.88, 0.90, True, False),
        (0.95, 0.90, True, True),
        (1.05, 1.00, False, False),  # rmse up by 0.05 > 0.01
        (1.005, 1.00, False, True),
        (0.50, 1.00, False, True),
    ],
)
def test_gate_direction_and_tolerance(candidate: float, current: float, higher: bool, passed: bool) -> None:
    metric = "auc" if higher else "rmse"
    result = gate.compare(
        metric=metric,
        candidate=candidate,
        production=prod(),
        current=current,
        higher_is_better=higher,
        tolerance=0.01,
    )
    assert result.passed is passed
    assert f"production v4 {metric}={current:.6g}, both on the candidate's test split" in result.message
    assert "it recorded 0.99 on its own split" in result.message


def test_gate_compares_with_productions_score_on_the_candidates_split_not_its_record() -> None:
    """Recorded 0.99 on an old split, 0.70 on the candidate's: a 0.75 candidate is better, not worse."""
    result = gate.compare(
        metric="auc",
        candidate=0.75,
        production=prod("0.99"),
        current=0.70,
        higher_is_better=True,
        tolerance=0,
    )
    assert result.passed
    assert result.production_value == 0.70


def test_gate_passes_without_production_and_fails_closed_without_a_comparable_score() -> None:
    assert gate.compare(
        metric="auc", candidate=0.1, production=None, current=None, higher_is_better=True, tolerance=0
    ).passed
    result = gate.compare(
        metric="auc",
        candidate=0.1,
        production=prod(),
        current=None,
        higher_is_better=True,
        tolerance=0,
        note="production v4 cannot be scored on this test split (missing column 'c')",
    )
    assert not result.passed
    assert "missing column 'c'" in result.message
    assert "not comparable" in result.message


def test_enforce_needs_force_and_reason() -> None:
    failed = gate.compare(
        metric="auc", candidate=0.5, production=prod(), current=0.9, higher_is_better=True, tolerance=0.01
    )
    with pytest.raises(QualityGateError, match=r"candidate auc=0\.5 vs production v4 auc=0\.9"):
        gate.enforce(failed, force=False, reason=None)
    with pytest.raises(QualityGateError):
        gate.enforce(failed, force=True, reason=None)
    gate.enforce(failed, force=True, reason="hotfix")
