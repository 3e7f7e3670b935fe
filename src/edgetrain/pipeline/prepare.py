"""Stage ``prepare``: raw CSV drops -> validated, de-duplicated train/valid/test parquet + manifest.

Each row's split comes from :mod:`edgetrain.pipeline.splits`; the drops are read one at a time through
:mod:`edgetrain.pipeline.streamed`; the manifest is :mod:`edgetrain.pipeline.manifest`'s. The in-memory
reference the stream matches byte for byte lives with the tests (``tests/pipeline/reference.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgetrain.config.params import Params, load_params
from edgetrain.contract import layout
from edgetrain.data.drops import list_drops
from edgetrain.pipeline.streamed import write_streamed

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(layout.DATA)
DEFAULT_DATA_DVC = Path(layout.DATA_DVC)
DEFAULT_OUT_DIR = Path(layout.PREPARED)


def run(
    params: Params | Path | str = Path(layout.PARAMS),
    data_dir: Path | str = DEFAULT_DATA_DIR,
    data_dvc: Path | str = DEFAULT_DATA_DVC,
    out_dir: Path | str = DEFAULT_OUT_DIR,
) -> dict[str, Any]:
    """Read the drops one at a time, prepare them and write the stage's outputs; return the manifest."""
    if not isinstance(params, Params):
        params = load_params(params)
    manifest = write_streamed(list_drops(data_dir), params, out_dir, data_dvc)
    log.info("prepared %s", manifest["rows"])
    return manifest
