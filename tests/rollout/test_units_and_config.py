"""The deploy section of config/edge.yaml and the systemd units the edge-host kind installs.

Units are rendered for both Podman generations: the plain unit and the front are verified by
`systemd-analyze verify` (whose power to refuse is shown on a broken unit); the Quadlet `.container` file is
checked by structure only, as Podman 4.3 here has no Quadlet generator.
"""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.image.helpers import need_tools

from edgetrain.config.deploy import DeployTarget
from edgetrain.config.edge import load_edge_config
from edgetrain.deploy import units
from edgetrain.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
IMAGE = "edgetrainacr.azurecr.io/edgetrain-scoring@sha256:" + "ab" * 32
#: Keys Podman 4.4's Quadlet accepts in [Container] (podman-systemd.unit(5) of 4.4), plus 4.5's health key.
QUADLET_44_KEYS = {
    "ContainerName", "Image", "User", "Group", "ReadOnly", "DropCapability", "NoNewPrivileges",
    "PublishPort", "Environment", "Label", "Annotation", "Volume", "Exec", "Network",
}  # fmt: skip


def edge(**extra: object) -> DeployTarget:
    return DeployTarget.model_validate({"name": "edge-vm", "kind": "edge-host", **extra})


def verify(folder: Path) -> subprocess.CompletedProcess[str]:
    need_tools("systemd-analyze")
    files = sorted(str(p) for p in folder.iterdir())
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(folder: Path, *files: units.UnitFile) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for unit in files:
        (folder / unit.name).write_text(unit.text)
    return folder


def test_the_example_config_stays_valid_and_deploys_nowhere() -> None:
    cfg = load_edge_config(REPO / "config" / "edge.yaml")
    assert cfg.deploy.targets == []


def test_the_commented_example_targets_are_valid(tmp_path: Path) -> None:
    text = (REPO / "config" / "edge.yaml").read_text()
    block = text.split("  targets: []\n", 1)[1]
    example = "\n".join(
        line.replace("  # ", "  ", 1) for line in block.splitlines() if line.startswith("  # ")
    )
    data = yaml.safe_load((REPO / "config" / "edge.yaml").read_text())
    data["deploy"] = {"targets": yaml.safe_load(example)}
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(data))
    kinds = [t.kind for t in load_edge_config(tmp_path / "edge.yaml").deploy.targets]
    assert kinds == ["azureml-managed", "azureml-kubernetes", "edge-host"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"name": "x1", "kind": "nomad"}, "deploy.targets[0].kind: Input should be"),
        ({"name": "Bad_Name", "kind": "edge-host"}, "deploy.targets[0].name"),
        ({"name": "cloud", "kind": "azureml-managed", "instance_type": "S"}, "set endpoint"),
        ({"name": "cloud", "kind": "azureml-managed", "endpoint": "ep-1"}, "set instance_type"),
        ({"name": "k8s", "kind": "azureml-kubernetes", "endpoint": "ep-1"}, "set compute"),
        ({"name": "edge", "kind": "edge-host", "steps": [10, 100]}, "all traffic at once"),
        ({"name": "edge", "kind": "edge-host", "port": 8081}, "three different ports"),
        ({"name": "cloud", "kind": "azureml-managed", "endpoint": "ep-1", "instance_type": "S",
          "steps": [50]}, "ending at 100"),
        ({"name": "edge", "kind": "edge-host", "surprise": 1}, "deploy.targets[0].surprise: unknown key"),
    ],
)  # fmt: skip
def test_bad_targets_are_one_line_naming_the_key(tmp_path: Path, target: dict, message: str) -> None:
    data = yaml.safe_load((REPO / "config" / "edge.yaml").read_text())
    data["deploy"] = {"targets": [target]}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_edge_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_duplicate_target_names_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config" / "edge.yaml").read_text())
    data["deploy"] = {"targets": [{"name": "edge", "kind": "edge-host"}] * 2}
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="target name 'edge' appears twice"):
        load_edge_config(tmp_path / "edge.yaml")


@pytest.mark.parametrize("version", ["3.4", "4.3"])
def test_plain_unit_and_front_pass_systemd_analyze(tmp_path: Path, version: str) -> None:
    target = edge(podman_version=version, port=9000, slot_ports=[9001, 9002], memory="512m", cpus=0.5)
    slot = units.slot_unit(target, "green", IMAGE, "7")
    assert slot.name == "edgetrain-edge-vm-green.service"
    for flag in ("--user=10001:10001", "--read-only", "--cap-drop=all", "--memory=512m", "--cpus=0.5",
                 "--publish=127.0.0.1:9002:5001", "--security-opt=no-new-privileges"):  # fmt: skip
        assert flag in slot.text
    assert IMAGE in slot.text
    assert "Restart=on-failure" in slot.text
    assert ("--health-on-failure=kill" in slot.text) == (version == "4.3")
    socket, front = units.front_units(target, "green")
    assert "ListenStream=9000" in socket.text
    assert f"{units.SOCKET_PROXYD} 127.0.0.1:9002" in front.text
    done = verify(write(tmp_path / "units", slot, socket, front))
    assert done.returncode == 0, done.stderr


def test_systemd_analyze_refuses_a_broken_unit(tmp_path: Path) -> None:
    slot = units.slot_unit(edge(podman_version="4.3"), "blue", IMAGE, "7")
    broken = units.UnitFile(
        slot.name, slot.text.replace("ExecStart=/usr/bin/podman", "ExecStart=podman-nowhere")
    )
    done = verify(write(tmp_path / "units", broken))
    assert done.returncode != 0


def test_quadlet_container_by_structure() -> None:
    target = edge(podman_version="4.9", memory="2g", cpus=1.5)
    unit = units.slot_unit(target, "blue", IMAGE, "7")
    assert unit.name == "edgetrain-edge-vm-blue.container"
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parsed.read_string(unit.text)
    container = dict(parsed["Container"])
    assert set(container) - QUADLET_44_KEYS == {"HealthOnFailure"}
    assert container["Image"] == IMAGE
    assert (container["User"], container["ReadOnly"], container["DropCapability"]) == ("10001", "true", "all")
    assert container["PublishPort"] == "127.0.0.1:8081:5001"
    assert dict(parsed["Service"])["MemoryMax"] == "2G"
    assert dict(parsed["Service"])["CPUQuota"] == "150%"
    assert "HealthOnFailure" not in units.slot_unit(edge(podman_version="4.4"), "blue", IMAGE, "7").text


@pytest.mark.parametrize(
    "image", ["edgetrainacr.azurecr.io/edgetrain-scoring:7", "sha256:" + "a" * 64, IMAGE[:-1]]
)
def test_units_take_images_by_digest_only(image: str) -> None:
    with pytest.raises(ValueError, match="an image by digest"):
        units.slot_unit(edge(), "blue", image, "7")
