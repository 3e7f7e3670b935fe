"""Offline stand-in for the scoring image's base, and a wheelhouse for its pip (rehearsal only).

Docker Hub cannot be reached here, so the base the Dockerfile pins (python:3.11.17-slim-bookworm by digest)
is stood in by a Debian bookworm ``mmdebstrap --variant=minbase`` root file system with python3 (3.11, the
version the serving lock's wheels target) and pip, imported into buildah's storage under the base's tag
name. A digest cannot be faked, so the build is pointed at it with ``edgetrain image build --base-image``
(only the rehearsal does that). pip inside the build installs from a ``pip download`` wheelhouse through a
mounted pip.conf (see :func:`pip_home`), still checking every hash of ``requirements.lock``.

Both are cached under ``.edgetrain/rehearsal/`` keyed by their recipe, so tests and CI build them once.

    python tests/rehearsal/base_image.py [--storage-root DIR]   # prints the `edgetrain image build` arguments
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgetrain.errors import EdgetrainError
from edgetrain.serving.dockerfile import BASE_IMAGE_TAG
from edgetrain.serving.image import Buildah, run_tool
from edgetrain.serving.package import REQUIREMENTS_LOCK

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".edgetrain" / "rehearsal"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
#: bookworm's python3; must be the minor version the lock's wheels and the pinned base's tag name.
PYTHON_VERSION = "3.11"
PACKAGES = ("python3", "python3-pip", "python-is-python3", "passwd", "ca-certificates")
#: The official image has no PEP 668 marker (its python lives in /usr/local); neither may the stand-in.
HOOKS = ('rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',)
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
#: What the official image's config sets and the Dockerfile relies on.
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
MMDEBSTRAP_TIMEOUT_S = 900
PIP_TIMEOUT_S = 900
CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
DEBIAN_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
IMPORT_TIMEOUT_S = 600
RECIPE_LABEL = "io.edgetrain.rehearsal.base-recipe"
PIP_CONF = "[global]\nno-index = true\nfind-links = /root/wheels\n"


@dataclass(frozen=True)
class StandIn:
    base_image: str
    pip_home: Path

    def build_args(self) -> list[str]:
        """Arguments for ``edgetrain image build`` that use the stand-in and the wheelhouse."""
        return ["--base-image", self.base_image, "--pull", "never", "--volume", f"{self.pip_home}:/root:ro"]

    def runner_bin(self, folder: Path) -> Path:
        """A folder holding a ``buildah`` for the rehearsal's runner host to put first on its PATH.

        It runs the real buildah, adding to ``buildah build`` the stand-in base and the wheelhouse. The
        release workflow carries no switch for this (nothing on GitHub can replace its pinned base): the
        rehearsal's runner host simply has a different buildah, which is a thing only a rehearsal can do.
        """
        real = shutil.which("buildah")
        if real is None:
            raise EdgetrainError("buildah: not installed")
        extra = " ".join(
            shlex.quote(a)
            for a in ("--build-arg", f"BASE_IMAGE={self.base_image}", "--volume", f"{self.pip_home}:/root:ro")
        )
        folder.mkdir(parents=True, exist_ok=True)
        shim = folder / "buildah"
        shim.write_text(
            "#!/usr/bin/env bash\n"
            "# Rehearsal runner host only (tests/rehearsal/base_image.py): `build` uses the base stand-in.\n"
            "args=(); added=0\n"
            'for a in "$@"; do\n'
            '  args+=("$a")\n'
            f'  if [ "$added" = 0 ] && [ "$a" = build ]; then args+=({extra}); added=1; fi\n'
            "done\n"
            f'exec {shlex.quote(real)} "${{args[@]}}"\n',
            encoding="utf-8",
        )
        shim.chmod(0o755)
        return folder


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _recipe() -> str:
    return _key(SUITE, MIRROR, *PACKAGES, *HOOKS, *DPKG_EXCLUDES, *IMAGE_CHANGES)


def rootfs_tarball(cache: Path = CACHE) -> Path:
    """The stand-in's root file system (built once per recipe)."""
    tarball = cache / f"base-{SUITE}-{_recipe()}.tar"
    if tarball.is_file():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="base-", dir=cache) as tmp:
        partial = Path(tmp) / tarball.name
        argv = ["mmdebstrap", "--variant=minbase", "--mode=auto", "--format=tar", "--quiet"]
        argv += [f"--include={','.join(PACKAGES)}"]
        argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES]
        argv += [f"--customize-hook={hook}" for hook in HOOKS]
        run_tool([*argv, SUITE, str(partial), MIRROR], MMDEBSTRAP_TIMEOUT_S, "build the base stand-in")
        _check_python(partial)
        partial.rename(tarball)
    return tarball


def _check_python(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    if f"./usr/bin/python{PYTHON_VERSION}" not in names:
        raise EdgetrainError(
            f"{tarball}: the stand-in has no python{PYTHON_VERSION} (the lock's wheels need it)"
        )
    if any(name.endswith("EXTERNALLY-MANAGED") for name in names):
        raise EdgetrainError(f"{tarball}: pip in the stand-in would refuse to install (EXTERNALLY-MANAGED)")


def standin_recipe(buildah: Buildah, name: str) -> str | None:
    """The recipe label of the image ``name`` in ``buildah``'s storage (``None``: not there)."""
    done = subprocess.run(
        ["buildah", *buildah.global_args(), "inspect", "--type", "image", name],
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        return None
    labels = (json.loads(done.stdout).get("OCIv1", {}).get("config") or {}).get("Labels") or {}
    return labels.get(RECIPE_LABEL)


def ensure_base(buildah: Buildah, cache: Path = CACHE) -> str:
    """The stand-in in ``buildah``'s storage under the pinned base's name (imported when missing or stale)."""
    name = BASE_IMAGE_TAG
    recipe = _recipe()
    if standin_recipe(buildah, name) == recipe:
        return name
    tarball = rootfs_tarball(cache)
    argv = ["podman", *buildah.global_args(), "import", "--quiet"]
    for change in (*IMAGE_CHANGES, f"LABEL {RECIPE_LABEL}={recipe}"):
        argv += ["--change", change]
    run_tool([*argv, str(tarball), name], IMPORT_TIMEOUT_S, "import the base stand-in")
    return name


def pip_home(buildah: Buildah, base: str, cache: Path = CACHE, lock: Path = REQUIREMENTS_LOCK) -> Path:
    """A home folder for root during the build: ``wheels/`` and ``.config/pip/pip.conf`` pointing pip at them.

    The wheels are fetched by ``pip download`` inside the stand-in itself (its python and pip, the ones
    that will install them), checking every hash of the lock. The folder is mounted over ``/root``, which
    every base has: a mount point buildah had to create (``/wheelhouse``, ``/etc/pip.conf``) would stay
    behind in the image as an empty file or folder.
    """
    text = lock.read_text(encoding="utf-8")
    home = cache / f"pip-home-{_key(text, PYTHON_VERSION, PIP_CONF, _recipe())}"
    if home.is_dir():
        return home
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pip-home-", dir=cache) as tmp:
        partial = Path(tmp) / "home"
        (partial / "wheels").mkdir(parents=True)
        shutil.copyfile(lock, partial / "requirements.lock")
        container = buildah.run(["from", "--pull=never", "--quiet", base], IMPORT_TIMEOUT_S, f"start {base}")
        name = container.stdout.strip().splitlines()[-1]
        download = ["run", "--isolation", buildah.isolation, "--volume", f"{partial}:/out"]
        download += _host_pip_settings(partial)
        download += [
            name, "--",
            "python3", "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--require-hashes", "--only-binary=:all:", "--no-deps",
            "--dest", "/out/wheels", "-r", "/out/requirements.lock",
        ]  # fmt: skip
        try:
            buildah.run(download, PIP_TIMEOUT_S, "download the serving wheels in the stand-in")
        finally:
            buildah.run(["rm", name], IMPORT_TIMEOUT_S, f"remove {name}")
        for scratch in ("requirements.lock", "ca.crt"):
            (partial / scratch).unlink(missing_ok=True)
        (partial / ".config" / "pip").mkdir(parents=True)
        (partial / ".config" / "pip" / "pip.conf").write_text(PIP_CONF, encoding="utf-8")
        partial.chmod(0o755)
        partial.rename(home)
    return home


def _host_pip_settings(folder: Path) -> list[str]:
    """The host's CA bundle (a TLS-inspecting proxy's CA lives there) and package index for pip in the
    stand-in, which otherwise knows only Debian's CAs and PyPI."""
    args: list[str] = []
    bundle = next(
        (
            Path(value)
            for value in (*(os.environ.get(k) for k in CA_ENV), DEBIAN_CA_BUNDLE)
            if value and Path(value).is_file()
        ),
        None,
    )
    if bundle is not None:
        shutil.copyfile(bundle, folder / "ca.crt")
        args += ["--env", "PIP_CERT=/out/ca.crt"]
    index = os.environ.get("PIP_INDEX_URL", "")
    if index.startswith(("https://", "http://")):
        args += ["--env", f"PIP_INDEX_URL={index}"]
    return args


def prepare(buildah: Buildah, cache: Path = CACHE) -> StandIn:
    base = ensure_base(buildah, cache)
    return StandIn(base, pip_home(buildah, base, cache))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage-root", type=Path, help="buildah storage (env EDGETRAIN_CONTAINERS_ROOT)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        standin = prepare(Buildah.from_env(root=args.storage_root), args.cache)
    except EdgetrainError as err:
        sys.stderr.write(f"base_image: error: {err}\n")
        return err.exit_code
    sys.stdout.write(" ".join(standin.build_args()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
