"""dvc.yaml declares every input that can change a stage's output, and plots that evaluate really writes.

DVC trusts a run-cache entry by the stage hash (its deps and params), so code that runs inside a stage
but is not a declared dep lets a pull request poison the run cache: change that code and a param, push
the run cache, and a clean clone with only the param change restores the poisoned outputs. The test
below computes, from the source, every project file a stage's process executes and requires dvc.yaml
to list exactly those (plus ``uv.lock``, which pins every third-party library).

What a stage's process executes, from ``cmd: python -m edgetrain.pipeline <stage>``:

* the start-up hook ``src/edgetrain_stackhub.pth`` (every process of the venv) and what it imports;
* the stage entry ``edgetrain.pipeline.__main__``, the shared ``edgetrain.cli`` it runs, and the command
  modules it builds its parser from (``STAGE_COMMANDS``): their import-time code and ``register``;
* the stage module, reached through ``edgetrain.pipeline.cli``.

Code that runs is followed through every import, including those inside functions; modules that are
only imported are followed through their import-time imports. Importing a module runs the
``__init__.py`` of each package above it, so those count too.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from edgetrain.cli import COMMAND_MODULES
from edgetrain.contract.hashing import file_md5
from edgetrain.pipeline.__main__ import STAGE_COMMANDS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
STARTUP_HOOK = SRC / "edgetrain_stackhub.pth"
LOCK = "uv.lock"
STAGES = ("prepare", "train", "evaluate")
#: Functions of a command module that run whatever the command is.
STARTUP_FUNCTIONS = {"register"}


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None  # not ours (a third-party or standard library module)


def _imports(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return []


def _import_time_nodes(tree: ast.Module) -> list[ast.AST]:
    """Nodes that run when the module is imported (or that a startup function runs)."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if getattr(node, "name", None) in STARTUP_FUNCTIONS:
                out += list(ast.walk(node))
            continue
        out.append(node)
        todo += list(ast.iter_child_nodes(node))
    return out


def executed_files(run: list[str], imported: list[str] = ()) -> set[str]:
    """Project files that run when the ``run`` modules run and the ``imported`` ones are imported."""
    mode: dict[Path, str] = {}
    todo = [(name, "run") for name in run] + [(name, "import") for name in imported]
    while todo:
        name, how = todo.pop()
        parts = name.split(".")
        todo += [(".".join(parts[:i]), "import") for i in range(1, len(parts))]  # parent packages
        path = module_file(name)
        if path is None or mode.get(path) in (how, "run"):
            continue
        mode[path] = how
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = ast.walk(tree) if how == "run" else _import_time_nodes(tree)
        todo += [(found, how) for node in nodes for found in _imports(node) if found.startswith("edgetrain")]
    return {str(p.relative_to(ROOT)) for p in mode}


def startup_hook_modules() -> list[str]:
    """Modules the ``.pth`` start-up hook imports (and runs) in every process."""
    return re.findall(r"\bimport\s+([\w.]+)", STARTUP_HOOK.read_text(encoding="utf-8"))


def stage_inputs(stage: str) -> set[str]:
    run = [*startup_hook_modules(), "edgetrain.pipeline.__main__", f"edgetrain.pipeline.{stage}"]
    files = executed_files(run, list(STAGE_COMMANDS))
    return files | {str(STARTUP_HOOK.relative_to(ROOT)), LOCK}


@pytest.fixture(scope="module")
def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_executed_project_file_is_a_dep(stages, stage) -> None:
    listed = {d for d in stages[stage]["deps"] if d.startswith("src/") or d == LOCK}
    assert listed == stage_inputs(stage)
    assert stages[stage]["cmd"] == f"python -m edgetrain.pipeline {stage}"


def test_other_commands_do_not_retrain() -> None:
    """Only the pipeline's command module runs in a stage: serving, registry, doctor... code is no dep."""
    inputs = set().union(*(stage_inputs(stage) for stage in STAGES))
    others = [m for m in COMMAND_MODULES if m not in STAGE_COMMANDS]
    assert others
    for name in others:
        assert str(module_file(name).relative_to(ROOT)) not in inputs


def test_closure_covers_the_poisoning_paths() -> None:
    """The files issue 8's run-cache poisoning went through are inputs of every stage."""
    for stage in STAGES:
        inputs = stage_inputs(stage)
        assert {
            "src/edgetrain/cli.py",
            "src/edgetrain/pipeline/cli.py",
            "src/edgetrain/storage/api_pin.py",
            "src/edgetrain_stackhub.pth",
            "src/edgetrain/__init__.py",
            "uv.lock",
        } <= inputs
        assert f"src/edgetrain/pipeline/{stage}.py" in inputs


def test_closure_follows_a_new_import(tmp_path, monkeypatch) -> None:
    """Adding an import to a stage's code adds the imported file to what the test requires."""
    fake_src = tmp_path / "src"
    for path in SRC.rglob("*.py"):
        target = fake_src / path.relative_to(SRC)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (fake_src / STARTUP_HOOK.name).write_bytes(STARTUP_HOOK.read_bytes())
    globals_ = globals()
    monkeypatch.setitem(globals_, "ROOT", tmp_path)
    monkeypatch.setitem(globals_, "SRC", fake_src)
    monkeypatch.setitem(globals_, "STARTUP_HOOK", fake_src / STARTUP_HOOK.name)
    before = stage_inputs("evaluate")
    assert "src/edgetrain/data/sample.py" not in before
    helper = fake_src / "edgetrain" / "pipeline" / "dataset.py"
    helper.write_text(helper.read_text() + "\n\ndef _later():\n    from edgetrain.data import sample\n")
    added = {"src/edgetrain/data/__init__.py", "src/edgetrain/data/sample.py"}  # the package runs too
    assert stage_inputs("evaluate") - before == added


def test_stage_chain_and_outputs(stages) -> None:
    assert "data" in stages["prepare"]["deps"]
    assert stages["prepare"]["outs"] == ["artifacts/prepared"]
    assert stages["train"]["outs"] == [
        "artifacts/model/model.ubj",
        "artifacts/model/metadata.json",
        {"artifacts/model/run.json": {"cache": False}},  # engine and workers: lineage, not a model input
    ]
    assert "artifacts/prepared" in stages["train"]["deps"]
    assert {"artifacts/model/model.ubj", "artifacts/model/metadata.json"} <= set(stages["evaluate"]["deps"])
    assert stages["evaluate"]["metrics"] == [{"artifacts/metrics.json": {"cache": False}}]
    assert stages["evaluate"]["outs"] == [{"artifacts/plots": {"cache": False}}]
    assert "plots" not in stages["evaluate"]  # rendered by the top-level definitions instead
    assert set(stages["prepare"]["params"]) == {"seed", "task", "data", "split", "partition_rows"}
    assert set(stages["train"]["params"]) == {"seed", "task", "train"}
    # the whole section: evaluate.threshold is absent for multiclass and regression
    assert set(stages["evaluate"]["params"]) == {"task", "train.objective", "evaluate"}


def test_edge_config_is_not_a_dep(stages) -> None:
    """Every stage validates config/edge.yaml, but no output depends on it: editing it re-runs nothing."""
    for stage in STAGES:
        assert "config/edge.yaml" not in stages[stage]["deps"]


PLOTS_BY_TASK = {
    "binary": {"roc", "precision_recall", "confusion", "residuals", "importance"},
    "multiclass": {"roc", "precision_recall", "confusion", "residuals", "importance"},
    "regression": {"confusion", "residuals", "importance"},
}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_plot_definitions_match_what_evaluate_writes(make_project, task) -> None:
    project = make_project(task)
    for stage in STAGES:
        assert project.cli(stage) == 0
    written = {p.stem for p in project.plots.iterdir()}
    assert written == PLOTS_BY_TASK[task]
    definitions = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["plots"]
    by_name = {}
    for entry in definitions:
        ((path, props),) = entry.items()
        assert path.startswith("artifacts/plots/")
        by_name[Path(path).stem] = props
    assert written <= set(by_name)
    for name in written:
        props = by_name[name]
        template = props["template"]
        if "/" in template:
            assert (ROOT / template).is_file()
        rows = json.loads((project.plots / f"{name}.json").read_text())[name]
        assert props["x"] in rows[0]
        assert props["y"] in rows[0]


def test_metrics_and_plots_stay_tracked_by_git() -> None:
    ignore = (ROOT / "artifacts" / ".gitignore").read_text().splitlines()
    assert "/prepared" in ignore
    assert not any(line.startswith(("/metrics", "/plots", "*")) for line in ignore)


def test_committed_dvc_lock_records_the_current_code(stages) -> None:
    """Every dep of dvc.yaml is in the committed dvc.lock, with the md5 the file has now, so a change to stage
    code comes with its regenerated dvc.lock (``make demo``). A stale lock makes ``make demo`` rewrite it in a
    fresh clone, and the release's comparison starts from a lock that no longer matches the code."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    assert {name: sorted(stage["deps"]) for name, stage in stages.items()} == {
        name: sorted(dep["path"] for dep in entry["deps"]) for name, entry in lock.items()
    }, "dvc.lock does not record the deps dvc.yaml lists; run `make demo` and commit dvc.lock"
    stale = [
        f"{stage}: {dep['path']}"
        for stage, entry in lock.items()
        for dep in entry["deps"]
        if (ROOT / dep["path"]).is_file()
        and not dep["path"].startswith("artifacts/")
        and file_md5(ROOT / dep["path"]) != dep["md5"]
    ]
    assert stale == [], "dvc.lock is stale for these deps; run `make demo` and commit dvc.lock"
