"""Plain ``dvc`` commands against the strict Stack Hub stand-in: every request carries 2019-07-07.

No project command wraps these calls: they are what a user types in the repository. The API version
is picked up from the repository's ``config/edge.yaml`` by the hook the project installs in its venv.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, STACK_HUB_VERSION
from tests.storage.conftest import clone, make_repo, run

from edgetrain.config.edge import StorageConfig
from edgetrain.storage.seed import seed

pytestmark = pytest.mark.integration


def test_import_push_pull_update_status_all_speak_stack_hub(tmp_path: Path, standin, storage) -> None:  # type: ignore[no-untyped-def]
    conn = standin.connection_string
    seed(storage, rows=600, days=3, seed_value=7, conn_str=conn)
    repo = make_repo(tmp_path / "repo", storage, conn)
    start = len(standin.requests)

    run("dvc", "import-url", "remote://stackhub-raw/raw", "data", cwd=repo)
    assert sorted(p.name for p in (repo / "data").iterdir()) == [
        "2026-11-01.csv",
        "2026-11-02.csv",
        "2026-11-03.csv",
    ]
    run("dvc", "push", cwd=repo)
    assert "in sync" in run("dvc", "status", "-c", cwd=repo).stdout
    run("git", "add", "-A", cwd=repo)
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "import", cwd=repo)

    other = clone(repo, tmp_path / "clone")
    run("dvc", "pull", cwd=other)
    for csv in (repo / "data").iterdir():
        assert (other / "data" / csv.name).read_bytes() == csv.read_bytes()

    seed(storage, rows=200, days=1, seed_value=8, start=date(2026, 11, 4), conn_str=conn)
    run("dvc", "update", "data.dvc", cwd=repo)
    assert yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["nfiles"] == 4
    run("dvc", "push", cwd=repo)
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "new drop", cwd=repo)
    run("git", "pull", "-q", cwd=other)
    run("dvc", "fetch", cwd=other)
    run("dvc", "checkout", cwd=other)
    assert (other / "data" / "2026-11-04.csv").exists()

    seen = standin.requests[start:]
    assert len(seen) > 20
    assert {r.version for r in seen} == {STACK_HUB_VERSION}
    assert not [r for r in seen if r.status == 400]


def test_without_the_pin_stack_hub_rejects_dvc(tmp_path: Path, standin, storage) -> None:  # type: ignore[no-untyped-def]
    """The control: the same dvc call with the pin switched off is refused as Stack Hub would."""
    conn = standin.connection_string
    seed(storage, rows=100, days=1, seed_value=1, conn_str=conn)
    repo = make_repo(tmp_path / "repo", storage, conn)
    start = len(standin.requests)
    done = run(
        "dvc",
        "import-url",
        "remote://stackhub-raw/raw",
        "data",
        cwd=repo,
        check=False,
        EDGETRAIN_STORAGE_API_VERSION="off",
    )
    assert done.returncode != 0
    rejected = [r for r in standin.requests[start:] if r.status == 400]
    assert rejected
    assert all(r.version > STACK_HUB_VERSION for r in rejected)


def test_project_commands_explain_a_wrong_api_version(tmp_path: Path, standin, storage) -> None:  # type: ignore[no-untyped-def]
    """A version newer than Stack Hub speaks: one line naming the key to fix, exit code 4."""
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    edge = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    edge["storage"].update(
        blob_endpoint=standin.blob_endpoint, raw_container=storage.raw_container, api_version="2021-08-06"
    )
    (repo / "config" / "edge.yaml").write_text(yaml.safe_dump(edge))
    done = run("edgetrain", "storage", "seed", "--rows", "10", "--days", "1", cwd=repo, check=False)
    assert done.returncode == 4
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "rejected API version 2021-08-06" in lines[0]
    assert "storage.api_version" in lines[0]


def test_dvc_with_an_endpoint_suffix(tmp_path: Path, standin, storage) -> None:  # type: ignore[no-untyped-def]
    """A Stack Hub account given as EndpointSuffix= (https://<account>.blob.<suffix>) works with plain dvc.

    The suffix does not resolve here, so the strict stand-in is reached as an HTTP proxy: it sees the
    production-style host, applies Stack Hub's version rule and hands the request to Azurite.
    """
    from edgetrain.storage.azurite import DEV_KEY
    from edgetrain.storage.connection import build_connection_string

    seed(storage, rows=100, days=2, seed_value=3, conn_str=standin.connection_string)
    suffix = StorageConfig(
        account_name="devstoreaccount1",
        endpoint_suffix="local.azurestack.external",
        protocol="http",
        raw_container=storage.raw_container,
        dvc_container=storage.dvc_container,
    )
    conn = build_connection_string(suffix, DEV_KEY)
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "edge.yaml").write_text(
        yaml.safe_dump({"storage": suffix.model_dump(exclude_none=True)})
    )
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": conn,
        "HTTP_PROXY": f"http://127.0.0.1:{standin.endpoints.port}",
    }
    run("git", "init", "-q", cwd=repo)
    run("dvc", "init", "-q", cwd=repo)
    run("dvc", "remote", "add", "-d", "stackhub-cache", f"azure://{storage.dvc_container}", cwd=repo)
    run("dvc", "remote", "add", "stackhub-raw", f"azure://{storage.raw_container}", cwd=repo)
    start = len(standin.requests)
    run("dvc", "import-url", "remote://stackhub-raw/raw", "data", cwd=repo, **env)
    run("dvc", "push", cwd=repo, **env)
    assert len(list((repo / "data").iterdir())) == 2
    seen = standin.requests[start:]
    assert seen
    assert {r.host for r in seen} == {"devstoreaccount1.blob.local.azurestack.external"}
    assert {r.version for r in seen} == {STACK_HUB_VERSION}
    assert not [r for r in seen if r.status == 400]
