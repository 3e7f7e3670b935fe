"""Pure integrity and quality-gate decisions."""

from __future__ import annotations

import pytest
import yaml

from edgetrain.registry import gate, integrity
from edgetrain.registry.base import ModelVersion
from edgetrain.registry.errors import IntegrityError, QualityGateError

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


def prod(value: str, version: str = "4") -> ModelVersion:
    return ModelVersion("m", version, tags={"stage": "production", "metric_auc": value, "metric_rmse": value})


@pytest.mark.parametrize(
    ("candidate", "current", "higher", "passed"),
    [
        (0.90, "0.90", True, True),
        (0.895, "0.90", True, True),  # within tolerance 0.01
        (0.88, "0.90", True, False),
        (0.95, "0.90", True, True),
        (1.05, "1.00", False, False),  # rmse up by 0.05 > 0.01
        (1.005, "1.00", False, True),
        (0.50, "1.00", False, True),
    ],
)
def test_gate_direction_and_tolerance(candidate: float, current: str, higher: bool, passed: bool) -> None:
    metric = "auc" if higher else "rmse"
    result = gate.compare(
        metric=metric, candidate=candidate, production=prod(current), higher_is_better=higher, tolerance=0.01
    )
    assert result.passed is passed
    assert current.rstrip("0").rstrip(".") in result.message or current in result.message


def test_gate_without_production_or_metric_passes() -> None:
    assert gate.compare(
        metric="auc", candidate=0.1, production=None, higher_is_better=True, tolerance=0
    ).passed
    bare = ModelVersion("m", "1", tags={"stage": "production"})
    assert gate.compare(
        metric="auc", candidate=0.1, production=bare, higher_is_better=True, tolerance=0
    ).passed


def test_enforce_needs_force_and_reason() -> None:
    failed = gate.compare(
        metric="auc", candidate=0.5, production=prod("0.9"), higher_is_better=True, tolerance=0.01
    )
    with pytest.raises(QualityGateError, match=r"candidate auc=0\.5 vs production v4 auc=0\.9"):
        gate.enforce(failed, force=False, reason=None)
    with pytest.raises(QualityGateError):
        gate.enforce(failed, force=True, reason=None)
    gate.enforce(failed, force=True, reason="hotfix")
