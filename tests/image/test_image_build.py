"""The real thing: package -> `edgetrain image build` (buildah) -> `edgetrain image push` to a loopback
registry -> pull it back into fresh storage -> run the server inside -> same predictions as `edgetrain serve`.

Build time and image size are logged (``-o log_cli=true`` shows them); the figures are in docs/serving.md.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.image.helpers import COMMIT_EPOCH, SOURCE, Project, committed_project, edgetrain, load_rehearsal
from tests.serving.helpers import READY_TIMEOUT, records, serve_context

from edgetrain.serving.dockerfile import HEALTHCHECK_PROBE, USER_ID
from edgetrain.serving.image import Buildah, inspect_remote
from edgetrain.serving.package import DATA_SUFFIXES
from edgetrain.storage.azurite import free_port

log = logging.getLogger(__name__)
base_image = load_rehearsal("base_image")
registry_module = load_rehearsal("registry")
REPOSITORY = "edgetrain-scoring"
RUN_TIMEOUT = 120


@dataclass(frozen=True)
class Release:
    project: Project
    context: Path
    storage: Buildah
    registry: registry_module.LoopbackRegistry
    reference: str  # registry/repository@digest
    build_output: str
    push_output: str


def storage_args(storage: Buildah) -> list[str]:
    assert storage.root is not None
    return ["--storage-root", str(storage.root)]


def inspect_local(storage: Buildah, name: str) -> dict:
    done = storage.run(["inspect", "--type", "image", name], 120, f"inspect {name}")
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def release(
    tmp_path_factory: pytest.TempPathFactory,
    buildah_storage: Buildah,
    standin: base_image.StandIn,
    registry: registry_module.LoopbackRegistry,
) -> Iterator[Release]:
    project = committed_project(tmp_path_factory.mktemp("image-project") / "repo")
    context = project.root / "build" / "scoring"
    packaged = edgetrain("package", "--model-version", "3", "--require-clean", cwd=project.root)
    assert packaged.returncode == 0, packaged.stderr
    started = time.monotonic()
    built = edgetrain(
        "image", "build", "--context", str(context), *storage_args(buildah_storage), *standin.build_args(),
        cwd=project.root,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    build_seconds = time.monotonic() - started
    digest_file = project.root / "build" / "pushed.txt"
    pushed = edgetrain(
        "image", "push", "--context", str(context), *storage_args(buildah_storage),
        "--registry", registry.address, "--digest-file", str(digest_file),
        cwd=project.root,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    raw = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{digest_file.read_text().strip()}"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    size = sum(int(layer["size"]) for layer in json.loads(raw.stdout)["layers"])
    log.info(
        "image build %.1fs; %.0f MB compressed in the registry (with the base)",
        build_seconds,
        size / 1e6,
    )
    yield Release(
        project,
        context,
        buildah_storage,
        registry,
        digest_file.read_text().strip(),
        built.stdout,
        pushed.stdout,
    )
    names = [f"localhost/{REPOSITORY}:{tag}" for tag in ("3", project.commit)]
    for args in (["rmi", *names], ["rmi", "--prune"]):  # this test storage only: its images and leftovers
        subprocess.run(
            ["buildah", *buildah_storage.global_args(), *args], capture_output=True, timeout=300, check=False
        )


def test_push_output_names_tags_and_digest(release: Release) -> None:
    repository, digest = release.reference.split("@")
    assert repository == f"{release.registry.address}/{REPOSITORY}"
    assert release.registry.tags(REPOSITORY) == sorted(["3", release.project.commit])
    for tag in ("3", release.project.commit):
        assert f"pushed: {repository}:{tag}@{digest}" in release.push_output
    assert release.push_output.strip().splitlines()[-1] == release.reference


def test_labels_healthcheck_and_user_in_the_registry(release: Release) -> None:
    remote = inspect_remote(release.reference)
    labels = remote["Labels"]
    assert labels["org.opencontainers.image.source"] == SOURCE
    assert labels["org.opencontainers.image.revision"] == release.project.commit
    assert labels["io.edgetrain.model.version"] == "3"
    assert labels["org.opencontainers.image.created"] == "2024-01-02T03:04:05Z"
    assert "io.buildah.version" not in labels
    raw = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", "--config", f"docker://{release.reference}"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    config = json.loads(raw.stdout)["config"]
    assert config["User"] == str(USER_ID)
    assert config["Healthcheck"]["Test"][:3] == ["CMD", "python", "-c"]
    assert config["Cmd"] == ["python", "-m", "scoring_server"]


@pytest.fixture(scope="module")
def pulled(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Buildah, str]]:
    """The pushed image pulled back by digest into a fresh, empty storage, as a working container."""
    fresh = Buildah.from_env(root=tmp_path_factory.mktemp("fresh-storage"), env={})
    done = fresh.run(
        ["from", "--tls-verify=false", "--pull=always", "--quiet", f"docker://{release.reference}"],
        900,
        "pull the pushed image",
    )
    container = done.stdout.strip().splitlines()[-1]
    yield fresh, container
    subprocess.run(
        ["buildah", *fresh.global_args(), "rm", container], capture_output=True, timeout=300, check=False
    )
    subprocess.run(
        ["buildah", *fresh.global_args(), "rmi", "--all"], capture_output=True, timeout=300, check=False
    )


def run_in(storage: Buildah, container: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *storage.global_args(), "run", "--isolation", storage.isolation, container, "--", *argv],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip


def test_runs_as_non_root(pulled: tuple[Buildah, str]) -> None:
    done = run_in(*pulled, "id", "-u")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(USER_ID)


def test_no_data_and_only_the_context_in_app(pulled: tuple[Buildah, str], release: Release) -> None:
    storage, container = pulled
    mount = storage.run(["mount", container], 120, "mount the container").stdout.strip()
    try:
        root = Path(mount)
        app = {p.relative_to(root / "app").as_posix() for p in (root / "app").rglob("*") if p.is_file()}
        copied = {"requirements.lock"} | {
            p.relative_to(release.context).as_posix()
            for folder in ("scoring_server", "model")
            for p in (release.context / folder).rglob("*")
            if p.is_file()
        }
        assert app == copied
        for name in app:
            assert not {s.lower() for s in Path(name).suffixes} & DATA_SUFFIXES, name
        # The rehearsal's build-time mounts (wheelhouse, pip.conf) leave nothing behind.
        assert not (root / "wheelhouse").exists()
        assert not (root / "etc" / "pip.conf").exists()
        assert not list((root / "root").glob(".cache/pip*"))
        # Timestamps are the commit's, not the build's: file times and the account's password-change day.
        assert (root / "app" / "model" / "model.ubj").stat().st_mtime == COMMIT_EPOCH
        shadow = dict(line.split(":", 1) for line in (root / "etc" / "shadow").read_text().splitlines())
        assert shadow["scoring"].split(":")[1] == str(COMMIT_EPOCH // 86400)
    finally:
        storage.run(["umount", container], 120, "unmount the container")


@pytest.fixture(scope="module")
def image_server(pulled: tuple[Buildah, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image's CMD running inside the pulled container (buildah run: the host's loopback)."""
    storage, container = pulled
    port = free_port()
    argv = [
        "buildah", *storage.global_args(), "run", "--isolation", storage.isolation,
        "--env", f"PORT={port}", "--env", "HOST=127.0.0.1", container, "--", "python", "-m", "scoring_server",
    ]  # fmt: skip
    log_file = tmp_path_factory.mktemp("image-server") / "server.log"
    with log_file.open("wb") as sink:
        process = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert process.poll() is None, log_file.read_text()[-3000:]
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(
                f"server in the image not ready after {READY_TIMEOUT}s: {log_file.read_text()[-3000:]}"
            )
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_image_scores_like_edgetrain_serve(
    image_server: str, release: Release, tmp_path: Path, pulled: tuple[Buildah, str]
) -> None:
    body = records(release.project.model.test_frame)
    in_image = httpx.post(image_server + "/score", json=body, timeout=60)
    assert in_image.status_code == 200, in_image.text
    local = serve_context(release.context, tmp_path)
    try:
        served = httpx.post(local.url + "/score", json=body, timeout=60)
    finally:
        local.stop_gracefully()
    assert served.status_code == 200
    assert in_image.json() == served.json()
    metadata = httpx.get(image_server + "/metadata", timeout=10).json()
    assert json.dumps(metadata).count(release.project.commit) >= 1
    # The HEALTHCHECK command itself succeeds against the running server.
    port = image_server.rsplit(":", 1)[1]
    probe = run_in(*pulled, "env", f"PORT={port}", "python", "-c", HEALTHCHECK_PROBE.format(port=port))
    assert probe.returncode == 0, probe.stderr


def test_repush_and_rebuild_give_the_same_digest(release: Release, standin: base_image.StandIn) -> None:
    storage = release.storage
    first = inspect_local(storage, f"localhost/{REPOSITORY}:3")
    again = edgetrain(
        "image", "push", "--context", str(release.context), *storage_args(storage),
        "--registry", release.registry.address, cwd=release.project.root,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == release.reference
    rebuilt = edgetrain(
        "image", "build", "--context", str(release.context), *storage_args(storage), *standin.build_args(),
        cwd=release.project.root,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    second = inspect_local(storage, f"localhost/{REPOSITORY}:3")
    # Same commit, same bytes: every layer (file contents, owners, times) is identical.
    assert second["Docker"]["rootfs"]["diff_ids"] == first["Docker"]["rootfs"]["diff_ids"]
    assert second["Docker"]["created"] == first["Docker"]["created"]
    repushed = edgetrain(
        "image", "push", "--context", str(release.context), *storage_args(storage),
        "--registry", release.registry.address, cwd=release.project.root,
    )  # fmt: skip
    assert repushed.returncode == 0, repushed.stderr
    assert repushed.stdout.strip().splitlines()[-1] == release.reference
    assert "unchanged (already in the registry)" in repushed.stdout
    assert release.registry.tags(REPOSITORY) == sorted(["3", release.project.commit])
