"""`deploy record`: an edge host's outcome (written without registry access) becomes registry lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgetrain.cli import main
from edgetrain.registry.base import Candidate
from edgetrain.registry.local import LocalRegistry

REPO = Path(__file__).resolve().parents[2]
IMAGE = "127.0.0.1:5000/edgetrain-scoring@sha256:"


def outcome(before: dict, after: dict, changed: bool = True) -> dict:
    return {"target": "edge-vm", "kind": "edge-host", "endpoint": "http://127.0.0.1:8080", "slot": "green",
            "version": "2", "image": IMAGE + "2" * 64, "changed": changed,
            "state_before": before, "state": after}  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Path:
    registry = LocalRegistry(tmp_path / "models", "edgetrain-xgb")
    for n in (1, 2, 3):
        model = tmp_path / f"model{n}.ubj"
        model.write_bytes(b"m%d" % n)
        registry.create(Candidate((model,), {"git_commit": f"{n:040x}", "model_md5": str(n)}, {}, ""))
    data = yaml.safe_load((REPO / "config" / "edge.yaml").read_text())
    data["registry"] = {"backend": "local", "local_path": str(tmp_path / "models")}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def show(config: Path, version: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["models", "show", version, "--config", str(config)]) == 0
    return capsys.readouterr().out.split("  deployed:\n", 1)[1]


def test_record_writes_every_slot_and_clears_the_replaced(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slots = {"blue": {"version": "1", "image": IMAGE + "1" * 64}}
    first = outcome({"slots": {}, "traffic": {}}, {"slots": slots, "traffic": {"blue": 100}})
    (tmp_path / "o1.json").write_text(json.dumps(first))
    assert main(["deploy", "record", "--outcome", str(tmp_path / "o1.json"), "--config", str(config)]) == 0
    assert "edge-vm: http://127.0.0.1:8080 slot blue, traffic 100%" in show(config, "1", capsys)
    both = {**slots, "green": {"version": "3", "image": IMAGE + "3" * 64}}
    after = {"slots": {"green": both["green"], "blue": {"version": "2", "image": IMAGE + "2" * 64}},
             "traffic": {"blue": 100}}  # fmt: skip
    second = outcome({"slots": both, "traffic": {"blue": 100}}, after)
    (tmp_path / "o2.json").write_text(json.dumps(second))
    assert main(["deploy", "record", "--outcome", str(tmp_path / "o2.json"), "--config", str(config)]) == 0
    assert show(config, "1", capsys).strip() == "-"  # its slot now holds version 2
    assert "slot blue, traffic 100%" in show(config, "2", capsys)
    assert "slot green, traffic 0%" in show(config, "3", capsys)


def test_a_file_that_is_not_an_outcome_is_one_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_text('{"target": "x"}')
    assert main(["deploy", "record", "--outcome", str(tmp_path / "bad.json"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not an outcome of `edgetrain deploy --outcome`" in err
    assert len(err.strip().splitlines()) == 1
