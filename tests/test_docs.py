"""The README's checkable claims, the generated commands page, and the site's strict build settings.

``make lint`` builds the site with ``mkdocs build --strict``; these tests pin what that build and the README
promise: the README stays short, its test command is what CI runs, every path it names exists, the commands
page matches the parser, and a broken link, a missing anchor or a page left out of the nav fail the build.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
CI_RUN = REPO_ROOT / ".ci" / "run"
CI_YML = REPO_ROOT / ".github" / "workflows" / "ci.yml"
#: Paths the README names that a command creates (all git-ignored), not files of the repository.
GENERATED = {
    ".dvc/config.local": "written by `edgetrain storage up`",
    ".edgetrain/standin": "the stand-in's data, written by `edgetrain storage up`",
    "site/": "the built site, written by `make docs`",
}
PATH_EXTENSIONS = (".yaml", ".yml", ".md", ".dvc", ".lock", ".py", ".txt", ".json", ".toml", ".cfg")


def _gen_commands() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_commands", REPO_ROOT / "docs" / "gen_commands.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_test_command(text: str) -> str:
    """The command the README's quick start gives for the tests: its ``make test`` line, comment dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", text.split("## Quick start", 1)[1], re.S)
    commands = [line.split("#", 1)[0].strip() for line in blocks[0].splitlines()]
    tests = [c for c in commands if c.split()[:2] == ["make", "test"]]
    assert len(tests) == 1, f"README quick start: expected one `make test` line, got {tests}"
    return tests[0]


def ci_run_command(text: str) -> str:
    """The last command ``.ci/run`` runs (what its exit status is)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return lines[-1]


def ci_yml_commands(text: str) -> list[str]:
    flow = yaml.safe_load(text)
    return [step["run"].strip() for job in flow["jobs"].values() for step in job["steps"] if "run" in step]


def readme_paths(text: str) -> set[str]:
    """Relative link targets and code spans that name a path (a folder or a file with a known extension)."""
    links = {t.split("#", 1)[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t}
    spans = {s for s in re.findall(r"`([^`\s]+)`", text) if "/" in s or s.endswith(PATH_EXTENSIONS)}
    return {p for p in links | spans if p and not p.startswith(("http", "#"))}


def test_readme_is_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= 200, f"README.md has {lines} lines; the limit is 200 (move detail to docs/)"


def test_readme_ci_run_and_ci_yml_run_the_same_command() -> None:
    command = readme_test_command(README.read_text())
    assert command == "make test"
    assert ci_run_command(CI_RUN.read_text()) == command
    assert ci_yml_commands(CI_YML.read_text()) == [".ci/run"]


def test_the_command_checks_catch_a_drift() -> None:
    """The extractors above see a change: a README that says pytest, a .ci/run that runs something else."""
    readme = README.read_text().replace("make test   #", "pytest   #", 1)
    with pytest.raises(AssertionError, match="expected one `make test` line"):
        readme_test_command(readme)
    assert ci_run_command(CI_RUN.read_text() + "make lint\n") == "make lint"
    assert ci_yml_commands(CI_YML.read_text().replace("run: .ci/run", "run: make lint")) == ["make lint"]


def test_every_path_the_readme_names_exists() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    names = {Path(t).name for t in tracked}
    paths = readme_paths(README.read_text())
    assert {"docs/quick-start.md", ".ci/run", "params.yaml", "config/edge.yaml"} <= paths
    missing = []
    for path in sorted(paths):
        if path in GENERATED:
            continue
        if "/" in path:
            if not (REPO_ROOT / path).exists():
                missing.append(path)
        elif path not in names and not (REPO_ROOT / path).exists():
            missing.append(path)
    assert not missing, f"README.md names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/github.md"])
def test_every_workflow_is_named(page: str) -> None:
    """The layout table once listed two workflows of three: the README and the workflows page name all."""
    text = (REPO_ROOT / page).read_text()
    workflows = sorted(p.name for p in (REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) >= 4
    missing = [name for name in workflows if f"`{name}`" not in text]
    assert not missing, f"{page} does not name {missing}"


def test_readme_path_check_sees_a_missing_file() -> None:
    paths = readme_paths("See [the page](docs/no-such-page.md#x) and `src/edgetrain/nowhere.py`.")
    assert paths == {"docs/no-such-page.md", "src/edgetrain/nowhere.py"}
    assert not any((REPO_ROOT / p).exists() for p in paths)


def test_commands_page_is_generated_from_the_parser() -> None:
    gen = _gen_commands()
    assert gen.PAGE.read_text() == gen.render(), "docs/commands.md is stale: run python docs/gen_commands.py"


def test_commands_page_lists_every_exit_code_the_package_defines() -> None:
    """The exit-code table is written by hand: every error class's ``exit_code = N`` in src/ is in it."""
    defined = {
        int(code)
        for path in (REPO_ROOT / "src" / "edgetrain").rglob("*.py")
        for code in re.findall(r"^\s+exit_code(?::\s*int)?\s*=\s*(\d+)\s*$", path.read_text(), re.M)
    }
    assert {2, 3, 12} <= defined
    table = {int(code) for code in re.findall(r"^\| (\d+) \|", _gen_commands().HEADER, re.M)}
    assert defined <= table, f"exit codes missing from docs/gen_commands.py HEADER: {sorted(defined - table)}"


def test_commands_page_lists_every_subcommand_and_option() -> None:
    from edgetrain.cli import build_parser

    page = _gen_commands().render()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for option in ("--verbose", "--version"):
        assert option in page
    for name, child in sub.choices.items():
        assert f"## `edgetrain {name}`" in page
        for action in child._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in page, f"edgetrain {name} {option}"


def _site_copy(tmp_path: Path) -> Path:
    """The site's sources in a scratch folder, with a stub for any nav page another change has not landed."""
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    shutil.copy(REPO_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for page in re.findall(r":\s*(\S+\.md)\s*$", (REPO_ROOT / "mkdocs.yml").read_text(), re.M):
        target = tmp_path / "docs" / page
        if not target.exists():
            target.write_text(f"# {page}\n")
    return tmp_path


def _build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(root / "site")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        check=False,
    )


def test_strict_build_fails_on_a_broken_link_a_missing_anchor_and_an_unlisted_page(tmp_path: Path) -> None:
    root = _site_copy(tmp_path)
    clean = _build(root)
    assert clean.returncode == 0, clean.stderr[-3000:]
    with (root / "docs" / "quick-start.md").open("a") as page:
        page.write("\n[gone](no-such-page.md) [anchor](github.md#no-such-section)\n")
    (root / "docs" / "orphan.md").write_text("# Not in the nav\n")
    broken = _build(root)
    assert broken.returncode != 0
    # Each must be a warning (what --strict turns into a failure), not an info line beside other warnings.
    warnings = re.findall(r"^WARNING\s+-\s+(.*(?:\n  .*)*)", broken.stderr, re.M)
    for needle in ("no-such-page.md", "#no-such-section", "orphan.md"):
        assert any(needle in w for w in warnings), f"{needle}: not a warning in\n{broken.stderr[-3000:]}"
