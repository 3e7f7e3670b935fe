"""``edgetrain image build`` / ``push``: the scoring image from the ``edgetrain package`` context.

One code path for the release workflow, the rehearsal and the tests: buildah builds (``--format docker``
keeps the HEALTHCHECK) and pushes; skopeo inspects what a registry holds. The build is reproducible: every
timestamp is the commit's (``--timestamp`` and the ``SOURCE_DATE_EPOCH`` build argument) and buildah's
version label is left out, so rebuilding a commit gives the same image and pushing it again the same
digest. Storage driver and isolation default to ``vfs`` + ``chroot`` (work unprivileged, in containers
and on GitHub's Ubuntu runners); buildah's own ``STORAGE_DRIVER`` / ``BUILDAH_ISOLATION`` or the flags
override them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetrain.contract.hashing import sha256_hex
from edgetrain.errors import EdgetrainError
from edgetrain.serving.package import IMAGE_SPEC

log = logging.getLogger(__name__)

DEFAULT_STORAGE_DRIVER = "vfs"
DEFAULT_ISOLATION = "chroot"
#: A private storage location (``<root>/storage``, ``<root>/run``) instead of buildah's default.
ROOT_ENV = "EDGETRAIN_CONTAINERS_ROOT"
#: Bounded waits: a build installs wheels (minutes on vfs); a push or inspect moves one image.
BUILD_TIMEOUT_S = 1800
PUSH_TIMEOUT_S = 600
INSPECT_TIMEOUT_S = 120
PULL_POLICIES = ("missing", "always", "never")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Buildah:
    """How buildah is run: storage driver, isolation and (optionally) a private storage location."""

    storage_driver: str = DEFAULT_STORAGE_DRIVER
    isolation: str = DEFAULT_ISOLATION
    root: Path | None = None

    @classmethod
    def from_env(
        cls,
        storage_driver: str | None = None,
        isolation: str | None = None,
        root: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Buildah:
        env = os.environ if env is None else env
        return cls(
            storage_driver or env.get("STORAGE_DRIVER") or DEFAULT_STORAGE_DRIVER,
            isolation or env.get("BUILDAH_ISOLATION") or DEFAULT_ISOLATION,
            root or (Path(env[ROOT_ENV]) if env.get(ROOT_ENV) else None),
        )

    def global_args(self) -> list[str]:
        args = ["--storage-driver", self.storage_driver]
        if self.root is not None:
            args += ["--root", str(self.root / "storage"), "--runroot", str(runroot_for(self.root))]
        return args

    def run(self, args: Sequence[str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
        return run_tool(["buildah", *self.global_args(), *args], timeout, what)


def runroot_for(root: Path) -> Path:
    """The run state for a private storage root: a short folder under /tmp, named by the root's path.

    Podman and buildah refuse a ``--runroot`` longer than 50 characters, and a checkout (so any root under
    it) may sit at any depth: GitHub's runners use ``/home/runner/work/<repo>/<repo>``. Run state is
    transient (locks, mounts), so a folder keyed by the root's absolute path keeps one per storage root.
    """
    key = sha256_hex(str(root.resolve()).encode())[:16]
    return Path("/tmp") / f"edgetrain-{os.getuid()}-{key}"


def run_tool(argv: list[str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run a container tool; failure is one line naming what failed and the tool's last error line."""
    if shutil.which(argv[0]) is None:
        raise EdgetrainError(f"{argv[0]}: not installed (needed to {what}; apt-get install {argv[0]})")
    log.info("running %s", " ".join(argv))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise EdgetrainError(f"{argv[0]}: timed out after {timeout:.0f}s trying to {what}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise EdgetrainError(f"{argv[0]}: cannot {what}: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done


@dataclass(frozen=True)
class ImageSpec:
    """``image.json`` in the build context, written by ``edgetrain package``."""

    repository: str
    revision: str
    model_version: str | None
    source_date_epoch: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        """Model version (when registered) and commit."""
        return [tag for tag in (self.model_version, self.revision) if tag]


def read_spec(context: Path) -> ImageSpec:
    path = context / IMAGE_SPEC
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgetrainError(f"{path}: not found (run `edgetrain package` first)") from None
    except (OSError, ValueError) as exc:
        raise EdgetrainError(f"{path}: cannot read: {exc}") from None
    if not raw.get("revision"):
        raise EdgetrainError(f"{path}: no commit recorded (package from a git checkout to build an image)")
    spec = ImageSpec(
        repository=str(raw.get("repository") or ""),
        revision=str(raw["revision"]),
        model_version=str(raw["model_version"]) if raw.get("model_version") else None,
        source_date_epoch=int(raw.get("source_date_epoch") or 0),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
    )
    if not _REPOSITORY.match(spec.repository):
        raise EdgetrainError(f"{path}: repository {spec.repository!r} is not a valid image repository name")
    for tag in spec.tags:
        if not _TAG.match(tag):
            raise EdgetrainError(f"{path}: {tag!r} is not a valid image tag")
    return spec


@dataclass(frozen=True)
class BuildOptions:
    context: Path
    buildah: Buildah = field(default_factory=Buildah)
    #: Override of the Dockerfile's pinned base (the offline rehearsal's stand-in only).
    base_image: str | None = None
    pull: str = "missing"
    #: Extra ``SRC:DST[:OPTIONS]`` bind mounts for RUN steps (the rehearsal's wheelhouse and pip.conf).
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuiltImage:
    image_id: str
    names: list[str]
    seconds: float


def local_name(spec: ImageSpec, tag: str) -> str:
    return f"localhost/{spec.repository}:{tag}"


def build(opts: BuildOptions) -> BuiltImage:
    """Build the context into local storage, tagged ``localhost/<repository>:<model version>|<commit>``."""
    spec = read_spec(opts.context)
    if opts.pull not in PULL_POLICIES:
        raise EdgetrainError(f"--pull: {opts.pull!r} is not one of {', '.join(PULL_POLICIES)}")
    names = [local_name(spec, tag) for tag in spec.tags]
    epoch = str(spec.source_date_epoch)
    with tempfile.TemporaryDirectory(prefix="edgetrain-image-") as tmp:
        iidfile = Path(tmp) / "iid"
        args = [
            "build", "--format", "docker", "--isolation", opts.buildah.isolation,
            f"--pull={ {'missing': 'false'}.get(opts.pull, opts.pull)}",
            "--timestamp", epoch, "--build-arg", f"SOURCE_DATE_EPOCH={epoch}", "--identity-label=false",
            "--iidfile", str(iidfile), "--file", str(opts.context / "Dockerfile"),
        ]  # fmt: skip
        if opts.base_image:
            args += ["--build-arg", f"BASE_IMAGE={opts.base_image}"]
        for volume in opts.volumes:
            args += ["--volume", volume]
        for name in names:
            args += ["--tag", name]
        started = time.monotonic()
        opts.buildah.run([*args, str(opts.context)], BUILD_TIMEOUT_S, f"build {opts.context}")
        seconds = time.monotonic() - started
        image_id = iidfile.read_text(encoding="utf-8").strip()
    log.info("built %s (%s) in %.1fs", ", ".join(names), image_id, seconds)
    return BuiltImage(image_id.removeprefix("sha256:"), names, seconds)


def is_loopback(registry: str) -> bool:
    host = registry.rsplit("@", 1)[-1]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class PushOptions:
    context: Path
    registry: str
    buildah: Buildah = field(default_factory=Buildah)
    repository: str | None = None
    authfile: Path | None = None


@dataclass(frozen=True)
class Pushed:
    repository: str  # registry/repository
    digest: str
    tags: list[str]
    #: False when the registry already held exactly this build under every tag.
    pushed: bool = True

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


def push(opts: PushOptions) -> Pushed:
    """Push every tag of the context's image; all tags must name one manifest (one digest).

    When the registry already holds every tag as one image with exactly this build's labels (same commit,
    model version, data version, created time), nothing is pushed and that image's digest is reported:
    rerunning a release for a commit never moves its tags.
    """
    spec = read_spec(opts.context)
    repository = opts.repository or spec.repository
    if not _REPOSITORY.match(repository):
        raise EdgetrainError(f"--repository: {repository!r} is not a valid image repository name")
    if not _REGISTRY.match(opts.registry):
        raise EdgetrainError(f"--registry: {opts.registry!r} must be a host[:port] such as myacr.azurecr.io")
    target = f"{opts.registry}/{repository}"
    existing = _already_pushed(target, spec, opts.authfile)
    if existing is not None:
        log.info("%s already holds %s as %s: nothing pushed", target, spec.tags, existing)
        return Pushed(target, existing, spec.tags, pushed=False)
    # Plain HTTP only to a registry on this machine (the rehearsal's stand-in), never over a network.
    tls = "--tls-verify=false" if is_loopback(opts.registry) else "--tls-verify=true"
    digests: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="edgetrain-push-") as tmp:
        for tag in spec.tags:
            digestfile = Path(tmp) / f"{tag}.digest"
            args = ["push", tls, "--format", "v2s2", "--digestfile", str(digestfile)]
            if opts.authfile:
                args += ["--authfile", str(opts.authfile)]
            args += [local_name(spec, tag), f"docker://{target}:{tag}"]
            opts.buildah.run(args, PUSH_TIMEOUT_S, f"push {target}:{tag}")
            digests.add(digestfile.read_text(encoding="utf-8").strip())
    if len(digests) != 1 or not _DIGEST.match(next(iter(digests))):
        raise EdgetrainError(f"{target}: tags {spec.tags} got different manifests {sorted(digests)}")
    return Pushed(target, digests.pop(), spec.tags, pushed=True)


def _already_pushed(target: str, spec: ImageSpec, authfile: Path | None) -> str | None:
    """The digest every tag already names in the registry, if it is this build; else ``None``."""
    digests = set()
    for tag in spec.tags:
        try:
            remote = inspect_remote(f"{target}:{tag}", authfile)
        except EdgetrainError:
            return None  # absent (or unreachable: the push then fails with the registry's own error)
        labels = remote.get("Labels") or {}
        if any(labels.get(key) != value for key, value in spec.labels.items()):
            return None
        digests.add(str(remote.get("Digest")))
    return digests.pop() if len(digests) == 1 else None


def inspect_remote(reference: str, authfile: Path | None = None) -> dict[str, Any]:
    """``skopeo inspect`` of ``docker://reference`` (labels, digest, config)."""
    registry = reference.split("/", 1)[0]
    argv = ["skopeo", "inspect", f"--tls-verify={'false' if is_loopback(registry) else 'true'}"]
    if authfile:
        argv += ["--authfile", str(authfile)]
    done = run_tool([*argv, f"docker://{reference}"], INSPECT_TIMEOUT_S, f"inspect {reference}")
    inspected: dict[str, Any] = json.loads(done.stdout)  # skopeo inspect prints one JSON object
    return inspected
