"""The template's own wiring: DVC remotes and data.dvc agree with config/edge.yaml."""

from __future__ import annotations

import yaml
from configobj import ConfigObj
from tests.conftest import REPO_ROOT

from edgetrain.config.edge import load_edge_config
from edgetrain.storage.connection import DVC_CACHE_REMOTE, DVC_PR_REMOTE, DVC_RAW_REMOTE


def test_dvc_remotes_point_at_the_configured_containers() -> None:
    storage = load_edge_config(REPO_ROOT / "config" / "edge.yaml").storage
    dvc = ConfigObj(str(REPO_ROOT / ".dvc" / "config"))
    assert dvc[f'remote "{DVC_CACHE_REMOTE}"']["url"] == f"azure://{storage.dvc_container}"
    assert dvc[f'remote "{DVC_RAW_REMOTE}"']["url"] == f"azure://{storage.raw_container}"
    assert dvc[f'remote "{DVC_PR_REMOTE}"']["url"] == f"azure://{storage.pr_container}"
    assert dvc["core"]["remote"] == DVC_CACHE_REMOTE  # pushes go to the cache container, never to raw


def test_data_dvc_imports_the_configured_raw_prefix() -> None:
    storage = load_edge_config(REPO_ROOT / "config" / "edge.yaml").storage
    data = yaml.safe_load((REPO_ROOT / "data.dvc").read_text())
    assert data["deps"][0]["path"] == f"remote://{DVC_RAW_REMOTE}/{storage.raw_prefix}"
    assert data["outs"][0]["path"] == "data"
    assert data["frozen"] is True  # `dvc repro` never re-imports behind your back; `dvc update` does
