"""What is being deployed: a registered model version and its image in the registry, by digest.

Checked before anything moves: the image reference is by digest, the registry holds that digest (``skopeo
inspect``), the image's ``io.edgetrain.model.version`` label is this version, and the model registry has the
version (whose ``metadata.json`` the smoke test is generated from). Each failure is one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgetrain.deploy.errors import DeployError
from edgetrain.deploy.slots import Release
from edgetrain.deploy.smoke import read_schema
from edgetrain.errors import EdgetrainError
from edgetrain.registry.base import ModelVersion, Registry
from edgetrain.serving.image import inspect_remote

_BY_DIGEST = re.compile(r"^[A-Za-z0-9.\-\[\]:]+/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")
VERSION_LABEL = "io.edgetrain.model.version"


def check_image(image: str, version: str, authfile: Path | None = None) -> None:
    if not _BY_DIGEST.match(image):
        raise DeployError(
            f"--image {image!r}: expected registry/repository@sha256:<64 hex> (an image by digest)"
        )
    try:
        remote = inspect_remote(image, authfile)
    except EdgetrainError as err:
        raise DeployError(f"image {image} is not in the registry by that digest: {err}") from None
    label = (remote.get("Labels") or {}).get(VERSION_LABEL)
    if label != version:
        raise DeployError(f"image {image} holds model version {label!r}, not version {version}")


def resolve(
    registry: Registry, version: str, image: str, workdir: Path, authfile: Path | None = None
) -> tuple[Release, ModelVersion, dict[str, Any]]:
    """The release, its registry version and its schema; raises DeployError naming what is wrong."""
    try:
        registered = registry.get(version)
    except EdgetrainError:
        raise DeployError(
            f"version {version} of {registry.model_name} was never released (not in {registry.where()})"
        ) from None
    check_image(image, version, authfile)
    try:
        folder = registry.fetch(registered, workdir)
    except EdgetrainError as err:
        raise DeployError(f"version {version}: cannot fetch its metadata.json: {err}") from None
    return Release(version, image), registered, read_schema(folder / "metadata.json")
