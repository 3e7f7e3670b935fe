"""The edge runner and deploy benches at smoke size (`make bench-runner`, `make bench-deploy`): each runs as
`make bench` runs it and writes its section with every row; no figure is asserted. They need root and
bubblewrap, or buildah and a loopback registry: under CI=true a missing one fails, elsewhere it skips."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.bench.helpers import run_bench
from tests.deploy.sandbox_helpers import need_sandbox
from tests.image.helpers import TOOLS, need_tools

import deploy_latency
import runner_cost


def table_rows(section: str) -> list[list[str]]:
    """The cells of every body row of every table in ``section`` (header rows left out)."""
    rows, in_body = [], False
    for line in section.splitlines():
        if line.startswith("|---"):
            in_body = True
        elif not line.startswith("|"):
            in_body = False
        elif in_body:
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_runner_cost_smoke(tmp_path: Path) -> None:
    need_sandbox()
    args = ["--project", "smoke", "--rounds", "1", "--starts", "2", "--require"]
    _, text = run_bench("runner_cost.py", *args, tmp=tmp_path)
    section = text[text.index(runner_cost.SECTION) :]
    assert "Reproduce: `sudo .venv/bin/python bench/runner_cost.py --project smoke" in section
    assert "load average" in section
    assert "**smoke size**" in section
    rows = table_rows(section)
    expected = [label.format(seed="") for _, label in runner_cost.ROWS]
    assert [re.sub(r" \(\d+ entries\)", "", row[0]) for row in rows] == expected
    assert not [row for row in rows if row[1].startswith("missing")], section
    assert (tmp_path / "runner_cost.json").is_file()


def test_runner_cost_without_bwrap_is_one_line_and_every_row_missing(tmp_path: Path) -> None:
    # Only the venv on PATH: no bwrap (and, when not root, the first reason is root).
    env = {"PATH": str(Path(sys.executable).parent)}
    done, text = run_bench("runner_cost.py", "--project", "smoke", tmp=tmp_path, env=env)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    rows = table_rows(text[text.index(runner_cost.SECTION) :])
    assert len(rows) == len(runner_cost.ROWS)
    for row in rows:
        assert row[1].startswith("missing: "), row
        assert not any(re.fullmatch(r"[\d.]+x.*", cell) for cell in row), row  # no ratio unmeasured


def test_deploy_latency_smoke(tmp_path: Path) -> None:
    need_tools(*TOOLS, "systemd-socket-activate")
    args = ["--requests", "5", "--warmup", "2", "--rounds", "1", "--require"]
    _, text = run_bench("deploy_latency.py", *args, tmp=tmp_path)
    section = text[text.index(deploy_latency.SECTION) :]
    assert "Reproduce: `python bench/deploy_latency.py --requests 5" in section
    assert "load average" in section
    rows = table_rows(section)
    expected = [label for _, label in deploy_latency.DEPLOYS] + [str(k) for k in deploy_latency.SIZES]
    assert [row[0] for row in rows] == expected
    assert not [row for row in rows if any(cell.startswith("missing") for cell in row)], section


def test_deploy_latency_without_its_tools_is_one_line_and_every_row_missing(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent)}  # no buildah, no registry, no systemd tools
    done, text = run_bench("deploy_latency.py", tmp=tmp_path, env=env)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    rows = table_rows(text[text.index(deploy_latency.SECTION) :])
    assert len(rows) == len(deploy_latency.DEPLOYS) + len(deploy_latency.SIZES)
    for row in rows:
        assert all(cell.startswith("missing: ") for cell in row[1:]), row
