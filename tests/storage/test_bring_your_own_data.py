"""docs/your-data.md "Bring your own data, step by step", command by command, on a fresh clone after
`make demo`'s data steps.

The commands and the params snippet are read from docs/your-data.md and run as written (bash, in the clone),
against the clone's own strict stand-in (``edgetrain storage up`` on a free port). The clone starts where a
forker is after ``make demo``: sample drops landed and ``data/`` present, so the documented
``rm -rf data && dvc import-url --force ... data`` is exercised where it used to fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import REPO_ROOT, STACK_HUB_VERSION, subprocess_env

from edgetrain.storage.azurite import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SECTION = "## Bring your own data, step by step"
DOC = REPO_ROOT / "docs" / "your-data.md"
TIMEOUT_S = 900
MISSING_CACHE = "do not exist"  # DVC: "Some of the cache files do not exist neither locally nor on remote"
GIT_ID = {
    "GIT_AUTHOR_NAME": "forker",
    "GIT_AUTHOR_EMAIL": "forker@example.invalid",
    "GIT_COMMITTER_NAME": "forker",
    "GIT_COMMITTER_EMAIL": "forker@example.invalid",
}


def readme_section(title: str, doc: Path = REPO_ROOT / "README.md") -> str:
    text = doc.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else None]


def code_blocks(text: str, lang: str) -> list[str]:
    pattern = re.compile(rf"^( *)```{lang}\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(m.group(2)) for m in pattern.finditer(text)]


def commands(text: str) -> list[str]:
    lines = [ln.strip() for block in code_blocks(text, "bash") for ln in block.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = (
            merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return out


def churn(rows: int, seed: int) -> pd.DataFrame:
    """A churn table with a strong signal, so two models of it score alike (the gate lets the second by)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, rows)
    spend = np.round(rng.uniform(10, 120, rows), 2)
    plan = rng.choice(["basic", "pro", "family"], rows)
    calls = rng.poisson(1.5, rows)
    logit = 3 * (-0.08 * tenure + 0.03 * spend + 1.2 * calls - 1.5 + (plan == "basic"))
    churned = np.where(logit + rng.normal(0, 0.3, rows) > 0, "yes", "no")
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_spend": spend,
            "plan": plan,
            "support_calls": calls,
            "churned": churned,
        }
    )


def sh(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line],
        cwd=cwd,
        env=subprocess_env(**GIT_ID),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"{line} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert MISSING_CACHE not in done.stdout + done.stderr, f"{line}:\n{done.stdout}\n{done.stderr}"
    return done


def demo_data_steps() -> list[str]:
    """`make demo`'s recipe from the Makefile, from the sample drops up to (not including) the metrics."""
    text = (REPO_ROOT / "Makefile").read_text()
    rows = re.search(r"^DEMO_ROWS \?= (\d+)$", text, re.MULTILINE)
    assert rows
    recipe = text[text.index("\ndemo:") + 1 :].splitlines()[1:]
    steps = []
    for line in recipe:
        if not line.startswith("\t") or "dvc metrics show" in line:
            break
        steps.append(line.strip().replace("$(DEMO_ROWS)", rows.group(1)))
    assert "dvc repro" in steps
    return steps


@pytest.fixture
def fork(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh clone on its own stand-in port after `make demo`'s steps up to `dvc metrics show` (taken from
    the Makefile): samples landed, data/ pulled, pipeline run and pushed."""
    clone = tmp_path / "fork"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    (clone / ".edgetrain").mkdir()
    (clone / ".edgetrain" / "tools").symlink_to(REPO_ROOT / ".edgetrain" / "tools")
    port = free_port()
    edge = clone / "config" / "edge.yaml"
    edge.write_text(edge.read_text().replace("port: 10000", f"port: {port}", 1))
    # `git add` by name: the edit keeps the file's size, so `commit -a`'s stat check can miss it.
    sh("git add config/edge.yaml && git commit -qm 'Own stand-in port'", clone)
    try:
        sh("edgetrain storage up", clone)
        for line in demo_data_steps():
            sh(line, clone)
        assert (clone / "data" / "2026-11-01.csv").is_file()
        # The template's own dvc.lock on a fresh fork: after the demo, another checkout (a runner, a
        # colleague) pulls every output it records from the remote, with no missing-cache warning.
        other = tmp_path / "other-checkout"
        sh(f"git clone -q {clone} {other} && cp {clone}/.dvc/config.local {other}/.dvc/", tmp_path)
        sh("dvc pull", other)
        assert (other / "artifacts" / "model" / "model.ubj").is_file()
        yield clone
    finally:
        subprocess.run(
            ["edgetrain", "storage", "down"],
            cwd=clone,
            env=subprocess_env(),
            check=False,
            capture_output=True,
            timeout=120,
        )


def test_bring_your_own_data_as_the_readme_says(fork: Path, tmp_path: Path) -> None:
    section = readme_section(SECTION, DOC)
    mine = tmp_path / "my-data"  # ../my-data from the clone
    mine.mkdir()
    for i, name in enumerate(("2026-01.csv", "2026-02.csv", "2026-03.csv")):
        churn(500, seed=i).to_csv(mine / name, index=False)

    (snippet,) = code_blocks(section, "yaml")
    params = yaml.safe_load((fork / "params.yaml").read_text())
    (fork / "params.yaml").write_text(yaml.safe_dump(merge(params, yaml.safe_load(snippet)), sort_keys=False))

    outputs: dict[str, str] = {}
    for line in commands(section):
        if "new.csv" in line:
            churn(300, seed=9).to_csv(mine / "new.csv", index=False)
        done = sh(line, fork)
        outputs[line] = done.stdout + done.stderr

    # Only the forker's files were tracked and trained on; the sample drops are gone from data/.
    assert sorted(p.name for p in (fork / "data").iterdir()) == [
        "2026-01.csv",
        "2026-02.csv",
        "2026-03.csv",
        "new.csv",
    ]
    metrics = json.loads((fork / "artifacts" / "metrics.json").read_text())
    assert metrics["rows"] > 0
    versions = list_versions(fork)
    assert [v["version"] for v in versions] == ["1", "2"]
    assert versions[0]["stage"] == "production"
    assert {v["tags"]["data_source"] for v in versions} == {"remote://stackhub-raw/raw"}
    head_data = yaml.safe_load((fork / "data.dvc").read_text())["outs"][0]["md5"]
    assert versions[1]["tags"]["data_md5"] == head_data
    assert "both on the candidate's test split" in outputs["edgetrain register"]
    assert (fork / ".edgetrain" / "registry" / "edgetrain-xgb" / "2" / "model.ubj").is_file()

    # What a pull-request run on this fork does next finds everything on the remote: no missing-cache warning.
    for line in ("dvc pull", "dvc repro --pull", "dvc status -c"):
        sh(line, fork)
    sh("dvc plots show", fork)
    assert sh("git status --porcelain", fork).stdout == ""  # dvc_plots/, data/, registry: all ignored

    # Every request to the clone's strict stand-in spoke Stack Hub's version and none was refused.
    log = fork / ".edgetrain" / "standin" / "requests.jsonl"
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen
    assert {r["version"] for r in seen} == {STACK_HUB_VERSION}
    assert not [r for r in seen if r["status"] == 400]


def list_versions(fork: Path) -> list[dict[str, Any]]:
    return json.loads(sh("edgetrain models list --json", fork).stdout)


def test_the_stack_hub_import_command_is_the_tested_one() -> None:
    """The account set-up step documents the same import command the test above runs."""
    account = commands(
        readme_section("## Point it at your Stack Hub account", REPO_ROOT / "docs" / "stack-hub-storage.md")
    )
    own = commands(readme_section(SECTION, DOC))
    documented = [ln.replace("<raw_prefix>", "raw") for ln in account if "import-url" in ln]
    assert documented
    assert set(documented) <= set(own)
