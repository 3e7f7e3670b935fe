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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from edgetrain.config.edge import load_edge_config
from edgetrain.config.loader import load_model
from edgetrain.config.params import Params
from edgetrain.contract import layout
from edgetrain.errors import DataError, EdgetrainError
from edgetrain.serving.dockerfile import DOCKERIGNORE, ImageLabels, render_dockerfile
from edgetrain.serving.provenance import changed_files, provenance

log = logging.getLogger(__name__)

SERVING_DIR = Path(__file__).resolve().parent
SERVER_PACKAGE = SERVING_DIR / "scoring_server"
REQUIREMENTS_LOCK = SERVING_DIR / "requirements.lock"
#: What ``edgetrain image build`` reads from the context: repository, tags, labels, timestamp.
IMAGE_SPEC = "image.json"

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
DATA_DIRS = tuple(str(entry) for entry in layout.DATA_DIRS)


@dataclass(frozen=True)
class PackageOptions:
    model_dir: Path = Path(layout.MODEL_DIR)
    metrics: Path = Path(layout.METRICS)
    params: Path = Path(layout.PARAMS)
    config: Path = Path(layout.EDGE_CONFIG)
    output: Path = Path("build/scoring")
    model_version: str | None = None
    root: Path = field(default_factory=Path.cwd)
    #: Repository URL for the source label (default: from GitHub Actions' env or the origin remote).
    source_url: str | None = None
    #: Refuse a tree with uncommitted changes to tracked files (releases); otherwise revision ``<sha>-dirty``.
    require_clean: bool = False


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


def _check_no_symlinks(model_dir: Path) -> None:
    """A symlink in the model folder could pull any file of the machine into the image: refuse it."""
    if model_dir.is_symlink():
        raise EdgetrainError(f"{model_dir}: is a symlink; refusing to package (copy the model folder)")
    for path in sorted(model_dir.rglob("*")):
        if path.is_symlink():
            raise EdgetrainError(
                f"{path}: is a symlink; refusing to package (set DVC's cache.type to copy/reflink/hardlink)"
            )


def model_file_path(model_dir: Path, metadata: dict[str, Any], metadata_path: Path) -> Path:
    """``metadata.json``'s ``model_file`` as a plain relative path that stays inside ``model_dir``."""
    raw = metadata.get("model_file") or layout.MODEL_NAME
    bad = f"{metadata_path}: model_file {raw!r} must be a relative path inside {model_dir}"
    if not isinstance(raw, str) or "\\" in raw or "\x00" in raw:
        raise EdgetrainError(bad)
    rel = PurePosixPath(raw)
    if rel.is_absolute() or not rel.parts or ".." in rel.parts or rel.parts[0].startswith("~"):
        raise EdgetrainError(bad)
    path = model_dir.joinpath(*rel.parts)
    if not path.resolve().is_relative_to(model_dir.resolve()):
        raise EdgetrainError(bad)
    return path


def _collect(opts: PackageOptions, model_file: Path) -> list[tuple[Path, str]]:
    """(source, destination in context) for every file copied as-is."""
    files: list[tuple[Path, str]] = []
    for src in sorted(opts.model_dir.rglob("*")):
        rel = src.relative_to(opts.model_dir)
        if src.is_file() and "__pycache__" not in rel.parts and not rel.name.startswith("."):
            files.append((src, f"model/{rel.as_posix()}"))
    if model_file not in {src for src, _ in files}:
        raise EdgetrainError(f"{model_file}: hidden or cache files cannot be the model; rename it")
    files += [(src, f"scoring_server/{src.name}") for src in sorted(SERVER_PACKAGE.glob("*.py"))]
    files.append((REQUIREMENTS_LOCK, "requirements.lock"))
    return files


def _serving_info(
    opts: PackageOptions, metadata: dict[str, Any]
) -> tuple[dict[str, Any], ImageLabels, dict[str, Any]]:
    """serving.json (the server's /metadata), the image labels and the image spec (image.json)."""
    metrics = _read_json(opts.metrics, "test metrics")
    params = load_model(opts.params, Params)
    edge = load_edge_config(opts.config)
    origin = provenance(opts.root, explicit_source=opts.source_url)
    if opts.require_clean and origin.commit is None:
        raise EdgetrainError(f"{opts.root}: not a git checkout; --require-clean needs the commit to label")
    if opts.require_clean and origin.dirty:
        changed = changed_files(opts.root)
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise EdgetrainError(
            f"{opts.root}: tracked files have uncommitted changes ({shown}); commit them (a release image "
            "must be exactly a commit), or leave out --require-clean to build a `-dirty` image"
        )
    data_version = (metadata.get("data_version") or {}).get("md5") or "unknown"
    info = {
        "model_name": edge.azureml.model_name,
        "model_version": opts.model_version,
        "git_commit": origin.commit or "unknown",
        "git_dirty": origin.dirty,
        "task": metadata.get("task"),
        "threshold": params.evaluate.threshold,
        "metrics": metrics,
        "data_version": metadata.get("data_version"),
    }
    short = f"{origin.commit[:12]}{'-dirty' if origin.dirty else ''}" if origin.commit else "dev"
    labels = ImageLabels(
        source=origin.source,
        revision=origin.revision,
        version=opts.model_version or short,
        model_name=edge.azureml.model_name,
        model_version=opts.model_version or "unversioned",
        data_version=data_version,
        epoch=origin.epoch,
    )
    spec = {
        "repository": edge.acr.repository,
        "model_version": opts.model_version,
        "revision": origin.revision if origin.commit else None,
        "source_date_epoch": origin.epoch,
        "labels": labels.as_dict(),
    }
    return info, labels, spec


def _check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise EdgetrainError(f"{output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not (output / "Dockerfile").is_file():
        raise EdgetrainError(f"{output}: not empty and not a build context; refusing to replace it")


def build_context(opts: PackageOptions) -> Path:
    """Write the build context to ``opts.output`` atomically and return it."""
    metadata_path = opts.model_dir / layout.METADATA_NAME
    if opts.model_dir.exists() or opts.model_dir.is_symlink():
        _check_no_symlinks(opts.model_dir)
    if not metadata_path.is_file():
        raise EdgetrainError(f"{metadata_path}: model metadata not found (run `dvc repro` first)")
    metadata = _read_json(metadata_path, "model metadata")
    model_file = model_file_path(opts.model_dir, metadata, metadata_path)
    if not model_file.is_file():
        raise EdgetrainError(f"{model_file}: model not found (run `dvc repro` first)")
    if not REQUIREMENTS_LOCK.is_file():
        raise EdgetrainError(f"{REQUIREMENTS_LOCK}: serving lock missing")
    files = _collect(opts, model_file)
    refuse_data(files, opts.root)
    info, labels, spec = _serving_info(opts, metadata)
    _check_output(opts.output)

    opts.output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{opts.output.name}.", dir=opts.output.parent))
    try:
        for src, dest in files:
            target = staging / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target, follow_symlinks=False)
        (staging / "model" / "serving.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (staging / "Dockerfile").write_text(render_dockerfile(labels), encoding="utf-8")
        (staging / ".dockerignore").write_text(DOCKERIGNORE, encoding="utf-8")
        (staging / IMAGE_SPEC).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        written = [(p, p.relative_to(staging).as_posix()) for p in staging.rglob("*") if p.is_file()]
        refuse_data(written, opts.root)
        _swap_into_place(staging, opts.output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("build context written to %s (%d files)", opts.output, len(files) + 4)
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
