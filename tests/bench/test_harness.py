"""The harness every bench uses: interleaving, spread, section replacement, peer environments."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness


def test_rounds_alternate_direction() -> None:
    calls: list[str] = []
    variants = {name: (lambda name=name: calls.append(name) or name) for name in "ABC"}
    out = harness.interleave(variants, rounds=3)
    assert calls == list("ABCCBAABC")
    assert out == {"A": ["A"] * 3, "B": ["B"] * 3, "C": ["C"] * 3}


def test_zero_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="rounds"):
        harness.interleave({"A": lambda: 1}, rounds=0)


def test_spread_is_median_and_range() -> None:
    assert harness.spread([3.0, 1.0, 2.0]) == "2.00 (1.00-3.00)"
    assert harness.spread([5.0], ".0f") == "5"


OTHERS = (
    "# Benchmarks\n\n## Training and data\n\nold training\n\n"
    "## Edge runner: per-job environment cost\n\nrunner figures\n\n"
    "## Serving\n\nold serving 11.0x\n\n"
    "## Deploy: ship to traffic, and latency through the edge-host unit\n\ndeploy figures\n"
)


def test_a_section_is_replaced_and_every_other_kept(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    path.write_text(OTHERS)
    harness.write_section("## Serving\n\nnew serving\n", "## Serving", path)
    text = path.read_text()
    assert "old serving" not in text
    assert "new serving" in text
    for kept in ("old training", "runner figures", "deploy figures"):
        assert kept in text
    assert text.index("runner figures") < text.index("new serving") < text.index("deploy figures")


def test_a_new_section_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    path.write_text(OTHERS)
    harness.write_section("## Beyond one VM\n\nscale\n", "## Beyond one VM", path)
    text = path.read_text()
    assert text.startswith(OTHERS.rstrip())
    assert text.rstrip().endswith("scale")


def test_an_absent_peer_is_one_line_when_not_installing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "PEER_WORK", tmp_path)
    with pytest.raises(harness.PeerUnavailableError) as err:
        harness.peer_env("azureml", install=False)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("azureml: not installed")


def test_peer_requirements_are_pinned_and_hashed() -> None:
    for name in ("azureml", "mlserver", "tl2cgen"):
        text = (harness.PEERS / f"{name}.txt").read_text()
        pins = [
            line for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("#")
        ]
        assert pins, name
        assert all("==" in line for line in pins), name
        assert text.count("--hash=sha256:") >= len(pins), name
