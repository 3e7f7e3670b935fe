"""Pure parts of `edgetrain image` and the provenance rules, plus the one-line failures of the commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.image.helpers import SOURCE, committed_project, edgetrain, load_rehearsal, need_tools
from tests.serving.helpers import REPO, train_model

from edgetrain.errors import EdgetrainError
from edgetrain.serving.dockerfile import BASE_IMAGE, BASE_IMAGE_DIGEST, BASE_IMAGE_TAG
from edgetrain.serving.image import Buildah, is_loopback, read_spec, run_tool, runroot_for
from edgetrain.serving.package import IMAGE_SPEC, REQUIREMENTS_LOCK
from edgetrain.serving.provenance import source_url, web_url


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:acme/edgetrain-fork.git", SOURCE),
        ("ssh://git@github.com/acme/edgetrain-fork.git", SOURCE),
        ("https://github.com/acme/edgetrain-fork.git", SOURCE),
        ("https://x-access-token:ghs_secret@github.com/acme/edgetrain-fork", SOURCE),
        ("https://GitHub.com/acme/edgetrain-fork/", SOURCE),
        ("https://ghe.example.com:8443/team/repo.git", "https://ghe.example.com:8443/team/repo"),
        ("/home/me/src/edgetrain", None),
        ("../edgetrain", None),
        ("file:///home/me/src/edgetrain", None),
        ("C:/work/edgetrain", None),
        ("", None),
        (None, None),
    ],
)
def test_web_url(remote: str | None, url: str | None) -> None:
    assert web_url(remote) == url


def test_source_url_prefers_github_actions_then_origin(tmp_path: Path) -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com/", "GITHUB_REPOSITORY": "octo/repo"}
    assert source_url(tmp_path, env) == "https://github.com/octo/repo"
    assert (
        source_url(tmp_path, env, explicit="git@github.com:other/repo.git") == "https://github.com/other/repo"
    )
    assert source_url(tmp_path, {}) is None  # not a git checkout: no origin, no label
    with pytest.raises(EdgetrainError, match="GITHUB_SERVER_URL"):
        source_url(tmp_path, {"GITHUB_SERVER_URL": "/srv/git", "GITHUB_REPOSITORY": "octo/repo"})
    with pytest.raises(EdgetrainError, match="GITHUB_REPOSITORY"):
        source_url(tmp_path, {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "/srv/git/r"})
    with pytest.raises(EdgetrainError, match="--source-url"):
        source_url(tmp_path, {}, explicit="/srv/git/repo")


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("127.0.0.1", True),
        ("edgetrainacr.azurecr.io", False),
        ("10.0.0.5:5000", False),
        ("localhost.evil.example:5000", False),
    ],
)
def test_plain_http_only_to_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback


def test_buildah_settings_from_flags_env_and_defaults(tmp_path: Path) -> None:
    assert Buildah.from_env(env={}) == Buildah("vfs", "chroot", None)
    env = {
        "STORAGE_DRIVER": "overlay",
        "BUILDAH_ISOLATION": "oci",
        "EDGETRAIN_CONTAINERS_ROOT": str(tmp_path),
    }
    assert Buildah.from_env(env=env) == Buildah("overlay", "oci", tmp_path)
    assert Buildah.from_env("vfs", "chroot", env=env) == Buildah("vfs", "chroot", tmp_path)
    args = Buildah("vfs", "chroot", tmp_path).global_args()
    assert args[:4] == ["--storage-driver", "vfs", "--root", str(tmp_path / "storage")]
    assert args[4] == "--runroot"


def test_runroot_is_short_wherever_the_checkout_is(tmp_path: Path) -> None:
    """Podman refuses a runroot over 50 characters; the storage root may sit under any checkout path."""
    deep = tmp_path / ("x" * 120) / "storage-root"
    runroot = Buildah("vfs", "chroot", deep).global_args()[5]
    assert len(runroot) <= 50
    assert runroot == str(runroot_for(deep))
    assert runroot_for(deep) != runroot_for(tmp_path)  # one run state per storage root


def test_missing_tool_is_one_clear_line() -> None:
    with pytest.raises(
        EdgetrainError, match=r"no-such-buildah: not installed .*apt-get install no-such-buildah"
    ):
        run_tool(["no-such-buildah", "version"], 10, "build the image")


def test_build_without_a_context_says_run_package(tmp_path: Path) -> None:
    done = edgetrain("image", "build", "--context", str(tmp_path / "nothing"), cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "image.json" in done.stderr
    assert "edgetrain package" in done.stderr


def test_context_outside_git_cannot_be_tagged_by_commit(tmp_path: Path) -> None:
    model = train_model(tmp_path, "binary")
    with pytest.raises(EdgetrainError, match="no commit recorded"):
        read_spec(model.context)
    done = edgetrain("image", "build", "--context", str(model.context), cwd=tmp_path)
    assert done.returncode != 0
    assert "no commit recorded" in done.stderr


def test_spec_tags_are_model_version_and_commit(tmp_path: Path) -> None:
    project = committed_project(tmp_path / "repo")
    done = edgetrain("package", "--model-version", "12", cwd=project.root)
    assert done.returncode == 0, done.stderr
    context = project.root / "build" / "scoring"
    spec = read_spec(context)
    assert spec.tags == ["12", project.commit]
    assert spec.repository == "edgetrain-scoring"
    raw = json.loads((context / IMAGE_SPEC).read_text())
    raw["model_version"] = "bad tag!"
    (context / IMAGE_SPEC).write_text(json.dumps(raw))
    with pytest.raises(EdgetrainError, match="not a valid image tag"):
        read_spec(context)


def test_push_of_an_image_never_built_fails_with_one_line(tmp_path: Path) -> None:
    need_tools("buildah")
    project = committed_project(tmp_path / "repo")
    assert edgetrain("package", cwd=project.root).returncode == 0
    done = edgetrain(
        "image", "push", "--storage-root", str(tmp_path / "empty-storage"), "--registry", "127.0.0.1:9",
        cwd=project.root,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("edgetrain: error: buildah: cannot push 127.0.0.1:9/edgetrain-scoring:")


def test_base_is_pinned_by_digest_and_matches_the_lock_and_standin() -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", BASE_IMAGE_DIGEST)
    assert f"{BASE_IMAGE_TAG}@{BASE_IMAGE_DIGEST}" == BASE_IMAGE
    minor = re.search(r"python:(\d+\.\d+)\.\d+-slim", BASE_IMAGE_TAG)
    assert minor is not None
    assert f"--python-version {minor[1]}" in REQUIREMENTS_LOCK.read_text()
    assert minor[1] == load_rehearsal("base_image").PYTHON_VERSION


def test_uv_bootstrap_is_hash_pinned() -> None:
    makefile = (REPO / "Makefile").read_text()
    version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert version is not None
    assert "--require-hashes --no-deps -r requirements-uv.txt" in makefile
    assert not re.search(r"pip install[^\n]*uv==", makefile)
    pins = (REPO / "requirements-uv.txt").read_text()
    assert f"uv=={version[1]} \\" in pins
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) >= 10


@pytest.mark.parametrize("registry", ["http://127.0.0.1:5000", "127.0.0.1:5000/", "acr.io/path"])
def test_registry_must_be_a_host(tmp_path: Path, registry: str) -> None:
    project = committed_project(tmp_path / "repo")
    assert edgetrain("package", cwd=project.root).returncode == 0
    done = edgetrain("image", "push", "--registry", registry, cwd=project.root)
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        == f"edgetrain: error: --registry: {registry!r} must be a host[:port] such as myacr.azurecr.io"
    )


def test_missing_base_is_one_line_and_builds_nothing(tmp_path: Path) -> None:
    need_tools("buildah")
    project = committed_project(tmp_path / "repo")
    assert edgetrain("package", cwd=project.root).returncode == 0
    storage = tmp_path / "storage"
    done = edgetrain(
        "image", "build", "--storage-root", str(storage),
        "--base-image", "localhost/no-such-base:1", "--pull", "never", cwd=project.root,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("edgetrain: error: buildah: cannot build")
    images = Buildah.from_env(root=storage, env={}).run(["images", "--quiet"], 60, "list images")
    assert images.stdout.strip() == ""


def test_loopback_registry_config_binds_loopback_only(tmp_path: Path) -> None:
    registry = load_rehearsal("registry")
    config = json.loads(registry.config_text(tmp_path, 5999))
    assert config["http"]["addr"] == "127.0.0.1:5999"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path)
