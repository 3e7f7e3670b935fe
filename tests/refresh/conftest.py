"""Sample drops (the demo's generator) and a raw container in the strict stand-in per test."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

from edgetrain.config.edge import StorageConfig
from edgetrain.config.params import Params, load_params
from edgetrain.data.sample import generate, to_csv_bytes

START = date(2026, 1, 1)


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(REPO_ROOT / "params.yaml")


@pytest.fixture(scope="session")
def drops() -> dict[str, bytes]:
    """Four small daily drops (file name -> CSV bytes)."""
    return {f"{day}.csv": to_csv_bytes(frame) for day, frame in generate(400, 7, START, 4).items()}


@pytest.fixture
def raw(standin):  # type: ignore[no-untyped-def]
    """A fresh raw container (unique name) in the strict stand-in and a StorageConfig for it."""
    from azure.storage.blob import BlobServiceClient

    name = f"raw-{uuid.uuid4().hex[:10]}"
    service = BlobServiceClient.from_connection_string(standin.connection_string, api_version="2019-07-07")
    container = service.create_container(name)
    cfg = StorageConfig(
        account_name="devstoreaccount1", blob_endpoint=standin.blob_endpoint, raw_container=name
    )
    return cfg, container


def land(container, name: str, payload: bytes, prefix: str = "raw") -> None:  # type: ignore[no-untyped-def]
    container.upload_blob(f"{prefix}/{name}", payload, overwrite=True)


def write_local(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    return folder
