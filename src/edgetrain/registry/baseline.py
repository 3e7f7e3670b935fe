"""Score the production model on the candidate's test split, so the quality gate compares like with like.

The metric production recorded when it was registered came from *its* test split, older and different
from the candidate's; comparing with it says nothing about which model is better. So ``register``
loads production's files from the registry and evaluates them on ``artifacts/prepared/test.parquet``
(checked to be the split the committed ``dvc.lock`` evaluated the candidate on) with
:func:`edgetrain.pipeline.evaluate.evaluate`, the stage's own metric code.

Where the registering job has no data (a GitHub-hosted job with the Azure credentials), the job that has
the data runs ``edgetrain models score-production --out F`` and hands over ``F``: one metric, bound to the
commit, the split's md5 and production's version and model md5, which ``register --baseline F`` checks.
Where that job may not reach the registry either (the release's edge runner), it scores the files
``models fetch-production`` wrote (:mod:`edgetrain.registry.fetched`) with ``score-production --from``.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetrain.config.params import Params
from edgetrain.contract import dvcfiles, layout
from edgetrain.contract.atomic import read_json
from edgetrain.contract.hashing import path_md5
from edgetrain.errors import DataError, IntegrityError
from edgetrain.pipeline.evaluate import report, score_partitions
from edgetrain.registry.base import MODEL_MD5_TAG, ModelVersion, Registry
from edgetrain.registry.errors import RegistryError

log = logging.getLogger(__name__)

TEST_SPLIT = str(layout.TEST_SPLIT)
EVALUATE_STAGE = dvcfiles.EVALUATE_STAGE


@dataclass(frozen=True)
class Baseline:
    """Production's primary metric on the candidate's test split (``value`` None: not comparable)."""

    version: str
    metric: str
    value: float | None
    note: str = ""


def locked_test_split(lock: Mapping[str, Any], where: str) -> str:
    """The md5 ``dvc.lock`` records for the test split the ``evaluate`` stage read."""
    dep = dvcfiles.stage_deps(lock, EVALUATE_STAGE).get(TEST_SPLIT)
    if dep is None:
        raise IntegrityError(f"{where}: the {EVALUATE_STAGE} stage records no md5 for {TEST_SPLIT}")
    return dep.md5


def committed_test_split_md5(committed_lock: str, commit: str) -> str:
    where = f"dvc.lock@{commit[:12]}"
    return locked_test_split(dvcfiles.parse_lock(committed_lock, where), where)


def check_test_split(repo: Path, committed_lock: str, commit: str) -> Path:
    """The on-disk test split, refused unless it is the one ``dvc.lock`` at ``commit`` evaluated."""
    where = f"dvc.lock@{commit[:12]}"
    expected = committed_test_split_md5(committed_lock, commit)
    path = repo / TEST_SPLIT
    if not path.exists():
        raise IntegrityError(
            f"{TEST_SPLIT} is missing: production must be scored on this commit's test split "
            "(run `dvc pull` or `dvc repro` first)"
        )
    found = path_md5(path)
    if found != expected:
        raise IntegrityError(
            f"{TEST_SPLIT} has md5 {found} but {where} evaluated {expected}; "
            "run `dvc checkout` (or `dvc repro`) so production is scored on the candidate's split"
        )
    return path


def model_file(folder: Path, metadata: Mapping[str, Any]) -> Path:
    name = str(metadata.get("model_file", ""))
    if not name or Path(name).name != name or name in {".", ".."}:
        raise RegistryError(f"{folder / layout.METADATA_NAME}: model_file {name!r} is not a plain file name")
    path = folder / name
    if path.is_symlink() or not path.is_file():
        raise RegistryError(f"{path}: not a regular file")
    return path


def score(folder: Path, params: Params, test_path: Path, metric: str) -> float:
    """``metric`` of the model in ``folder`` on ``test_path``, computed by the evaluate stage's code.

    Raises :class:`DataError` when the model cannot be scored there (other task, columns or classes).
    """
    import xgboost as xgb  # noqa: PLC0415 - xgboost loads only when a model is scored

    metadata = read_json(folder / layout.METADATA_NAME)
    if metadata.get("task") != params.task:
        raise DataError(f"it is a {metadata.get('task')!r} model and the candidate is {params.task!r}")
    booster = xgb.Booster()
    try:
        booster.load_model(model_file(folder, metadata))
    except xgb.core.XGBoostError:
        raise RegistryError(f"{folder}: cannot load the model") from None
    objective = (metadata.get("params") or {}).get("objective", params.train.objective)
    scoring = params.model_copy(update={"train": params.train.model_copy(update={"objective": objective})})
    y, out = score_partitions(scoring, metadata, booster, test_path)  # one partition at a time
    scores, _ = report(scoring, metadata, booster, y, out)
    value = float(scores[metric])
    if not math.isfinite(value):
        raise DataError(f"{metric} is {value}")
    return value


def folder_baseline(production: ModelVersion, folder: Path, params: Params, test_path: Path) -> Baseline:
    """Production's files in ``folder`` scored on ``test_path`` with the candidate's primary metric."""
    metric = params.evaluate.primary_metric
    try:
        value = score(folder, params, test_path, metric)
    except (DataError, KeyError) as exc:
        note = f"production v{production.version} cannot be scored on this test split ({exc})"
        log.warning("%s", note)
        return Baseline(production.version, metric, None, note)
    log.info("production v%s scores %s=%.6g on the candidate's test split", production.version, metric, value)
    return Baseline(production.version, metric, value)


def production_baseline(
    registry: Registry, production: ModelVersion, params: Params, test_path: Path
) -> Baseline:
    """Fetch production's files and score them on ``test_path`` with the candidate's primary metric."""
    with tempfile.TemporaryDirectory(prefix="edgetrain-production-") as tmp:
        return folder_baseline(production, registry.fetch(production, Path(tmp)), params, test_path)


# --- hand-off: score where the data is, register where the credentials are -----------------------------

HANDOFF_FORMAT = "edgetrain-baseline/1"


def to_handoff(
    baseline: Baseline | None, production: ModelVersion | None, *, commit: str, test_split_md5: str
) -> dict[str, Any]:
    """The small JSON a scoring job hands to the registering job (one metric, no rows)."""
    return {
        "format": HANDOFF_FORMAT,
        "commit": commit,
        "test_split_md5": test_split_md5,
        "production_version": production.version if production else None,
        "production_model_md5": production.tags.get(MODEL_MD5_TAG) if production else None,
        "metric": baseline.metric if baseline else None,
        "value": baseline.value if baseline else None,
        "note": baseline.note if baseline else "",
    }


def from_handoff(
    path: Path, *, commit: str, test_split_md5: str, production: ModelVersion | None, metric: str
) -> Baseline | None:
    """Read a hand-off and refuse it unless it is about this commit, this split and today's production."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: not a readable baseline hand-off ({exc})") from None
    if not isinstance(data, Mapping) or data.get("format") != HANDOFF_FORMAT:
        raise IntegrityError(f"{path}: format is not {HANDOFF_FORMAT}")
    expected = {
        "commit": commit,
        "test_split_md5": test_split_md5,
        "production_version": production.version if production else None,
        "production_model_md5": production.tags.get(MODEL_MD5_TAG) if production else None,
    }
    if production is not None:
        expected["metric"] = metric
    for key, want in expected.items():
        if data.get(key) != want:
            raise IntegrityError(
                f"{path}: {key} is {data.get(key)!r} but this registration needs {want!r} "
                "(score production again with `edgetrain models score-production`)"
            )
    if production is None:
        return None
    value = data.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise IntegrityError(f"{path}: value must be a number or null")
    return Baseline(
        production.version, metric, None if value is None else float(value), str(data.get("note", ""))
    )
