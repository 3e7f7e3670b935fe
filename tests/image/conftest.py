"""Fixtures for the real image tests: a private buildah storage with the cached base stand-in, and the
loopback registry standing in for ACR."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.image.helpers import STORAGE, TOOLS, load_rehearsal, need_tools

from edgetrain.serving.image import Buildah

base_image = load_rehearsal("base_image")
registry_module = load_rehearsal("registry")


@pytest.fixture(scope="session")
def buildah_storage() -> Buildah:
    need_tools(*TOOLS)
    return Buildah.from_env(root=STORAGE, env={})


@pytest.fixture(scope="session")
def standin(buildah_storage: Buildah) -> base_image.StandIn:
    """The base stand-in in the test storage and the wheelhouse (both cached under .edgetrain/)."""
    return base_image.prepare(buildah_storage, base_image.CACHE)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry_module.LoopbackRegistry]:
    need_tools("docker-registry")
    with registry_module.LoopbackRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running
