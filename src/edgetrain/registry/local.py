"""The ``local`` backend: numbered version folders under a directory outside git.

Layout: ``<root>/<model_name>/<N>/`` holds copies of the model files and ``version.json``
(tags, properties, description). A new version is written to a temporary folder beside the
others and renamed into place, under an exclusive ``flock`` on ``<root>/<model_name>/.lock``,
so a crash leaves no half-written version and concurrent registers get distinct numbers.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from edgetrain.registry.base import Candidate, ModelVersion, Registry, version_key
from edgetrain.registry.errors import RegistryError

log = logging.getLogger(__name__)

VERSION_FILE = "version.json"
LOCK_FILE = ".lock"


class LocalRegistry(Registry):
    backend = "local"

    def __init__(self, root: Path, model_name: str, *, lock_timeout_s: float = 60.0) -> None:
        super().__init__(model_name)
        self.root = root.expanduser()
        self.lock_timeout_s = lock_timeout_s

    @property
    def model_dir(self) -> Path:
        return self.root / self.model_name

    def where(self) -> str:
        return f"local registry {self.model_dir}"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            fh = (self.model_dir / LOCK_FILE).open("a")
        except OSError as exc:
            raise RegistryError(f"cannot open {self.where()}: {exc.strerror}") from None
        with fh:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RegistryError(
                            f"{self.model_dir / LOCK_FILE} is held by another register "
                            f"for over {self.lock_timeout_s:g}s"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read(self, folder: Path) -> ModelVersion:
        try:
            data = json.loads((folder / VERSION_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{folder / VERSION_FILE}: unreadable ({exc})") from None
        return ModelVersion(
            name=str(data.get("name", self.model_name)),
            version=folder.name,
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            properties={str(k): str(v) for k, v in (data.get("properties") or {}).items()},
            description=str(data.get("description", "")),
            location=str(folder),
            created=data.get("created"),
        )

    def list_versions(self) -> list[ModelVersion]:
        if not self.model_dir.is_dir():
            return []
        folders = [p for p in self.model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        return sorted((self._read(p) for p in folders), key=version_key)

    def fetch(self, version: ModelVersion, dest: Path) -> Path:  # noqa: ARG002 - files are local already
        folder = self.model_dir / version.version
        if not (folder / VERSION_FILE).is_file():
            raise RegistryError(f"{folder}: version {version.version} has no files in {self.where()}")
        return folder

    def create(self, candidate: Candidate) -> tuple[ModelVersion, bool]:
        with self._locked():
            versions = self.list_versions()
            for found in versions:
                if found.matches(candidate.git_commit, candidate.model_md5):
                    return found, False
            number = max((int(v.version) for v in versions), default=0) + 1
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.model_dir))
            try:
                for src in candidate.files:
                    shutil.copyfile(src, tmp / src.name)
                record = {
                    "name": self.model_name,
                    "version": str(number),
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "files": [src.name for src in candidate.files],
                    "tags": dict(candidate.tags),
                    "properties": dict(candidate.properties),
                    "description": candidate.description,
                }
                _write_json(tmp / VERSION_FILE, record)
                tmp.rename(self.model_dir / str(number))
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise RegistryError(f"cannot write version {number} to {self.where()}: {exc}") from None
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            log.info("registered %s version %d in %s", self.model_name, number, self.model_dir)
            return self._read(self.model_dir / str(number)), True

    def set_tags(self, version: ModelVersion, tags: Mapping[str, str | None]) -> ModelVersion:
        with self._locked():
            folder = self.model_dir / version.version
            path = folder / VERSION_FILE
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise RegistryError(f"{path}: unreadable ({exc})") from None
            current = dict(record.get("tags") or {})
            for key, value in tags.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            record["tags"] = current
            _write_json(path, record)
            return self._read(folder)


def _write_json(path: Path, data: object) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename over."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
