"""Fixtures shared with other areas: the image tests' buildah storage and loopback registry, the base-image
stand-in (as ``base_standin``: ``standin`` is the session's Azurite here), and the registry tests' Azure ML
stand-in."""

from __future__ import annotations

import pytest
from tests.image.conftest import buildah_storage, registry
from tests.image.helpers import load_rehearsal
from tests.registry.conftest import azureml

from edgetrain.serving.image import Buildah

base_image = load_rehearsal("base_image")

__all__ = ["azureml", "base_standin", "buildah_storage", "registry"]


@pytest.fixture(scope="session")
def base_standin(buildah_storage: Buildah) -> base_image.StandIn:
    """The scoring image's base stand-in and wheelhouse (cached under .edgetrain/)."""
    return base_image.prepare(buildah_storage, base_image.CACHE)
