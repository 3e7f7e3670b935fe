"""``edgetrain package``: context contents, no data, hadolint, atomic writes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.image.helpers import SOURCE, Project, committed_project, edgetrain
from tests.serving.helpers import REPO, TrainedModel, train_model

from edgetrain.cli import main
from edgetrain.serving.dockerfile import BASE_IMAGE, CMD
from edgetrain.serving.package import DATA_SUFFIXES, PackageOptions, build_context, is_data_file
from edgetrain.serving.serve import command_from_context

HADOLINT = REPO / ".venv" / "bin" / "hadolint"


@pytest.fixture
def project(tmp_path: Path) -> TrainedModel:
    return train_model(tmp_path, "binary")


def package_args(model: TrainedModel, output: Path | None = None) -> list[str]:
    root = model.root
    return [
        "package",
        "--model-dir", str(model.model_dir),
        "--metrics", str(root / "artifacts" / "metrics.json"),
        "--params", str(root / "params.yaml"),
        "--config", str(root / "config" / "edge.yaml"),
        "--output", str(output or root / "out" / "ctx"),
    ]  # fmt: skip


def test_context_layout_and_no_data(binary_model: TrainedModel) -> None:
    ctx = binary_model.context
    files = sorted(p.relative_to(ctx).as_posix() for p in ctx.rglob("*") if p.is_file())
    assert {
        "Dockerfile",
        ".dockerignore",
        "requirements.lock",
        "model/model.ubj",
        "model/metadata.json",
        "model/serving.json",
        "scoring_server/__main__.py",
        "scoring_server/app.py",
    } <= set(files)
    for name in files:
        assert not {s.lower() for s in Path(name).suffixes} & DATA_SUFFIXES, name
        assert not name.startswith(("data/", "artifacts/")), name
    info = json.loads((ctx / "model" / "serving.json").read_text())
    assert info["model_name"] == "edgetrain-xgb"
    assert info["model_version"] == "7"
    assert info["threshold"] == 0.4
    assert info["metrics"]["auc"] == 0.95
    assert info["git_commit"]


def test_lock_is_serving_only_and_hashed(binary_model: TrainedModel) -> None:
    lock = (binary_model.context / "requirements.lock").read_text()
    names = {line.split("==")[0] for line in lock.splitlines() if "==" in line and not line.startswith(" ")}
    assert {"xgboost-cpu", "fastapi", "uvicorn", "orjson", "numpy"} <= names
    for forbidden in (
        "dvc",
        "azure-ai-ml",
        "pandas",
        "scikit-learn",
        "xgboost",
        "nvidia-nccl-cu12",
        "pyarrow",
    ):
        assert forbidden not in names
    assert "--hash=sha256:" in lock
    assert names <= {line.split("==")[0] for line in lock.splitlines() if "==" in line}


def test_dockerfile_is_hadolint_clean(binary_model: TrainedModel) -> None:
    dockerfile = binary_model.context / "Dockerfile"
    done = subprocess.run([str(HADOLINT), str(dockerfile)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfile.read_text()
    assert f"ARG BASE_IMAGE={BASE_IMAGE}\nFROM ${{BASE_IMAGE}}\n" in text
    assert "@sha256:" in BASE_IMAGE
    assert "syntax=" not in text.splitlines()[0]
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text
    assert "--require-hashes" in text
    for label in ("revision", "title", "version"):
        assert f"org.opencontainers.image.{label}=" in text
    assert "io.edgetrain.model.version=" in text
    assert json.dumps(CMD) in text


def test_serve_runs_the_dockerfile_cmd(binary_model: TrainedModel) -> None:
    command = command_from_context(binary_model.context, {"PORT": "6000"})
    assert command.argv[1:] == CMD[1:]
    assert command.cwd == binary_model.context.resolve()
    assert command.env["PORT"] == "6000"
    assert command.env["EDGETRAIN_READINESS_ROUTE"] == "/ready"


@pytest.mark.parametrize("name", ["train.csv", "rows.parquet", "nested/sample.csv.gz", "dump.pkl"])
def test_refuses_data_file_in_model_dir(
    project: TrainedModel, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    stray = project.model_dir / name
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("a,b\n1,2\n")
    output = project.root / "out" / "ctx"
    assert main(package_args(project, output)) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert name.rsplit("/", maxsplit=1)[-1] in err
    assert "data" in err
    assert not output.parent.exists()


def test_refuses_model_dir_under_data(project: TrainedModel) -> None:
    data_model = project.root / "data" / "model"
    shutil.copytree(project.model_dir, data_model)
    opts = PackageOptions(
        model_dir=data_model,
        metrics=project.root / "artifacts" / "metrics.json",
        params=project.root / "params.yaml",
        config=project.root / "config" / "edge.yaml",
        output=project.root / "out",
        root=project.root,
    )
    with pytest.raises(Exception, match=r"under data/"):
        build_context(opts)
    assert is_data_file(project.root / "artifacts" / "prepared" / "manifest.json", project.root) == (
        "under artifacts/prepared/"
    )


def test_missing_model_is_one_line_and_writes_nothing(
    project: TrainedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.model_dir / "model.ubj").unlink()
    output = project.root / "out" / "ctx"
    assert main(package_args(project, output)) != 0
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert "model.ubj" in err
    assert not output.parent.exists() or not any(output.parent.iterdir())


def test_missing_metrics_names_the_file(project: TrainedModel, capsys: pytest.CaptureFixture[str]) -> None:
    (project.root / "artifacts" / "metrics.json").unlink()
    assert main(package_args(project)) != 0
    assert "metrics.json" in capsys.readouterr().err


def test_repackaging_replaces_the_context(project: TrainedModel, capsys: pytest.CaptureFixture[str]) -> None:
    output = project.root / "out" / "ctx"
    assert main([*package_args(project, output), "--model-version", "3"]) == 0
    (output / "leftover.txt").write_text("x")
    assert main([*package_args(project, output), "--model-version", "4"]) == 0
    assert not (output / "leftover.txt").exists()
    assert json.loads((output / "model" / "serving.json").read_text())["model_version"] == "4"
    assert sorted(p.name for p in output.parent.iterdir()) == ["ctx"]
    assert "build context" in capsys.readouterr().out


def test_refuses_to_clobber_a_foreign_directory(
    project: TrainedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    output = project.root / "precious"
    output.mkdir()
    (output / "notes.md").write_text("mine")
    assert main(package_args(project, output)) != 0
    assert "refusing" in capsys.readouterr().err
    assert (output / "notes.md").read_text() == "mine"


def test_hidden_files_in_model_dir_stay_out(project: TrainedModel) -> None:
    (project.model_dir / ".gitignore").write_text("/model.ubj\n")
    output = project.root / "out" / "ctx"
    assert main(package_args(project, output)) == 0
    assert not (output / "model" / ".gitignore").exists()
    assert (output / "model" / "model.ubj").is_file()


# --- issue 11: model_file and symlinks must not pull files from outside the model folder ---------------

SECRET = "AccountKey=planted-secret-value-0123456789"


def files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def point_model_file(model: TrainedModel, value: str) -> None:
    path = model.model_dir / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["model_file"] = value
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "value", ["../../../../../../../../proc/self/environ", "/proc/self/environ", "../metrics.json"]
)
def test_model_file_outside_the_model_folder_is_refused(
    project: TrainedModel, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", SECRET)
    point_model_file(project, value)
    output = project.root / "out" / "ctx"
    assert main(package_args(project, output)) != 0
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert "model_file" in err
    assert "metadata.json" in err
    assert not output.exists()
    assert files_containing(project.root, SECRET) == []


@pytest.mark.parametrize("link", ["extra.txt", "model.ubj", "nested"])
def test_symlink_in_the_model_folder_is_refused(
    project: TrainedModel,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    link: str,
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text(SECRET)
    target = project.model_dir / link
    if link == "model.ubj":
        target.rename(outside / "model.ubj")
        target.symlink_to(outside / "model.ubj")
    elif link == "nested":
        target.symlink_to(outside, target_is_directory=True)
    else:
        target.symlink_to(outside / "secret.txt")
    output = project.root / "out" / "ctx"
    assert main(package_args(project, output)) != 0
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert "symlink" in err
    assert link in err
    assert not output.exists()
    assert [p for p in files_containing(project.root, SECRET) if not p.is_symlink()] == []


def test_model_file_in_a_subfolder_still_works(project: TrainedModel) -> None:
    (project.model_dir / "weights").mkdir()
    (project.model_dir / "model.ubj").rename(project.model_dir / "weights" / "model.ubj")
    point_model_file(project, "weights/model.ubj")
    output = project.root / "out" / "ctx"
    assert main(package_args(project, output)) == 0
    assert (output / "model" / "weights" / "model.ubj").is_file()


# --- issue 11: a dirty tree is labelled as such; the source label is a URL, never a local path -------------


def labels_of(context: Path) -> dict[str, str]:
    return json.loads((context / "image.json").read_text())["labels"]


def package_in(root: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return edgetrain("package", *extra, cwd=root, env=env)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    return committed_project(tmp_path / "repo")


def test_clean_tree_labels_commit_and_https_source(repo: Project) -> None:
    done = package_in(repo.root, "--require-clean")
    assert done.returncode == 0, done.stderr
    context = repo.root / "build" / "scoring"
    labels = labels_of(context)
    assert labels["org.opencontainers.image.revision"] == repo.commit
    assert labels["org.opencontainers.image.source"] == SOURCE
    dockerfile = (context / "Dockerfile").read_text()
    assert f'org.opencontainers.image.revision="{repo.commit}"' in dockerfile
    assert f'org.opencontainers.image.source="{SOURCE}"' in dockerfile
    assert json.loads((context / "model" / "serving.json").read_text())["git_dirty"] is False


def test_dirty_tree_is_labelled_dirty_and_refused_for_release(repo: Project) -> None:
    params = repo.root / "params.yaml"
    params.write_text(params.read_text().replace('"num_boost_round": 30', '"num_boost_round": 31'))
    refused = package_in(repo.root, "--require-clean")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert "uncommitted changes (params.yaml)" in refused.stderr  # names what to commit
    assert not (repo.root / "build" / "scoring").exists()
    done = package_in(repo.root)
    assert done.returncode == 0, done.stderr
    context = repo.root / "build" / "scoring"
    assert labels_of(context)["org.opencontainers.image.revision"] == f"{repo.commit}-dirty"
    assert f'revision="{repo.commit}-dirty"' in (context / "Dockerfile").read_text()
    assert json.loads((context / "image.json").read_text())["revision"] == f"{repo.commit}-dirty"
    assert json.loads((context / "model" / "serving.json").read_text())["git_dirty"] is True


def test_local_clone_has_no_path_as_source(repo: Project, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True, timeout=60)
    shutil.copytree(repo.root / "artifacts", clone / "artifacts")
    done = package_in(clone)
    assert done.returncode == 0, done.stderr
    context = clone / "build" / "scoring"
    assert "org.opencontainers.image.source" not in labels_of(context)
    assert str(repo.root) not in (context / "Dockerfile").read_text()
    explicit = package_in(clone, "--source-url", "https://github.com/acme/edgetrain-fork.git")
    assert explicit.returncode == 0, explicit.stderr
    assert labels_of(context)["org.opencontainers.image.source"] == SOURCE
    bad = package_in(clone, "--source-url", str(repo.root))
    assert bad.returncode != 0
    assert "--source-url" in bad.stderr


def test_github_actions_repository_is_the_source(repo: Project) -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo/forked-edgetrain"}
    done = package_in(repo.root, env=env)
    assert done.returncode == 0, done.stderr
    labels = labels_of(repo.root / "build" / "scoring")
    assert labels["org.opencontainers.image.source"] == "https://github.com/octo/forked-edgetrain"


def test_require_clean_outside_git_is_refused(
    project: TrainedModel, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    output = project.root / "out" / "ctx"
    assert main([*package_args(project, output), "--require-clean"]) != 0
    assert "not a git checkout" in capsys.readouterr().err
    assert not output.exists()
