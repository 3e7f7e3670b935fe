"""Fixtures: tiny trained models (binary with a categorical feature, multiclass, regression), their build
contexts, and scoring servers started from those contexts (``edgetrain serve``) on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.serving.helpers import Server, TrainedModel, serve_context, train_model


@pytest.fixture(scope="session", params=["binary", "multiclass", "regression"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    return train_model(tmp_path_factory.mktemp(f"model-{request.param}"), request.param)


@pytest.fixture(scope="session")
def binary_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    return train_model(tmp_path_factory.mktemp("model-binary-main"), "binary")


@pytest.fixture(scope="session")
def served(
    trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TrainedModel, Server]]:
    server = serve_context(trained.context, tmp_path_factory.mktemp(f"serve-{trained.task}"))
    yield trained, server
    server.stop_gracefully()


@pytest.fixture(scope="session")
def binary_server(
    binary_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TrainedModel, Server]]:
    env = {"EDGETRAIN_MAX_BODY_BYTES": "200000", "EDGETRAIN_MAX_ROWS": "500"}
    server = serve_context(binary_model.context, tmp_path_factory.mktemp("serve-binary"), env)
    yield binary_model, server
    server.stop_gracefully()


#: Short connection limits so the hygiene tests finish in seconds (the defaults are documented and larger).
GUARDED_ENV = {
    "EDGETRAIN_HEADER_TIMEOUT": "1",
    "EDGETRAIN_BODY_TIMEOUT": "3",
    "EDGETRAIN_KEEP_ALIVE_TIMEOUT": "1",
    "EDGETRAIN_MAX_CONCURRENT_SCORES": "8",
}


@pytest.fixture
def guarded_server(binary_model: TrainedModel, tmp_path: Path) -> Iterator[tuple[TrainedModel, Server]]:
    """A fresh server per test (its memory high-water mark belongs to that test), default size limits."""
    server = serve_context(binary_model.context, tmp_path, GUARDED_ENV)
    yield binary_model, server
    server.stop_gracefully()


@pytest.fixture(scope="session")
def default_server(
    binary_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TrainedModel, Server]]:
    """The binary model served with every setting at its default."""
    server = serve_context(binary_model.context, tmp_path_factory.mktemp("serve-default"))
    yield binary_model, server
    server.stop_gracefully()
