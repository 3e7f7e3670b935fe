"""The edge-host kind for real: the scoring image built and pushed by digest to the loopback registry,
pulled and run per slot (buildah run, as `podman run` cannot work here), the front on the public port being
systemd-socket-proxyd under socket activation, and the units it would install checked by systemd-analyze.

The cases run in order on one target: first deploy, rerun, upgrade, rollback (and its rerun), a release that
cannot start, then bad input; each checks traffic through the front, `deploy status` and the lineage.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.image.helpers import load_rehearsal, need_tools
from tests.rollout.helpers import (
    Project,
    Released,
    committed_project,
    deploy,
    package,
    register,
    show,
    status,
    write_config,
)
from tests.serving.helpers import records, serve_context

from edgetrain.serving.image import Buildah
from edgetrain.storage.azurite import free_port

base_image = load_rehearsal("base_image")
registry_module = load_rehearsal("registry")
TARGET = "edge-vm"


@dataclass
class Host:
    project: Project
    config: Path
    state_dir: Path
    registry_dir: Path
    releases: dict[str, Released]
    port: int
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return deploy(*args, "--config", str(self.config), cwd=self.project.root, env=self.env)

    def release(self, version: str) -> subprocess.CompletedProcess[str]:
        image = self.releases[version].image
        return self.run("--target", TARGET, "--version", version, "--image", image, "--json")

    def status(self) -> dict:
        return status(self.config, TARGET, self.project.root, self.env)

    def front(self, path: str, body: object = None) -> httpx.Response:
        url = f"http://127.0.0.1:{self.port}{path}"
        return httpx.post(url, json=body, timeout=60) if body is not None else httpx.get(url, timeout=30)


def _build_and_push(storage: Buildah, standin: object, registry: object, context: Path, cwd: Path) -> str:
    from tests.image.helpers import edgetrain

    root = ["--storage-root", str(storage.root)]
    built = edgetrain("image", "build", "--context", str(context), *root, *standin.build_args(), cwd=cwd)  # type: ignore[attr-defined]
    assert built.returncode == 0, built.stderr
    digest_file = context.parent / f"{context.name}.ref"
    pushed = edgetrain(
        "image", "push", "--context", str(context), *root, "--registry", registry.address,  # type: ignore[attr-defined]
        "--digest-file", str(digest_file), cwd=cwd,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    return digest_file.read_text().strip()


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory,
    buildah_storage: Buildah,
    base_standin: base_image.StandIn,
    registry: registry_module.LoopbackRegistry,
) -> Iterator[Host]:
    need_tools("systemd-socket-activate", "systemd-analyze")
    tmp = tmp_path_factory.mktemp("edge-host")
    project = committed_project(tmp / "repo")
    registry_dir, state_dir = tmp / "model-registry", tmp / "deploy-state"
    releases: dict[str, Released] = {}
    for n, broken in ((1, False), (2, False), (3, True)):
        context = package(project, str(n), broken=broken)
        version = register(registry_dir, context, n)
        assert version == str(n)
        image = _build_and_push(buildah_storage, base_standin, registry, context, project.root)
        releases[version] = Released(version, context, image)
    port = free_port()
    target = {
        "name": TARGET, "kind": "edge-host", "runtime": "loopback", "port": port,
        "slot_ports": [free_port(), free_port()], "podman_version": "4.3", "state_dir": str(state_dir),
        "smoke": {"requests": 5, "rows": 4, "ready_timeout_s": 120},
    }  # fmt: skip
    config = write_config(project, [target], registry_dir)
    env = {"EDGETRAIN_CONTAINERS_ROOT": str(buildah_storage.root)}
    yield Host(project, config, state_dir, registry_dir, releases, port, env)
    from edgetrain.config.edge import load_edge_config
    from edgetrain.deploy.edge_host import EdgeHostTarget
    from edgetrain.deploy.edge_runtime import LoopbackRuntime

    os.environ["EDGETRAIN_CONTAINERS_ROOT"] = str(buildah_storage.root)
    try:
        stopped = EdgeHostTarget(load_edge_config(config).deploy.targets[0], state_dir)
        with stopped.locked():
            assert isinstance(stopped.runtime, LoopbackRuntime)
            stopped.runtime.stop_all()
    finally:
        del os.environ["EDGETRAIN_CONTAINERS_ROOT"]


def test_first_deploy_scores_like_edgetrain_serve(host: Host, tmp_path: Path) -> None:
    done = host.release("1")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["slot"], outcome["changed"], outcome["traffic_after"]) == ("blue", True, {"blue": 100})
    assert outcome["digest"] == host.releases["1"].image.split("@")[1]
    assert outcome["smoke"]["requests"] == 5
    body = records(host.project.model.test_frame)
    through_front = host.front("/score", body)
    assert through_front.status_code == 200, through_front.text
    local = serve_context(host.releases["1"].context, tmp_path)
    try:
        served = httpx.post(local.url + "/score", json=body, timeout=60)
    finally:
        local.stop_gracefully()
    assert through_front.json() == served.json()
    assert host.front("/metadata").json()["model"]["version"] == "1"
    shown = show(host.config, "1", host.project.root)
    assert f"{TARGET}: http://127.0.0.1:{host.port} slot blue, traffic 100%" in shown
    assert host.releases["1"].image in shown


def test_units_it_would_install_pass_systemd_analyze(host: Host) -> None:
    folder = host.state_dir / TARGET / "units"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"edgetrain-{TARGET}-blue.service", f"edgetrain-{TARGET}-front.service",
                     f"edgetrain-{TARGET}-front.socket"]  # fmt: skip
    slot = (folder / f"edgetrain-{TARGET}-blue.service").read_text()
    assert host.releases["1"].image in slot
    assert "--user=10001:10001" in slot
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(folder / n) for n in names)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr


def test_rerun_changes_nothing(host: Host) -> None:
    before = host.status()
    done = host.release("1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] is False
    assert host.status() == before


def test_upgrade_takes_traffic_and_keeps_the_old_slot(host: Host) -> None:
    done = host.release("2")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["slot"], outcome["traffic_before"], outcome["traffic_after"]) == (
        "green",
        {"blue": 100},
        {"green": 100},
    )
    state = host.status()
    assert {k: v["version"] for k, v in state["slots"].items()} == {"blue": "1", "green": "2"}
    assert host.front("/metadata").json()["model"]["version"] == "2"
    assert "slot blue, traffic 0%" in show(host.config, "1", host.project.root)
    assert "slot green, traffic 100%" in show(host.config, "2", host.project.root)


def test_rollback_returns_traffic_and_rerun_changes_nothing(host: Host) -> None:
    done = host.run("rollback", "--target", TARGET, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["traffic_after"] == {"blue": 100}
    assert host.front("/metadata").json()["model"]["version"] == "1"
    again = host.run("rollback", "--target", TARGET, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False
    assert host.front("/metadata").json()["model"]["version"] == "1"
    # forward again for the next cases: version 2 is still in its slot, so this is quick
    forward = host.release("2")
    assert forward.returncode == 0, forward.stderr
    assert host.status()["traffic"] == {"green": 100}


def test_a_release_that_cannot_start_leaves_traffic(host: Host) -> None:
    before = host.status()
    done = host.release("3")
    assert done.returncode == 14
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "version 3 refused" in lines[0]
    assert "traffic stays on slot green (version 2)" in lines[0]
    assert host.status() == before  # blue holds version 1 again, for a rollback
    assert host.front("/metadata").json()["model"]["version"] == "2"
    assert "deployed:\n    -" in show(host.config, "3", host.project.root)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target", "nowhere", "--version", "2"], 2, "--target 'nowhere': not in"),
        (["--target", TARGET, "--version", "99"], 14, "version 99 of edgetrain-xgb was never released"),
        (
            ["--target", TARGET, "--version", "2", "--image", "DIGEST0"],
            14,
            "is not in the registry by that digest",
        ),
        (
            ["--target", TARGET, "--version", "2", "--image", "V1"],
            14,
            "holds model version '1', not version 2",
        ),
    ],
)
def test_bad_input_one_line_no_traffic_change(host: Host, args: list[str], code: int, message: str) -> None:
    before = host.status()
    image = host.releases["2"].image
    if "--image" not in args:
        args = [*args, "--image", image]
    substitutes = {"DIGEST0": image.split("@")[0] + "@sha256:" + "0" * 64, "V1": host.releases["1"].image}
    done = host.run(*(substitutes.get(a, a) for a in args))
    assert done.returncode == code, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert host.status() == before


def test_unknown_kind_is_one_line(host: Host) -> None:
    text = host.config.read_text().replace("kind: edge-host", "kind: nomad")
    bad = host.config.with_name("bad-kind.yaml")
    bad.write_text(text)
    done = deploy("status", "--target", TARGET, "--config", str(bad), cwd=host.project.root)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "deploy.targets[0].kind" in done.stderr, done.stderr
    time.sleep(0)  # nothing ran: the state file is untouched
    assert host.status()["traffic"] == {"green": 100}
