"""The Azure ML kinds through azure-ai-ml against the stand-in's online endpoints (tests/rehearsal/).

The SDK builds and serializes the entities and polls the long-running operations; the stand-in validates
what it receives as the service does and really serves each deployment (``edgetrain serve`` from the model
files of that image) behind a key-checking router that splits by traffic. The images in the loopback
registry are label-only (the digest and version checks are real; the stand-in runs the version's files).
The cases, for the managed and the Kubernetes (Arc) kind: first deploy answers like `edgetrain serve`,
upgrade with a partial and a mirrored step, a release that cannot start, rollback, reruns, bad input.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.image.helpers import committed_project, need_tools
from tests.rollout.helpers import Released, package, register, write_config
from tests.serving.helpers import make_frame, records, serve_context

from edgetrain.cli import main
from edgetrain.serving.image import Buildah

# azure-ai-ml 1.35 builds its marshmallow schemas with options marshmallow 4 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")
SUB, RG, WS = "11111111-2222-3333-4444-555555555555", "rg-edgetrain", "mlw-edgetrain"


def label_only_image(storage: Buildah, registry: Any, version: str) -> str:
    """A scratch image labelled with the model version, pushed by digest to the loopback registry."""
    ctr = storage.run(["from", "scratch"], 60, "scratch").stdout.strip()
    storage.run(["config", "--label", f"io.edgetrain.model.version={version}", ctr], 60, "label")
    storage.run(["commit", "--quiet", ctr, f"localhost/edgetrain-aml:{version}"], 120, "commit")
    storage.run(["rm", ctr], 60, "rm")
    digest = storage.root / f"aml-{version}.digest"  # type: ignore[operator]
    target = f"docker://{registry.address}/edgetrain-scoring:aml-{version}"
    local = f"localhost/edgetrain-aml:{version}"
    storage.run(["push", "--tls-verify=false", "--digestfile", str(digest), local, target], 120, "push")
    return f"{registry.address}/edgetrain-scoring@{digest.read_text().strip()}"


@dataclass
class Workspace:
    aml: Any
    root: Path
    config: Path
    releases: dict[str, Released]
    target: str
    capsys: Any

    def run(self, *args: str) -> tuple[int, str, str]:
        code = main(["deploy", *args, "--config", str(self.config)])
        out, err = self.capsys.readouterr()
        return code, out, err

    def release(self, version: str, image: str | None = None) -> tuple[int, dict | None, str]:
        code, out, err = self.run("--target", self.target, "--version", version,
                                  "--image", image or self.releases[version].image, "--json")  # fmt: skip
        return code, (json.loads(out) if code == 0 else None), err

    def status(self) -> dict:
        code, out, err = self.run("status", "--target", self.target, "--json")
        assert code == 0, err
        return json.loads(out)

    def endpoint(self) -> dict:
        return self.aml.online.endpoints[self.target]["properties"]

    def score(self, body: object, deployment: str | None = None) -> httpx.Response:
        ep = self.endpoint()
        headers = {"Authorization": f"Bearer {self.aml.online.keys[self.target]}"}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        return httpx.post(ep["scoringUri"], json=body, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def released(
    tmp_path_factory: pytest.TempPathFactory, registry: Any
) -> tuple[Any, Path, dict[str, Released]]:
    need_tools("buildah", "docker-registry")
    tmp = tmp_path_factory.mktemp("aml-rollout")
    project = committed_project(tmp / "repo")
    storage = Buildah.from_env(root=tmp / "storage", env={})
    registry_dir = tmp / "model-registry"
    releases = {}
    for n, broken in ((1, False), (2, False), (3, True)):
        context = package(project, str(n), broken=broken)
        assert register(registry_dir, context, n) == str(n)
        releases[str(n)] = Released(str(n), context, label_only_image(storage, registry, str(n)))
    yield project, registry_dir, releases
    argv = ["buildah", *storage.global_args(), "rmi", "--all", "--force"]
    subprocess.run(argv, capture_output=True, timeout=300, check=False)


@pytest.fixture(params=["azureml-managed", "azureml-kubernetes"])
def workspace(
    request: pytest.FixtureRequest, azureml: Any, released: Any, capsys: Any
) -> Iterator[Workspace]:
    project, registry_dir, releases = released
    kind = request.param
    for release in releases.values():
        azureml.online.images[release.image.split("@")[1]] = release.context
    azureml.online.computes.add("arc-stackhub")
    target = {"name": "cloud" if kind == "azureml-managed" else "onprem", "kind": kind, "endpoint": "",
              "steps": [25, 100], "mirror_percent": 10, "smoke": {"requests": 4, "rows": 3}}  # fmt: skip
    target["endpoint"] = target["name"]
    if kind == "azureml-managed":
        target["instance_type"] = "Standard_DS3_v2"
    else:
        target["compute"] = "arc-stackhub"
    config = write_config(project, [target], registry_dir)
    data = yaml.safe_load(config.read_text())
    data["azureml"] = {
        "subscription_id": SUB,
        "resource_group": RG,
        "workspace": WS,
        "model_name": "edgetrain-xgb",
    }
    config.write_text(yaml.safe_dump(data))
    return Workspace(azureml, project.root, config, releases, target["name"], capsys)


def test_rollout_cases(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    # 1. first deploy: the endpoint answers like `edgetrain serve`
    code, first, err = ws.release("1")
    assert code == 0, err
    assert first is not None
    assert (first["slot"], first["traffic_after"]) == ("blue", {"blue": 100})
    body = records(make_frame(20, 99))  # rows a client sends (made up here; the smoke test made its own)
    answered = ws.score(body)
    assert answered.status_code == 200, answered.text
    local = serve_context(ws.releases["1"].context, tmp_path)
    try:
        assert answered.json() == httpx.post(local.url + "/score", json=body, timeout=60).json()
    finally:
        local.stop_gracefully()
    assert ws.score(body, deployment=None).status_code == 200
    assert httpx.post(ws.endpoint()["scoringUri"], json=body, timeout=30).status_code == 401  # key enforced
    # rerun changes nothing: no PUT reaches the stand-in
    puts = sum(1 for c in ws.aml.log if c.method == "PUT")
    code, again, err = ws.release("1")
    assert code == 0, err
    assert again is not None
    assert again["changed"] is False
    assert sum(1 for c in ws.aml.log if c.method == "PUT") == puts
    # 2. upgrade: mirrored, then 25%, then all; the old slot is kept
    traffic_puts: list[dict] = []
    start = len(ws.aml.log)
    code, up, err = ws.release("2")
    assert code == 0, err
    assert up is not None
    assert up["traffic_after"] == {"green": 100}
    for call in ws.aml.log[start:]:
        if call.method == "PUT" and call.path.endswith(f"/onlineEndpoints/{ws.target}"):
            traffic_puts.append(
                {k: v for k, v in call.body["properties"].items() if k in ("traffic", "mirrorTraffic")}
            )
    assert {"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10}} in traffic_puts
    assert {"traffic": {"green": 25, "blue": 75}} in [{k: v for k, v in p.items() if v} for p in traffic_puts]
    assert set(ws.status()["slots"]) == {"blue", "green"}
    assert ws.score(body, "green").status_code == 200
    assert ws.score(body, "blue").status_code == 200
    # 3. a release that cannot start: traffic stays, one line, non-zero; blue holds version 1 again
    before = ws.status()
    code, _, err = ws.release("3")
    assert code == 14
    assert len(err.strip().splitlines()) == 1, err
    assert "traffic stays on slot green (version 2)" in err
    assert "User container has crashed" in err
    assert ws.status() == before
    assert ws.endpoint()["traffic"] == {"green": 100}
    # 4. rollback, and its rerun
    summary = tmp_path / "step-summary.md"
    code, out, err = ws.run("rollback", "--target", ws.target, "--json", "--summary", str(summary))
    assert code == 0, err
    assert json.loads(out)["traffic_after"] == {"blue": 100}
    assert ws.endpoint()["traffic"] == {"blue": 100}
    digest = ws.releases["1"].image.split("@")[1]
    table = summary.read_text(encoding="utf-8").splitlines()  # the job summary a rollback run shows
    assert table[0] == f"### Rolled back: {ws.target}"
    for row in ("| slot | blue |", "| model version | 1 |", f"| image digest | `{digest}` |",
                "| traffic before | green=100% |", "| traffic after | blue=100% |"):  # fmt: skip
        assert row in table, (row, table)
    code, out, err = ws.run("rollback", "--target", ws.target, "--json")
    assert code == 0, err
    assert json.loads(out)["changed"] is False
    # bad input: one line, non-zero, no traffic change
    before = ws.status()
    fake = ws.releases["2"].image.split("@")[0] + "@sha256:" + "0" * 64
    for version, image, message in (
        ("99", None, "never released"),
        ("2", fake, "not in the registry by that digest"),
    ):
        code, _, err = ws.release(version, image or ws.releases["2"].image)
        assert code == 14, err
        assert len(err.strip().splitlines()) == 1, err
        assert message in err
    assert ws.status() == before
