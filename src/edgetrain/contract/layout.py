"""Every path of the project's on-disk contract, declared once (a catalog in the spirit of Kedro's).

Paths are POSIX and relative to the repository root. An :class:`Entry` is path-like, so
``repo / layout.MODEL`` and ``Path(layout.PARAMS)`` work, and ``str(entry)`` is the path as ``dvc.yaml``,
``dvc.lock`` and ``git show`` spell it. ``tests/contract/test_layout.py`` checks the catalog against
``dvc.yaml``: every stage's outs and data deps are declared here, with the stage that writes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

Tracked = Literal["git", "dvc", "dvc+git", "none"]


@dataclass(frozen=True)
class Entry(os.PathLike[str]):
    """One file or folder: where it is, who tracks it, which stage (if any) writes it."""

    path: str
    kind: Literal["file", "dir"]
    #: git: committed; dvc: in the DVC cache, git-ignored; dvc+git: a DVC out with ``cache: false``,
    #: committed with ``dvc.lock``; none: local scratch.
    tracked: Tracked
    written_by: str | None
    description: str

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    def child(self, name: str) -> str:
        """``<path>/<name>`` for a folder entry (e.g. one plot under :data:`PLOTS`)."""
        return f"{self.path}/{name}"


# -- inputs and configuration (git) ------------------------------------------------------------------
PARAMS = Entry("params.yaml", "file", "git", None, "what the model is: task, data schema, split, training")
EDGE_CONFIG = Entry("config/edge.yaml", "file", "git", None, "where it runs: storage, runner, compute")
DVC_YAML = Entry("dvc.yaml", "file", "git", None, "the pipeline's stages")
DVC_LOCK = Entry("dvc.lock", "file", "git", "dvc repro", "md5s of every stage's deps and outs")
DATA_DVC = Entry("data.dvc", "file", "git", "dvc import-url", "the data version: md5 and source")
DATA = Entry("data", "dir", "dvc", "dvc import-url", "raw CSV drops, imported from the raw container")

# -- stage outputs -----------------------------------------------------------------------------------
PREPARED = Entry("artifacts/prepared", "dir", "dvc", "prepare", "train/valid/test parquet + manifest")
TEST_SPLIT = Entry("artifacts/prepared/test.parquet", "dir", "dvc", "prepare", "the evaluated split")
MODEL_DIR = Entry("artifacts/model", "dir", "none", "train", "the model folder the image ships")
MODEL = Entry("artifacts/model/model.ubj", "file", "dvc", "train", "the XGBoost model (UBJSON)")
METADATA = Entry("artifacts/model/metadata.json", "file", "dvc", "train", "features, classes, versions")
RUN_INFO = Entry("artifacts/model/run.json", "file", "dvc+git", "train", "engine and workers, for lineage")
METRICS = Entry("artifacts/metrics.json", "file", "dvc+git", "evaluate", "test-split metrics")
PLOTS = Entry("artifacts/plots", "dir", "dvc+git", "evaluate", "one JSON file per plot")
ARTIFACTS = Entry("artifacts", "dir", "none", None, "every stage output")

# -- files inside a folder entry (names, not repo paths) ----------------------------------------------
MANIFEST_NAME = "manifest.json"
MODEL_NAME = MODEL.name
METADATA_NAME = METADATA.name
RUN_INFO_NAME = RUN_INFO.name

# -- local state (git-ignored) -----------------------------------------------------------------------
STATE = Entry(".edgetrain", "dir", "none", None, "tools, stand-in state, scratch")
REFRESH_BASELINE = Entry(
    ".edgetrain/refresh/before.json", "file", "none", "edgetrain refresh check", "data before a refresh"
)

CATALOG: tuple[Entry, ...] = (
    PARAMS,
    EDGE_CONFIG,
    DVC_YAML,
    DVC_LOCK,
    DATA_DVC,
    DATA,
    PREPARED,
    TEST_SPLIT,
    MODEL_DIR,
    MODEL,
    METADATA,
    RUN_INFO,
    METRICS,
    PLOTS,
    ARTIFACTS,
    STATE,
    REFRESH_BASELINE,
)

#: What the release ships from the model folder (md5-checked against ``dvc.lock``).
SHIPPED: tuple[Entry, ...] = (MODEL, METADATA)
#: Outputs committed with ``dvc.lock`` (``cache: false``): a training run's git-tracked result.
COMMITTED_WITH_LOCK: tuple[Entry, ...] = tuple(e for e in CATALOG if e.tracked == "dvc+git")
#: What a ``dvc repro`` run changes that git tracks.
RUN_PATHS: tuple[Entry, ...] = (DVC_LOCK, DVC_YAML, PARAMS, DATA_DVC, ARTIFACTS)
#: Folders that hold data; nothing from them may enter an image.
DATA_DIRS: tuple[Entry, ...] = (DATA, PREPARED)
