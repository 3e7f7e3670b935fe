"""``edgetrain package``: turn the trained model into a container build context (default ``build/scoring``).

The context holds a Dockerfile, the locked serving requirements, the self-contained ``scoring_server``
package and ``model/`` (model file, metadata.json, serving.json with name/version/commit/threshold/metrics).
It is built in a temporary sibling directory and renamed into place, so a failure leaves nothing half-written.
It never holds data: any data-like file (or anything from ``data/`` or ``artifacts/prepared``) is refused.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetrain.errors import DataError, EdgetrainError
from edgetrain.serving.dockerfile import DOCKERIGNORE, ImageLabels, render_dockerfile

log = logging.getLogger(__name__)

SERVING_DIR = Path(__file__).resolve().parent
SERVER_PACKAGE = SERVING_DIR / "scoring_server"
REQUIREMENTS_LOCK = SERVING_DIR / "requirements.lock"

#: Suffixes of files that hold rows of data (also when compressed: ``x.csv.gz``).
DATA_SUFFIXES = frozenset(
    {
        *(".csv", ".tsv", ".psv", ".parquet", ".pq", ".feather", ".arrow", ".ipc", ".orc", ".avro"),
        *(".jsonl", ".ndjson", ".npy", ".npz", ".pkl", ".pickle", ".joblib", ".h5", ".hdf5", ".hdf"),
        *(".xls", ".xlsx", ".xlsm", ".sqlite", ".sqlite3", ".db", ".dta", ".sav", ".sas7bdat", ".rds"),
        ".rdata",
    }
)
#: Archives could carry anything; they are refused too.
ARCHIVE_SUFFIXES = frozenset([".zip", ".gz", ".bz2", ".xz", ".zst", ".tar", ".tgz", ".7z"])
#: Directories (relative to the repository root) whose files never enter the context.
DATA_DIRS = ("data", "artifacts/prepared")


@dataclass(frozen=True)
class PackageOptions:
    model_dir: Path = Path("artifacts/model")
    metrics: Path = Path("artifacts/metrics.json")
    params: Path = Path("params.yaml")
    config: Path = Path("config/edge.yaml")
    output: Path = Path("build/scoring")
    model_version: str | None = None
    root: Path = field(default_factory=Path.cwd)


def is_data_file(path: Path, root: Path) -> str | None:
    """Why ``path`` counts as data (``None`` when it does not)."""
    suffixes = {s.lower() for s in path.suffixes}
    if suffixes & DATA_SUFFIXES:
        return "data file"
    if suffixes & ARCHIVE_SUFFIXES:
        return "archive"
    resolved = path.resolve()
    for folder in DATA_DIRS:
        if resolved.is_relative_to((root / folder).resolve()):
            return f"under {folder}/"
    return None


def refuse_data(files: list[tuple[Path, str]], root: Path) -> None:
    """Raise :class:`DataError` naming every data file that would enter the context."""
    offenders = [f"{src} ({why})" for src, _ in files if (why := is_data_file(src, root))]
    if offenders:
        shown = ", ".join(offenders[:5]) + (f" and {len(offenders) - 5} more" if len(offenders) > 5 else "")
        raise DataError(f"refusing to package: data would enter the build context: {shown}")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgetrainError(f"{path}: {what} not found (run `dvc repro` first)") from None
    except (OSError, ValueError) as exc:
        raise EdgetrainError(f"{path}: cannot read {what}: {exc}") from None
    if not isinstance(data, dict):
        raise EdgetrainError(f"{path}: {what} must be a JSON object")
    return data


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _source_url(remote: str | None) -> str:
    if not remote:
        return "unknown"
    if remote.startswith("git@") and ":" in remote:
        host, path = remote[4:].split(":", 1)
        remote = f"https://{host}/{path}"
    return remote.removesuffix(".git")


def _collect(opts: PackageOptions, model_file: Path) -> list[tuple[Path, str]]:
    """(source, destination in context) for every file copied as-is."""
    files: list[tuple[Path, str]] = []
    for src in sorted(opts.model_dir.rglob("*")):
        rel = src.relative_to(opts.model_dir)
        if src.is_file() and "__pycache__" not in rel.parts and not rel.name.startswith("."):
            files.append((src, f"model/{rel.as_posix()}"))
    if model_file.resolve() not in {src.resolve() for src, _ in files}:
        files.append((model_file, f"model/{model_file.name}"))
    files += [(src, f"scoring_server/{src.name}") for src in sorted(SERVER_PACKAGE.glob("*.py"))]
    files.append((REQUIREMENTS_LOCK, "requirements.lock"))
    return files


def _serving_info(opts: PackageOptions, metadata: dict[str, Any]) -> tuple[dict[str, Any], ImageLabels]:
    from edgetrain.config.edge import load_edge_config
    from edgetrain.config.loader import load_model
    from edgetrain.config.params import Params

    metrics = _read_json(opts.metrics, "test metrics")
    params = load_model(opts.params, Params)
    model_name = load_edge_config(opts.config).azureml.model_name
    commit = _git(opts.root, "rev-parse", "HEAD") or "unknown"
    dirty = _git(opts.root, "status", "--porcelain", "--untracked-files=no") is not None
    data_version = (metadata.get("data_version") or {}).get("md5") or "unknown"
    info = {
        "model_name": model_name,
        "model_version": opts.model_version,
        "git_commit": commit,
        "git_dirty": dirty,
        "task": metadata.get("task"),
        "threshold": params.evaluate.threshold,
        "metrics": metrics,
        "data_version": metadata.get("data_version"),
    }
    labels = ImageLabels(
        source=_source_url(_git(opts.root, "remote", "get-url", "origin")),
        revision=commit,
        version=opts.model_version or (commit[:12] if commit != "unknown" else "dev"),
        model_name=model_name,
        model_version=opts.model_version or "unversioned",
        data_version=data_version,
    )
    return info, labels


def _check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise EdgetrainError(f"{output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not (output / "Dockerfile").is_file():
        raise EdgetrainError(f"{output}: not empty and not a build context; refusing to replace it")


def build_context(opts: PackageOptions) -> Path:
    """Write the build context to ``opts.output`` atomically and return it."""
    metadata_path = opts.model_dir / "metadata.json"
    if not metadata_path.is_file():
        raise EdgetrainError(f"{metadata_path}: model metadata not found (run `dvc repro` first)")
    metadata = _read_json(metadata_path, "model metadata")
    model_file = opts.model_dir / str(metadata.get("model_file") or "model.ubj")
    if not model_file.is_file():
        raise EdgetrainError(f"{model_file}: model not found (run `dvc repro` first)")
    if not REQUIREMENTS_LOCK.is_file():
        raise EdgetrainError(f"{REQUIREMENTS_LOCK}: serving lock missing")
    files = _collect(opts, model_file)
    refuse_data(files, opts.root)
    info, labels = _serving_info(opts, metadata)
    _check_output(opts.output)

    opts.output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{opts.output.name}.", dir=opts.output.parent))
    try:
        for src, dest in files:
            target = staging / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        (staging / "model" / "serving.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (staging / "Dockerfile").write_text(render_dockerfile(labels), encoding="utf-8")
        (staging / ".dockerignore").write_text(DOCKERIGNORE, encoding="utf-8")
        written = [(p, p.relative_to(staging).as_posix()) for p in staging.rglob("*") if p.is_file()]
        refuse_data(written, opts.root)
        _swap_into_place(staging, opts.output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("build context written to %s (%d files)", opts.output, len(files) + 3)
    return opts.output


def _swap_into_place(staging: Path, output: Path) -> None:
    staging.chmod(0o755)
    if not output.exists():
        staging.rename(output)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.parent))
    old.rmdir()
    output.rename(old)
    try:
        staging.rename(output)
    except OSError:
        old.rename(output)
        raise
    shutil.rmtree(old, ignore_errors=True)


def context_size(path: Path) -> int:
    """Total bytes of the files in a build context."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
