"""The local backend end to end through ``edgetrain.cli.main``: register, idempotency, integrity,
quality gate, promote, list/show, config precedence, atomic writes and concurrent registers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.registry.conftest import real_auc

from edgetrain.cli import main
from edgetrain.registry.local import LocalRegistry

MODEL = "artifacts/model/model.ubj"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def run(repo: Any, *args: str) -> int:
    return main([*args, "--registry-dir", str(repo.registry_dir)])


def register(repo: Any, *extra: str) -> int:
    return run(repo, "register", "--repo", str(repo.path), *extra)


def versions(repo: Any) -> list[Path]:
    model_dir = repo.registry_dir / "edgetrain-xgb"
    return (
        sorted(p for p in model_dir.iterdir() if not p.name.startswith(".lock")) if model_dir.exists() else []
    )


def record(repo: Any, version: str) -> dict:
    return json.loads((repo.registry_dir / "edgetrain-xgb" / version / "version.json").read_text())


def test_register_copies_files_and_records_lineage(
    model_repo: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REF", "refs/pull/17/merge")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/edgetrain")
    monkeypatch.setenv("GITHUB_RUN_ID", "123")
    commit = model_repo.release(auc=0.9)
    assert register(model_repo) == 0
    assert "registered edgetrain-xgb version 1" in capsys.readouterr().out
    folder = model_repo.registry_dir / "edgetrain-xgb" / "1"
    copied = folder / "model.ubj"
    assert not copied.is_symlink()
    assert copied.read_bytes() == model_repo.model_bytes(3)
    assert (folder / "metadata.json").is_file()
    data = record(model_repo, "1")
    tags = data["tags"]
    assert tags["git_commit"] == commit
    assert tags["git_branch"] == "main"
    assert tags["pull_request"] == "17"
    assert tags["model_md5"] == md5(model_repo.model_bytes(3))
    assert re.search(r"^xgboost\.dask \S+ dask, 2 workers$", tags["engine"])  # from the committed run.json
    assert tags["data_md5"] == "d" * 32 + ".dir"
    assert tags["data_source"] == "remote://stackhub-raw/raw"
    assert tags["params_sha256"] == hashlib.sha256((model_repo.path / "params.yaml").read_bytes()).hexdigest()
    assert tags["param_max_depth"] == "3"
    assert tags["metric_auc"] == "0.9"
    assert tags["run_url"] == "https://github.com/acme/edgetrain/actions/runs/123"
    assert data["properties"]["git_commit"] == commit
    assert "PR #17" in data["description"]


def test_register_twice_returns_existing_and_changes_nothing(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release()
    assert register(model_repo) == 0
    before = {p: p.stat().st_mtime_ns for p in (model_repo.registry_dir / "edgetrain-xgb").rglob("*")}
    capsys.readouterr()
    assert register(model_repo, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "already_registered"
    assert out["version"] == "1"
    after = {p: p.stat().st_mtime_ns for p in (model_repo.registry_dir / "edgetrain-xgb").rglob("*")}
    assert after == before
    model_repo.release(rounds=4, message="retrain")
    assert register(model_repo) == 0
    assert [p.name for p in versions(model_repo)] == ["1", "2"]


def test_tampered_model_is_refused_with_both_hashes(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release(rounds=3)
    (model_repo.path / MODEL).write_bytes(model_repo.model_bytes(5))
    assert register(model_repo) == 6
    err = capsys.readouterr().err
    assert err.startswith("edgetrain: error: ")
    assert len(err.strip().splitlines()) == 1
    assert md5(model_repo.model_bytes(5)) in err
    assert md5(model_repo.model_bytes(3)) in err
    assert versions(model_repo) == []


def test_missing_model_and_uncommitted_lock_are_refused(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release()
    lock = model_repo.path / "dvc.lock"
    lock.write_text(lock.read_text() + "# changed after review\n")
    assert register(model_repo) == 6
    assert "uncommitted changes in dvc.lock" in capsys.readouterr().err
    model_repo.git("checkout", "dvc.lock")
    (model_repo.path / MODEL).unlink()
    assert register(model_repo) == 6
    assert "missing" in capsys.readouterr().err
    assert versions(model_repo) == []


def test_registering_an_older_commit_checks_its_lock(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first = model_repo.release(rounds=3)
    model_repo.release(rounds=4, message="retrain")
    assert register(model_repo, "--commit", first) == 6  # working tree holds the newer lock + model
    assert "differs from dvc.lock at commit" in capsys.readouterr().err


def test_quality_gate_refuses_worse_candidate_unless_forced(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    production = real_auc(model_repo.model_bytes(3), 0)  # production's score on the candidates' split
    model_repo.release(auc=0.90)
    assert register(model_repo) == 0
    assert run(model_repo, "models", "promote", "1") == 0
    model_repo.release(rounds=4, auc=round(production - 0.005, 6), message="slightly worse, within tolerance")
    assert register(model_repo) == 0
    model_repo.release(rounds=5, auc=0.80, message="worse")
    capsys.readouterr()
    assert register(model_repo) == 5
    err = capsys.readouterr().err
    assert "candidate auc=0.8" in err
    assert f"production v1 auc={production:.6g}" in err
    assert register(model_repo, "--force") == 2
    assert "--reason" in capsys.readouterr().err
    assert [p.name for p in versions(model_repo)] == ["1", "2"]
    assert register(model_repo, "--force", "--reason", "new data drop is harder; accepted by @ops") == 0
    data = record(model_repo, "3")
    assert data["tags"]["force_reason"] == "new data drop is harder; accepted by @ops"
    assert data["properties"]["forced"] == "true"
    assert "accepted by @ops" in data["description"]


def test_promote_moves_production_and_show_list(model_repo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    model_repo.release(rounds=3, auc=0.90)
    register(model_repo)
    model_repo.release(rounds=4, auc=0.92, message="Better (#8)")
    register(model_repo)
    assert run(model_repo, "models", "promote", "1") == 0
    assert run(model_repo, "models", "promote", "2") == 0
    assert "version 2 is now production (was version 1)" in capsys.readouterr().out
    assert "stage" not in record(model_repo, "1")["tags"]
    assert record(model_repo, "2")["tags"]["stage"] == "production"

    assert run(model_repo, "models", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["VERSION", "STAGE", "CREATED", "COMMIT", "PR", "METRIC", "DATA"]
    assert "production" in table[2]
    assert "#8" in table[2]
    assert "auc=0.92" in table[2]

    assert run(model_repo, "models", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed] == ["1", "2"]
    assert listed[1]["stage"] == "production"

    assert run(model_repo, "models", "show", "--production", "--json") == 0
    assert json.loads(capsys.readouterr().out)["version"] == "2"
    assert run(model_repo, "models", "show", "1") == 0
    text = capsys.readouterr().out
    assert text.startswith("edgetrain-xgb version 1\n")
    assert model_repo.commits[0] in text
    assert run(model_repo, "models", "show") == 0
    assert capsys.readouterr().out.startswith("edgetrain-xgb version 2 [production]")

    assert run(model_repo, "models", "show", "7") == 9
    assert "no version 7" in capsys.readouterr().err
    assert run(model_repo, "models", "promote", "7") == 9


def test_show_production_when_none(model_repo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(model_repo, "models", "show", "--production") == 9
    assert "marked for production" in capsys.readouterr().err
    assert run(model_repo, "models", "list") == 0
    assert "no versions" in capsys.readouterr().out


def test_registry_dir_precedence(model_repo: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model_repo.release()
    assert main(["register"]) == 0  # config/edge.yaml: registry.local_path
    assert (tmp_path / "from-config" / "edgetrain-xgb" / "1" / "model.ubj").is_file()
    monkeypatch.setenv("EDGETRAIN_REGISTRY_DIR", str(tmp_path / "from-env"))
    assert main(["register"]) == 0
    assert (tmp_path / "from-env" / "edgetrain-xgb" / "1" / "model.ubj").is_file()
    assert main(["register", "--registry-dir", str(tmp_path / "from-flag")]) == 0
    assert (tmp_path / "from-flag" / "edgetrain-xgb" / "1" / "model.ubj").is_file()


def test_config_and_repo_errors(model_repo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    not_git = tmp_path / "plain"
    not_git.mkdir()
    cfg = model_repo.path / "config" / "edge.yaml"
    assert register(model_repo, "--repo", str(not_git), "--config", str(cfg)) == 2
    assert "not inside a git repository" in capsys.readouterr().err
    model_repo.release()
    (model_repo.path / "artifacts" / "metrics.json").write_text("{}")  # a re-run not committed
    assert register(model_repo) == 6
    assert "git add artifacts/metrics.json" in capsys.readouterr().err
    model_repo.git("checkout", "artifacts/metrics.json")
    assert register(model_repo) == 0


def test_failed_copy_leaves_nothing_half_registered(
    model_repo: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release()
    calls = {"n": 0}
    real_copy = shutil.copyfile

    def flaky(src: Any, dst: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, **kw)

    monkeypatch.setattr(shutil, "copyfile", flaky)
    assert register(model_repo) == 7
    assert "No space left on device" in capsys.readouterr().err
    model_dir = model_repo.registry_dir / "edgetrain-xgb"
    assert sorted(p.name for p in model_dir.iterdir()) == [".lock"]


def test_concurrent_registers_get_distinct_versions(model_repo: Any, tmp_path: Path) -> None:
    from edgetrain.registry.base import Candidate

    registry = LocalRegistry(tmp_path / "shared", "edgetrain-xgb")
    model = tmp_path / "model.ubj"
    model.write_bytes(b"model")
    results: list[tuple[str, bool]] = []

    def worker(i: int) -> None:
        # Two workers per commit: each commit must end up registered exactly once.
        cand = Candidate(
            files=(model,), tags={"git_commit": f"c{i % 4}", "model_md5": "x"}, properties={}, description=""
        )
        version, created = registry.create(cand)
        results.append((version.version, created))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in (tmp_path / "shared" / "edgetrain-xgb").iterdir()) == [
        ".lock",
        "1",
        "2",
        "3",
        "4",
    ]
    assert sum(created for _, created in results) == 4
    assert {v.tags["git_commit"] for v in registry.list_versions()} == {"c0", "c1", "c2", "c3"}


def fork(model_repo: Any, name: str, task_params: dict | None = None) -> Any:
    """Another project on the same machine, configured exactly like the template (default registry)."""
    from tests.conftest import REPO_ROOT
    from tests.registry.conftest import ModelRepo

    path = model_repo.path.parent / name
    path.mkdir()
    other = ModelRepo(path=path, registry_dir=model_repo.registry_dir)
    other.git("init", "-q", "-b", "main")
    other.write(".gitignore", "/artifacts/model/\n/artifacts/prepared/\n/.edgetrain\n")
    other.write("config/edge.yaml", (REPO_ROOT / "config" / "edge.yaml").read_text())
    other.git("add", ".gitignore")
    other.release(params=task_params)
    return other


def test_each_project_keeps_its_own_registry_by_default(
    model_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two forks with the template's config and the same model name never see each other's versions."""
    first, second = fork(model_repo, "fork-a"), fork(model_repo, "fork-b")
    for project in (first, second):
        monkeypatch.chdir(tmp_path)  # the working directory does not decide either
        assert main(["register", "--repo", str(project.path)]) == 0
        assert "version 1 in local registry" in capsys.readouterr().out
        assert (project.path / ".edgetrain" / "registry" / "edgetrain-xgb" / "1" / "model.ubj").is_file()
        assert project.git("status", "--porcelain") == ""  # git-ignored
    assert not (tmp_path / "home" / ".edgetrain").exists()
    monkeypatch.chdir(second.path)
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["tags"]["git_commit"] for v in listed] == second.commits


def test_register_on_an_uncommitted_run_names_the_files_to_commit(
    model_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `dvc repro` on a fork: the new lock, metrics and plots are not committed yet."""
    model_repo.release(rounds=3)
    model_repo.write("artifacts/plots/roc.json", "{}")  # new, untracked
    metrics = model_repo.path / "artifacts" / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"f1": 0.5', '"f1": 0.6'))
    lock = model_repo.path / "dvc.lock"
    lock.write_text(lock.read_text() + "# re-run\n")
    assert register(model_repo) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "uncommitted changes in artifacts/metrics.json, artifacts/plots/roc.json, dvc.lock" in err[0]
    assert "git add artifacts/metrics.json artifacts/plots/roc.json dvc.lock && git commit" in err[0]
    assert versions(model_repo) == []
    model_repo.git("add", "artifacts/metrics.json", "artifacts/plots/roc.json", "dvc.lock")
    model_repo.git("commit", "-qm", "Train on the re-run")
    assert register(model_repo) == 0


@pytest.mark.parametrize(
    "argv",
    [("models", "show"), ("models", "list"), ("models", "list", "--json")],
    ids=["show", "list", "list-json"],
)
def test_a_reader_that_stops_early_gets_no_traceback(model_repo: Any, argv: tuple[str, ...]) -> None:
    """`edgetrain models show | head`: the reader closes the pipe before the command writes."""
    from tests.conftest import REPO_ROOT, subprocess_env

    model_repo.release()
    assert register(model_repo) == 0
    proc = subprocess.Popen(
        [
            str(REPO_ROOT / ".venv" / "bin" / "edgetrain"),
            *argv,
            "--registry-dir",
            str(model_repo.registry_dir),
        ],
        cwd=model_repo.path,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # like `head` after its lines
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""
