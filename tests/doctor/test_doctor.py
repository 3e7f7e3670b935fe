"""``edgetrain doctor`` against the strict Stack Hub stand-in: it passes a sound setup and names each
misconfiguration with its fix (exit 1), without ever printing the connection string."""

from __future__ import annotations

import pytest
from tests.conftest import REPO_ROOT
from tests.doctor.conftest import CACHE, Project, lines

from edgetrain.storage.azurite import DEV_KEY

pytestmark = pytest.mark.integration

CHECKS = (
    "config",
    "connection string",
    "storage endpoint",
    "containers",
    "dvc api-version pin",
    "azure ml",
    "dvc remotes",
    "runner labels",
    "tools",
)


def test_a_sound_setup_passes_every_check(project: Project) -> None:
    done = project.doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    for name in CHECKS:
        assert lines(done, "PASS", name), f"{name} did not pass:\n{done.stdout}"
    assert "FAIL" not in done.stdout
    assert "x-ms-version 2019-07-07" in done.stdout
    assert DEV_KEY not in done.stdout + done.stderr


def test_wrong_api_version_says_which_version_the_server_wants(project: Project) -> None:
    project.edit_edge(lambda e: e["storage"].update(api_version="2021-08-06"))
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "storage endpoint")
    assert "rejected x-ms-version 2021-08-06; it accepts 2019-07-07" in line
    assert 'fix: set storage.api_version: "2019-07-07" in config/edge.yaml' in line


def test_missing_connection_string(project: Project) -> None:
    project.edit_edge(
        lambda e: e["storage"].update(
            account_name="edgedata", blob_endpoint=None, endpoint_suffix="local.azurestack.external"
        )
    )
    project.edit_edge(lambda e: e["storage"].pop("blob_endpoint"))
    del project.env["AZURE_STORAGE_CONNECTION_STRING"]
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "connection string")
    assert "none found for account 'edgedata'" in line
    assert "AZURE_STORAGE_CONNECTION_STRING" in line
    assert lines(done, "FAIL", "storage endpoint")  # not checked without credentials


def test_connection_string_for_another_account_is_named_but_not_printed(project: Project) -> None:
    project.env["AZURE_STORAGE_CONNECTION_STRING"] = project.env["AZURE_STORAGE_CONNECTION_STRING"].replace(
        "AccountName=devstoreaccount1", "AccountName=otheraccount"
    )
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "connection string")
    assert "'otheraccount'" in line
    assert DEV_KEY not in done.stdout + done.stderr


def test_remote_pointing_elsewhere_than_the_config(project: Project) -> None:
    project.set_remote_url("stackhub-cache", "azure://somewhere-else")
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "dvc remotes")
    assert "'stackhub-cache' url is 'azure://somewhere-else'" in line
    assert f"fix: dvc remote modify stackhub-cache url azure://{CACHE}" in line


def test_missing_container(project: Project) -> None:
    project.edit_edge(lambda e: e["storage"].update(dvc_container="doctor-absent"))
    project.set_remote_url("stackhub-cache", "azure://doctor-absent")
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "containers")
    assert "container 'doctor-absent' not found" in line
    assert lines(done, "PASS", "storage endpoint")
    assert lines(done, "PASS", "dvc remotes")


def test_no_azure_login_with_the_azureml_backend(project: Project) -> None:
    project.edit_edge(
        lambda e: (
            e["registry"].update(backend="azureml"),
            e["azureml"].update(subscription_id="11111111-2222-3333-4444-555555555555"),
        )
    )
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "azure ml")
    assert "no Azure login" in line or "Azure login failed" in line
    assert "az login" in line


def test_runner_label_mismatch_names_workflow_and_job(project: Project) -> None:
    flow = project.path / ".github" / "workflows" / "pr-train.yml"
    flow.write_text(
        flow.read_text().replace("[self-hosted, linux, x64, stackhub]", "[self-hosted, linux, gpu]")
    )
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "runner labels")
    assert "pr-train.yml job 'train' asks for ['gpu']" in line


LAUNCHERS = {  # how pip and uv start a console script, by the length of the interpreter's path
    "shebang": "#!{python}\n",
    "sh trampoline (a long checkout path)": "#!/bin/sh\n'''exec' '{python}' \"$0\" \"$@\"\n' '''\n",
    "env": "#!/usr/bin/env python\n",
}


@pytest.mark.parametrize("form", LAUNCHERS)
def test_the_pin_is_checked_in_the_interpreter_dvc_starts_with(project: Project, form: str, tmp_path) -> None:
    """The check finds DVC's interpreter from each launcher form; with the pin off it still fails."""
    bin_dir = tmp_path / "launcher"
    bin_dir.mkdir()
    dvc = bin_dir / "dvc"
    python = REPO_ROOT / ".venv" / "bin" / "python"
    dvc.write_text(LAUNCHERS[form].format(python=python) + "from dvc.cli import main\nmain()\n")
    dvc.chmod(0o755)
    project.env["PATH"] = f"{bin_dir}:{project.env['PATH']}"
    done = project.doctor()
    assert lines(done, "PASS", "dvc api-version pin"), done.stdout
    project.env["EDGETRAIN_STORAGE_API_VERSION"] = "off"
    [line] = lines(project.doctor(), "FAIL", "dvc api-version pin")
    assert "config wants 2019-07-07" in line


def test_pin_switched_off_for_dvc(project: Project) -> None:
    project.env["EDGETRAIN_STORAGE_API_VERSION"] = "off"
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "dvc api-version pin")
    assert "config wants 2019-07-07" in line
    assert "EDGETRAIN_STORAGE_API_VERSION overrides it" in line


def test_invalid_config_names_the_key(project: Project) -> None:
    project.edit_edge(lambda e: e["storage"].update(raw_container="Not_Valid"))
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "config")
    assert "storage.raw_container" in line


def test_stand_in_not_running_says_how_to_start_it(project: Project) -> None:
    from edgetrain.storage.azurite import free_port

    project.edit_edge(
        lambda e: e["storage"].update(blob_endpoint=f"http://127.0.0.1:{free_port()}/devstoreaccount1")
    )
    del project.env["AZURE_STORAGE_CONNECTION_STRING"]  # the stand-in's dev key, built from the config
    done = project.doctor()
    assert done.returncode == 1
    assert lines(done, "PASS", "connection string")
    [line] = lines(done, "FAIL", "storage endpoint")
    assert "unreachable" in line
    assert "fix: start the local stand-in: `edgetrain storage up`" in line
    assert lines(done, "FAIL", "containers")  # not checked


def test_connection_string_for_another_endpoint(project: Project) -> None:
    project.edit_edge(lambda e: e["storage"].update(blob_endpoint="http://127.0.0.1:9/devstoreaccount1"))
    done = project.doctor()
    assert done.returncode == 1
    [line] = lines(done, "FAIL", "connection string")
    assert "config/edge.yaml at http://127.0.0.1:9/devstoreaccount1" in line
    assert DEV_KEY not in done.stdout
