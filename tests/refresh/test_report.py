"""The data report: before/after aggregates and PSI per feature, label balance, never a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.refresh.conftest import land, write_local

from edgetrain.cli import main
from edgetrain.contract.escape import md
from edgetrain.refresh.report import compare, psi, summarize
from edgetrain.report import data_report


def _rendered(diff: dict, params) -> str:  # type: ignore[no-untyped-def]
    """As the job that opens the pull request renders it: the JSON read back through the checked reader."""
    return data_report.render(
        data_report.read_data_report(json.loads(json.dumps(diff)), params.data.features)
    )


def test_psi_is_zero_for_the_same_shares_and_large_for_a_shift() -> None:
    assert psi({"a": 10, "b": 30}, {"a": 20, "b": 60}) == 0
    assert psi({"a": 50, "b": 50}, {"a": 10, "b": 90}) > 0.25
    assert psi({}, {"a": 1}) is None


def test_psi_by_hand() -> None:
    # shares 0.5/0.5 -> 0.25/0.75: (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5)
    assert psi({"a": 2, "b": 2}, {"a": 1, "b": 3}) == pytest.approx(0.2747, abs=1e-4)


def test_summary_and_comparison(drops, params, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    names = sorted(drops)
    before_dir = write_local(tmp_path / "before", {n: drops[n] for n in names[:3]})
    after_dir = write_local(tmp_path / "after", drops)
    before = summarize(before_dir, params)
    assert before["rows"] == sum(drops[n].count(b"\n") - 1 for n in names[:3])
    torque = before["features"]["torque_nm"]
    assert torque["kind"] == "numeric"
    assert sum(torque["counts"].values()) == before["rows"]
    assert len(torque["edges"]) == 9
    assert before["features"]["type"]["kind"] == "categorical"
    assert set(before["labels"]["counts"]) == {"0", "1"}

    after = summarize(after_dir, params, bins_from=before)
    assert after["features"]["torque_nm"]["edges"] == torque["edges"]  # the same bins for PSI
    diff = compare(before, after)
    assert diff["drops_added"] == {names[3]: drops[names[3]].count(b"\n") - 1}
    assert diff["rows"]["after"] - diff["rows"]["before"] == diff["drops_added"][names[3]]
    assert all(f["psi"] is not None and f["psi"] >= 0 for f in diff["features"].values())

    report = _rendered(diff, params)
    assert f"| {names[3]} | {diff['drops_added'][names[3]]} |" in report
    for feature in params.data.features:
        assert f"| {md(feature)} |" in report
    # aggregates only: no CSV row of any drop appears in the report
    for payload in drops.values():
        for row in payload.decode().splitlines()[1:]:
            assert row not in report


def test_first_refresh_has_an_empty_before(drops, params, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = summarize(tmp_path / "absent", params)
    assert before["rows"] == 0
    diff = compare(before, summarize(write_local(tmp_path / "data", drops), params, bins_from=before))
    assert set(diff["drops_added"]) == set(drops)
    assert "Rows: 0 ->" in _rendered(diff, params)


@pytest.mark.integration
def test_cli_check_then_report(raw, drops, tmp_path: Path, standin, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """The workflow's two steps around `dvc update` (here the update is a copy of the new drop)."""
    import yaml
    from tests.conftest import REPO_ROOT

    cfg, container = raw
    names = sorted(drops)
    for name in names:
        land(container, name, drops[name])
    edge = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    edge["storage"].update(blob_endpoint=standin.blob_endpoint, raw_container=cfg.raw_container)
    config = tmp_path / "edge.yaml"
    config.write_text(yaml.safe_dump(edge))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", standin.connection_string)
    data = write_local(tmp_path / "data", {n: drops[n] for n in names[:3]})
    common = [
        "--params",
        str(REPO_ROOT / "params.yaml"),
        "--data-dir",
        str(data),
        "--baseline",
        str(tmp_path / "b.json"),
    ]

    assert main(["refresh", "check", "--config", str(config), *common]) == 0
    assert f"1 new drop(s), all valid: {cfg.raw_container}/raw/{names[3]}" in capsys.readouterr().out
    (data / names[3]).write_bytes(drops[names[3]])
    out = tmp_path / "r.json"
    assert main(["refresh", "report", *common, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["drops_added"] == {names[3]: 100}
    assert "1 drop(s), 100 rows added" in capsys.readouterr().out

    assert main(["refresh", "check", "--config", str(config), *common]) == 0
    assert capsys.readouterr().out.strip() == "no new drops"


def test_report_without_a_before_summary_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import REPO_ROOT

    code = main(
        [
            "refresh",
            "report",
            "--params",
            str(REPO_ROOT / "params.yaml"),
            "--baseline",
            str(tmp_path / "none.json"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "none.json: cannot read the before-summary" in err[0]


def _blank_targets(payload: bytes, rows: list[int], target: str) -> bytes:
    import io

    import pandas as pd

    frame = pd.read_csv(io.BytesIO(payload)).astype({target: object})
    frame.loc[rows, target] = None
    return frame.to_csv(index=False, lineterminator="\n").encode()


@pytest.mark.integration
def test_blank_targets_refused_by_check_or_counted_in_the_report(  # noqa: PLR0917
    raw, drops, params, tmp_path: Path, standin, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    import yaml
    from tests.conftest import REPO_ROOT

    cfg, container = raw
    names = sorted(drops)
    target = params.data.target
    new = _blank_targets(drops[names[3]], [0, 1, 40], target)
    land(container, names[3], new)
    edge = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    edge["storage"].update(blob_endpoint=standin.blob_endpoint, raw_container=cfg.raw_container)
    config = tmp_path / "edge.yaml"
    config.write_text(yaml.safe_dump(edge))
    settings = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", standin.connection_string)
    data = write_local(tmp_path / "data", {n: drops[n] for n in names[:3]})
    baseline = tmp_path / "b.json"
    common = ["--params", str(params_file), "--data-dir", str(data), "--baseline", str(baseline)]

    assert main(["refresh", "check", "--config", str(config), *common]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert (
        f"target column {target!r} is blank in 3 row(s): {cfg.raw_container}/raw/{names[3]} lines 2, 3, 42"
        in (err[0])
    )
    assert not baseline.exists()

    settings["data"]["missing_target"] = "drop"
    params_file.write_text(yaml.safe_dump(settings))
    assert main(["refresh", "check", "--config", str(config), *common]) == 0
    assert f"1 new drop(s), all valid: {cfg.raw_container}/raw/{names[3]} (97 rows" in capsys.readouterr().out
    (data / names[3]).write_bytes(new)
    figures = tmp_path / "r.json"
    assert main(["refresh", "report", *common, "--out", str(figures)]) == 0
    diff = json.loads(figures.read_text())
    assert diff["missing_target_rows"] == {"before": 0, "after": 3}
    rendered = data_report.render(data_report.read_data_report(diff, params.data.features))
    assert "Rows with a blank target, left out by prepare (data.missing_target: drop): 0 -> 3" in rendered
