"""The image tests' fixtures (buildah storage with the base stand-in, the loopback registry), shared."""

from tests.image.conftest import buildah_storage, registry, standin

__all__ = ["buildah_storage", "registry", "standin"]
