"""Dask training with XGBoost's own integration (``xgboost.dask`` on ``dask.distributed``).

The runner connects to an existing scheduler (``compute.scheduler``) and never loads the data: each
partition file is read by the worker it is pinned to (round-robin over the workers sorted by
address), so the same partitions meet on the same worker ranks on every run and the model is
reproducible for a given worker count. Workers need ``edgetrain`` installed (same version) and see
``artifacts/prepared`` at ``compute.worker_data_dir`` (a shared mount) or the runner's own path.

A worker that dies mid-training fails the run with one line; the caller then writes nothing, so the
last good model stays in place.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgetrain.config.edge import ComputeConfig
from edgetrain.config.params import Params
from edgetrain.errors import ComputeError, DataError, EdgetrainError
from edgetrain.pipeline.dataset import encode_labels, load_split, partition_files, split_path
from edgetrain.pipeline.engines.common import Fitted, cut_at_best

log = logging.getLogger(__name__)

LABEL = "__edgetrain_label__"
#: Seconds between checks that every worker is still there while training runs.
WATCH_INTERVAL_S = 1.0


def read_partition(path: str, features: list[dict[str, Any]], target: str, classes: Any) -> pd.DataFrame:
    """Runs on a worker: one partition's features plus the encoded label column."""
    x, labels = load_split(path, features, target)
    x[LABEL] = encode_labels(labels, classes, path)
    return x


def empty_frame(features: list[dict[str, Any]]) -> pd.DataFrame:
    """The columns and dtypes :func:`read_partition` returns (Dask's ``meta``)."""
    columns: dict[str, pd.Series] = {}
    for feature in features:
        if feature["dtype"] == "category":
            dtype: Any = pd.CategoricalDtype(feature["categories"])
        else:
            dtype = np.float64
        columns[feature["name"]] = pd.Series([], dtype=dtype)
    columns[LABEL] = pd.Series([], dtype=np.float32)
    return pd.DataFrame(columns)


def worker_path(file: Path, prepared_dir: Path, compute: ComputeConfig) -> str:
    """``file`` as the workers see it: under ``compute.worker_data_dir`` when set."""
    if not compute.worker_data_dir:
        return str(file.resolve())
    return str(Path(compute.worker_data_dir) / file.resolve().relative_to(prepared_dir.resolve()))


def connect(compute: ComputeConfig) -> Any:
    """A client of the configured scheduler with at least ``compute.min_workers`` workers, or ComputeError."""
    from distributed import Client  # noqa: PLC0415 - dask loads only when training on a cluster

    where = f"compute.scheduler {compute.scheduler}"
    try:
        client = Client(compute.scheduler, timeout=f"{compute.connect_timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ComputeError(f"{where}: cannot connect: {str(exc).splitlines()[0]}") from None
    try:
        client.wait_for_workers(compute.min_workers, timeout=compute.connect_timeout_s)
    except (OSError, TimeoutError):
        found = len(_workers(client))
        client.close()
        raise ComputeError(
            f"{where}: {found} worker(s) after {compute.connect_timeout_s}s, "
            f"compute.min_workers is {compute.min_workers}"
        ) from None
    return client


def _frame(
    client: Any, files: list[Path], workers: list[str], manifest: dict[str, Any], args: tuple[Any, ...]
) -> Any:
    import dask.dataframe as dd  # noqa: PLC0415 - dask loads only when training on a cluster
    from distributed import wait  # noqa: PLC0415 - dask loads only when training on a cluster

    prepared_dir, compute = args
    futures = [
        client.submit(
            read_partition,
            worker_path(file, prepared_dir, compute),
            manifest["features"],
            manifest["target"],
            manifest["classes"],
            workers=[workers[i % len(workers)]],
            allow_other_workers=False,
            pure=False,
        )
        for i, file in enumerate(files)
    ]
    wait(futures)  # read every partition first: a worker's read error surfaces as itself, not deep in XGBoost
    for future in futures:
        if future.status == "error":
            raise future.exception()
    return dd.from_delayed(futures, meta=empty_frame(manifest["features"]), verify_meta=False)


def _train(
    client: Any, params: Params, xgb_params: dict[str, Any], manifest: dict[str, Any], args: tuple[Any, ...]
) -> tuple[Any, int]:
    from xgboost import dask as dxgb  # noqa: PLC0415 - dask loads only when training on a cluster
    from xgboost.collective import Config  # noqa: PLC0415 - dask loads only when training on a cluster

    prepared_dir, compute = args
    workers = sorted(_workers(client))
    names = [f["name"] for f in manifest["features"]]
    splits, holding = {}, set()
    for split in ("train", "valid"):
        files = partition_files(split_path(prepared_dir, split))
        frame = _frame(client, files, workers, manifest, args)
        splits[split] = (frame[names], frame[LABEL])
        holding |= {workers[i % len(workers)] for i in range(len(files))}
    dtrain = dxgb.DaskQuantileDMatrix(client, *splits["train"], enable_categorical=True)
    dvalid = dxgb.DaskQuantileDMatrix(client, *splits["valid"], enable_categorical=True, ref=dtrain)
    log.info("training on %d Dask worker(s) at %s", len(holding), compute.scheduler)
    out = dxgb.train(
        client,
        xgb_params,
        dtrain,
        num_boost_round=params.train.num_boost_round,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=params.train.early_stopping_rounds,
        verbose_eval=False,
        coll_cfg=Config(timeout=compute.collective_timeout_s, tracker_timeout=compute.connect_timeout_s),
    )
    return out["booster"], len(holding)  # workers that hold data train; idle ones do not


def fit(
    params: Params,
    prepared_dir: Path,
    manifest: dict[str, Any],
    compute: ComputeConfig,
    xgb_params: dict[str, Any],
) -> Fitted:
    """Train on the cluster; ComputeError with one line when a worker is lost or the cluster fails.

    ``xgboost.dask`` would wait for a dead worker's allreduce until the collective timeout, so the
    training runs in a helper thread while this one watches the scheduler's worker list.
    """
    client = connect(compute)
    outcome: dict[str, Any] = {}

    def train() -> None:
        try:
            with client.as_current():
                outcome["value"] = _train(client, params, xgb_params, manifest, (prepared_dir, compute))
        except BaseException as exc:  # handed to the watching thread
            outcome["error"] = exc

    try:
        before = _workers(client)
        thread = threading.Thread(target=train, name="edgetrain-dask-train", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(WATCH_INTERVAL_S)
            lost = sorted(before - _workers(client)) if thread.is_alive() else []
            if lost:
                raise ComputeError(f"Dask worker {lost[0]} left during training; no model written")
        if "error" in outcome:
            exc = outcome["error"]
            raise exc if isinstance(exc, EdgetrainError) else _failure(client, before, exc) from None
        booster, n_workers = outcome["value"]
        booster, best = cut_at_best(booster)
    finally:
        with contextlib.suppress(Exception):  # a broken cluster must not hide the error above
            client.close(timeout=compute.connect_timeout_s)
    info = {
        "engine": "dask",
        "workers": n_workers,
        "external_memory": False,
        "dask": metadata.version("distributed"),
    }
    return Fitted(booster, best, info)


def _workers(client: Any) -> set[str]:
    """The scheduler's current worker addresses, asked afresh (``scheduler_info`` may answer from a cache)."""
    try:
        return set(client.sync(client.scheduler.identity, n_workers=-1)["workers"])
    except (OSError, TimeoutError) as exc:
        raise ComputeError(f"Dask scheduler unreachable during training: {exc}; no model written") from None


def _failure(client: Any, before: set[str], exc: BaseException) -> EdgetrainError:
    """One line for what went wrong: a lost worker, unreadable data on a worker, or the first error line."""
    try:
        lost = sorted(before - _workers(client))
    except ComputeError:  # the scheduler itself is gone: report the original error
        lost = []
    if lost:
        return ComputeError(f"Dask worker {lost[0]} left during training; no model written")
    if isinstance(exc, DataError):
        return exc
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return ComputeError(f"Dask training failed: {type(exc).__name__}: {first}")
