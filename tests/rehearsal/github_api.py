"""A loopback stand-in of the GitHub REST API calls the workflows make, backed by a real bare git repository.

It answers what ``actions/github-script`` and ``peter-evans/create-pull-request`` call in this project's
workflows and records every request in :attr:`GitHubAPI.calls`:

- issue comments: list, create, update (the sticky pull-request comment);
- repository contents: read a file at a ref, and write one, which makes a real commit on the branch of
  the bare repository (so a test can ``git clone`` it and see what the workflow committed);
- commit statuses, pull requests (list and create, for workflows that open them);
- the Actions OIDC token endpoint (``ACTIONS_ID_TOKEN_REQUEST_URL``) and an Entra-style token endpoint that
  exchanges such an ID token for an access token (what ``azure/login`` does with a federated credential).

Unknown routes answer ``404`` JSON; bad JSON ``400``; a wrong token ``401``. Only 127.0.0.1.

Per-job tokens: act gives every job one ``GITHUB_TOKEN``, GitHub gives each job its own, scoped to the job's
``permissions:``. The stand-in recovers the job behind every REST request from the kernel
(:func:`tests.rehearsal.caller.calling_job`: the step process holding the client socket, its
``GITHUB_JOB``) and checks the route against that job's permissions in the workflow file of the current run
(:meth:`GitHubAPI.start_run`, which :meth:`tests.rehearsal.act.Rehearsal.run` calls; rules in
:mod:`tests.rehearsal.permissions`): ``403`` JSON when the job lacks them, when no run is in progress, or
when the caller cannot be identified (fail closed). A fork pull request's token is read-only.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.rehearsal.caller import calling_job
from tests.rehearsal.permissions import job_permissions, load_workflow, refusal

BOT_LOGIN = "github-actions[bot]"
MAX_BODY = 4 * 1024 * 1024
OIDC_AUDIENCE_AZURE = "api://AzureADTokenExchange"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str
    status: int = 0
    #: The workflow (its name) and job (its id) the request came from, "" if it could not be identified.
    workflow: str = ""
    job: str = ""


@dataclass
class State:
    owner: str
    repo: str
    git_dir: Path
    token: str
    id_request_token: str
    calls: list[Call] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)
    pulls: list[dict] = field(default_factory=list)
    id_tokens: list[dict] = field(default_factory=list)
    access_tokens: dict[str, dict] = field(default_factory=dict)
    #: The registry's password, handed out for an Azure access token (ACR's token exchange; ``None``: off).
    acr_password: str | None = None
    oidc: Any = None  # tests.rehearsal.oidc.OidcStandin: the token issuer and the run in progress
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The run in progress: its workflow (parsed file), name, and whether its event is a fork pull request.
    run: RunContext | None = None
    #: Finished runs' artifact folders (run id -> folder holding one sub-folder per artifact).
    artifact_runs: dict[int, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    workflow: dict[str, Any]
    name: str
    fork: bool


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _git(state: State, *args: str, env: dict[str, str] | None = None, data: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(state.git_dir), *args],
        input=data,
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise _Error(422, f"git {args[0]}: {done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout.decode().strip()


def _blob_sha(state: State, ref: str, path: str) -> str | None:
    done = subprocess.run(
        ["git", "--git-dir", str(state.git_dir), "rev-parse", "--verify", "--quiet", f"{ref}:{path}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.stdout.strip() if done.returncode == 0 else None


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def state(self) -> State:
        return self.server.state

    def _send(self, status: int, payload: Any) -> None:
        binary = isinstance(payload, bytes)
        body = payload if binary else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/zip" if binary else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _Error(400, "bad Content-Length") from None
        if length > MAX_BODY:
            raise _Error(413, "request body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        try:
            return json.loads(raw)
        except ValueError:
            raise _Error(400, "body is not JSON") from None

    def _handle(self) -> None:
        url = urlsplit(self.path)
        call = Call(
            self.command, unquote(url.path), parse_qs(url.query), None, self.headers.get("Authorization", "")
        )
        try:
            call.body = self._body()
            status, payload = self._route(call)
        except _Error as err:
            status, payload = err.status, {"message": str(err)}
        call.status = status
        with self.state.lock:
            self.state.calls.append(call)
        self._send(status, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

    # -- routing ------------------------------------------------------------------------------
    def _route(self, call: Call) -> tuple[int, Any]:
        if call.path == "/_oidc/token":
            return self._oidc(call)
        if call.path == "/_oidc/.well-known/jwks":
            return 200, self.state.oidc.issuer.jwks
        entra = re.fullmatch(r"/_entra/(?P<tenant>[^/]+)/oauth2/v2\.0/token", call.path)
        if entra:
            return self._entra(call, entra["tenant"])
        if call.path == "/_acr/exchange":
            return self._acr_exchange(call)
        if call.authorization.split(" ")[-1] != self.state.token:
            raise _Error(401, "Bad credentials")
        prefix = f"/repos/{self.state.owner}/{self.state.repo}"
        if not call.path.startswith(prefix):
            raise _Error(404, f"Not Found: {call.path}")
        rest = call.path[len(prefix) :]
        routes = (
            (r"/issues/(?P<n>\d+)/comments", self._issue_comments),
            (r"/issues/comments/(?P<id>\d+)", self._comment),
            (r"/contents/(?P<path>.+)", self._contents),
            (r"/statuses/(?P<sha>[0-9a-f]{40})", self._status),
            (r"/pulls", self._pulls),
            (r"/git/ref/heads/(?P<branch>.+)", self._ref),
            (r"/git/refs/heads/(?P<branch>.+)", self._update_ref),
            (r"/git/commits/(?P<sha>[0-9a-f]{40})", self._get_commit),
            (r"/git/commits", self._create_commit),
            (r"/git/trees", self._create_tree),
            (r"/git/blobs", self._create_blob),
            (r"/actions/runs/(?P<run>\d+)/artifacts", self._run_artifacts),
            (r"/actions/artifacts/(?P<artifact>\d+)/zip", self._artifact_zip),
        )
        for pattern, handler in routes:
            match = re.fullmatch(pattern, rest)
            if match:
                self._authorize(call, rest)
                return handler(call, **match.groupdict())
        raise _Error(404, f"Not Found: {self.command} {call.path}")

    def _authorize(self, call: Call, rest: str) -> None:
        """403 unless the calling job's token holds the permission the route needs (fail closed)."""
        run = self.state.run
        if run is None:
            raise _Error(403, "no workflow run in progress: no job token is valid")
        caller = calling_job(self.client_address[1], self.server.server_address[1])
        if caller is None:
            raise _Error(403, "the calling job could not be identified: refused")
        call.workflow, call.job = run.name, caller.job
        if caller.workflow and caller.workflow != run.name:
            raise _Error(403, f"token of workflow {caller.workflow!r}, not of the run in progress")
        if caller.job not in run.workflow["jobs"]:
            raise _Error(403, f"no job {caller.job!r} in workflow {run.name!r}: refused")
        why = refusal(job_permissions(run.workflow, caller.job, fork=run.fork), call.method, rest)
        if why is not None:
            raise _Error(403, f"{why} [job {caller.job}]")

    def _issue_comments(self, call: Call, n: str) -> tuple[int, Any]:
        st = self.state
        if call.method == "GET":
            return 200, [c for c in st.comments if c["issue_number"] == int(n)]
        if call.method == "POST":
            body = _text(call.body, "body")
            with st.lock:
                comment = {
                    "id": 1000 + len(st.comments),
                    "issue_number": int(n),
                    "body": body,
                    "user": {"login": BOT_LOGIN, "type": "Bot"},
                    "updates": 0,
                }
                st.comments.append(comment)
            return 201, comment
        raise _Error(405, "method not allowed")

    def _comment(self, call: Call, id: str) -> tuple[int, Any]:
        if call.method != "PATCH":
            raise _Error(405, "method not allowed")
        body = _text(call.body, "body")
        with self.state.lock:
            for comment in self.state.comments:
                if comment["id"] == int(id):
                    comment["body"] = body
                    comment["updates"] += 1
                    return 200, comment
        raise _Error(404, f"no comment {id}")

    def _contents(self, call: Call, path: str) -> tuple[int, Any]:
        st = self.state
        if call.method == "GET":
            ref = (call.query.get("ref") or ["main"])[0]
            sha = _blob_sha(st, ref, path)
            if sha is None:
                raise _Error(404, f"{path} not found at {ref}")
            data = subprocess.run(
                ["git", "--git-dir", str(st.git_dir), "cat-file", "blob", sha],
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout
            return 200, {
                "type": "file",
                "path": path,
                "sha": sha,
                "encoding": "base64",
                "content": base64.b64encode(data).decode(),
            }
        if call.method == "PUT":
            return self._put_contents(call, path)
        raise _Error(405, "method not allowed")

    def _put_contents(self, call: Call, path: str) -> tuple[int, Any]:
        st = self.state
        branch = _text(call.body, "branch")
        message = _text(call.body, "message")
        try:
            data = base64.b64decode(_text(call.body, "content"), validate=True)
        except ValueError:
            raise _Error(400, "content is not base64") from None
        with st.lock:
            parent = _git(st, "rev-parse", "--verify", f"refs/heads/{branch}")
            current = _blob_sha(st, parent, path)
            if current is not None and call.body.get("sha") != current:
                raise _Error(409, f"{path} does not match {call.body.get('sha')}")
            blob = _git(st, "hash-object", "-w", "--stdin", data=data)
            index = {"GIT_INDEX_FILE": str(st.git_dir / f"standin-index-{secrets.token_hex(4)}")}
            try:
                _git(st, "read-tree", parent, env=index)
                _git(st, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
                tree = _git(st, "write-tree", env=index)
            finally:
                Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
            who = {
                "GIT_AUTHOR_NAME": BOT_LOGIN,
                "GIT_AUTHOR_EMAIL": "41898282+github-actions[bot]@users.noreply.github.com",
                "GIT_COMMITTER_NAME": "GitHub",
                "GIT_COMMITTER_EMAIL": "noreply@github.com",
            }
            commit = _git(st, "commit-tree", tree, "-p", parent, "-m", message, env=who)
            _git(st, "update-ref", f"refs/heads/{branch}", commit, parent)
        return 200 if current else 201, {"content": {"path": path, "sha": blob}, "commit": {"sha": commit}}

    def _status(self, call: Call, sha: str) -> tuple[int, Any]:
        if call.method != "POST":
            raise _Error(405, "method not allowed")
        state = _text(call.body, "state")
        if state not in {"error", "failure", "pending", "success"}:
            raise _Error(422, f"state: {state!r} is not one of error, failure, pending, success")
        record = {"sha": sha, "state": state, "context": call.body.get("context", "default")}
        record["description"] = call.body.get("description", "")
        with self.state.lock:
            self.state.statuses.append(record)
        return 201, record

    def _pulls(self, call: Call) -> tuple[int, Any]:
        st = self.state
        if call.method == "GET":
            head = (call.query.get("head") or [""])[0].split(":")[-1]
            return 200, [p for p in st.pulls if not head or p["head"]["ref"] == head]
        if call.method == "POST":
            head, base = _text(call.body, "head").split(":")[-1], _text(call.body, "base")
            with st.lock:
                number = 100 + len(st.pulls)
                pull = {
                    "number": number,
                    "html_url": f"https://github.invalid/{st.owner}/{st.repo}/pull/{number}",
                    "title": _text(call.body, "title"),
                    "body": call.body.get("body", ""),
                    "head": {"ref": head, "sha": _git(st, "rev-parse", f"refs/heads/{head}")},
                    "base": {"ref": base},
                    "state": "open",
                }
                st.pulls.append(pull)
            return 201, pull
        raise _Error(405, "method not allowed")

    def _ref(self, call: Call, branch: str) -> tuple[int, Any]:
        if call.method != "GET":
            raise _Error(405, "method not allowed")
        sha = _git(self.state, "rev-parse", "--verify", f"refs/heads/{branch}")
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": sha, "type": "commit"}}

    # -- artifacts of earlier runs (what actions/download-artifact with run-id calls) ----------------
    def _artifacts(self, run: int) -> list[tuple[int, Path]]:
        folder = self.state.artifact_runs.get(run)
        if folder is None:
            raise _Error(404, f"no workflow run {run}")
        return [(run * 1000 + i, d) for i, d in enumerate(sorted(folder.iterdir())) if d.is_dir()]

    def _run_artifacts(self, call: Call, run: str) -> tuple[int, Any]:
        found = [{"id": i, "name": d.name} for i, d in self._artifacts(int(run))]
        return 200, {"total_count": len(found), "artifacts": found}

    def _artifact_zip(self, call: Call, artifact: str) -> tuple[int, Any]:
        run, _ = divmod(int(artifact), 1000)
        folder = next((d for i, d in self._artifacts(run) if i == int(artifact)), None)
        if folder is None:
            raise _Error(404, f"no artifact {artifact}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.write(path, path.relative_to(folder).as_posix())
        if buffer.tell() > MAX_BODY * 16:
            raise _Error(413, "artifact too large for the stand-in")
        return 200, buffer.getvalue()

    # -- git data API (one commit of several files) ------------------------------------------------
    def _get_commit(self, call: Call, sha: str) -> tuple[int, Any]:
        if call.method != "GET":
            raise _Error(405, "method not allowed")
        tree = _git(self.state, "rev-parse", f"{sha}^{{tree}}")
        return 200, {"sha": sha, "tree": {"sha": tree}}

    def _create_blob(self, call: Call) -> tuple[int, Any]:
        if call.method != "POST" or call.body.get("encoding") != "base64":
            raise _Error(422, "POST a base64 blob")
        try:
            data = base64.b64decode(_text(call.body, "content"), validate=True)
        except ValueError:
            raise _Error(400, "content is not base64") from None
        return 201, {"sha": _git(self.state, "hash-object", "-w", "--stdin", data=data)}

    def _create_tree(self, call: Call) -> tuple[int, Any]:
        st = self.state
        base, entries = call.body.get("base_tree"), call.body.get("tree")
        if call.method != "POST" or not isinstance(entries, list):
            raise _Error(422, "tree: a list of entries is required")
        index = {"GIT_INDEX_FILE": str(st.git_dir / f"standin-index-{secrets.token_hex(4)}")}
        try:
            _git(st, "read-tree", *([base] if base else ["--empty"]), env=index)
            for entry in entries:
                if entry.get("mode") != "100644" or entry.get("type") != "blob" or not entry.get("sha"):
                    raise _Error(422, "tree entries: mode 100644 blobs with a sha only")
                _git(
                    st,
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    f"100644,{entry['sha']},{entry['path']}",
                    env=index,
                )
            tree = _git(st, "write-tree", env=index)
        finally:
            Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
        return 201, {"sha": tree}

    def _create_commit(self, call: Call) -> tuple[int, Any]:
        parents = call.body.get("parents") or []
        args = ["commit-tree", _text(call.body, "tree"), *(a for p in parents for a in ("-p", p))]
        who = {
            "GIT_AUTHOR_NAME": BOT_LOGIN,
            "GIT_AUTHOR_EMAIL": "41898282+github-actions[bot]@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        commit = _git(self.state, *args, "-m", _text(call.body, "message"), env=who)
        return 201, {"sha": commit}

    def _update_ref(self, call: Call, branch: str) -> tuple[int, Any]:
        st = self.state
        if call.method != "PATCH":
            raise _Error(405, "method not allowed")
        sha = _text(call.body, "sha")
        with st.lock:
            current = _git(st, "rev-parse", "--verify", f"refs/heads/{branch}")
            ancestor = subprocess.run(
                ["git", "--git-dir", str(st.git_dir), "merge-base", "--is-ancestor", current, sha],
                capture_output=True, check=False, timeout=60,
            ).returncode == 0  # fmt: skip
            if not ancestor and not call.body.get("force"):
                raise _Error(422, "Update is not a fast forward")
            _git(st, "update-ref", f"refs/heads/{branch}", sha, current)
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": sha, "type": "commit"}}

    # -- identity -----------------------------------------------------------------------------
    def _oidc(self, call: Call) -> tuple[int, Any]:
        """GitHub's ID-token endpoint: an RS256 token with the calling job's claims (tests/rehearsal/oidc.py);
        403 for a job that does not declare ``id-token: write`` or cannot be identified, as on GitHub."""
        from tests.rehearsal.caller import calling_job

        if call.authorization != f"Bearer {self.state.id_request_token}":
            raise _Error(401, "bad ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        audience = (call.query.get("audience") or [""])[0]
        caller = calling_job(self.client_address[1], self.server.server_address[1])
        status, claims = self.state.oidc.claims_for(caller.job if caller else None, audience)
        if status != 200:
            raise _Error(status, claims["message"])
        token = self.state.oidc.issuer.token(claims)
        with self.state.lock:
            self.state.id_tokens.append({"token": token, **claims})
        return 200, {"value": token}

    def _entra(self, call: Call, tenant: str) -> tuple[int, Any]:
        body = call.body or {}
        if body.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise _Error(400, "client_assertion_type must be jwt-bearer (federated credential)")
        if "client_secret" in body:
            raise _Error(400, "client secrets are refused: federated credentials only")
        issued = {t["token"]: t for t in self.state.id_tokens}
        claims = issued.get(body.get("client_assertion", ""))
        if claims is None or claims["aud"] != OIDC_AUDIENCE_AZURE or claims["exp"] < time.time():
            raise _Error(401, "AADSTS700024: client assertion is not a valid GitHub OIDC token")
        access = f"standin-{secrets.token_hex(12)}"
        with self.state.lock:
            self.state.access_tokens[access] = {
                "tenant": tenant,
                "client_id": body.get("client_id"),
                "sub": claims["sub"],
                "scope": body.get("scope"),
            }
        return 200, {"token_type": "Bearer", "expires_in": 3600, "access_token": access}

    def _acr_exchange(self, call: Call) -> tuple[int, Any]:
        """ACR's ``/oauth2/exchange``: an Azure access token from the OIDC login buys the registry login."""
        body = call.body or {}
        if self.state.acr_password is None:
            raise _Error(404, "no registry behind this stand-in")
        if (
            body.get("grant_type") != "access_token"
            or body.get("access_token") not in self.state.access_tokens
        ):
            raise _Error(401, "the access token was not issued by this tenant's token endpoint")
        return 200, {"refresh_token": self.state.acr_password}


def _text(body: Any, key: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        raise _Error(422, f"{key}: a string is required")
    return body[key]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: State) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state


class GitHubAPI:
    """``with GitHubAPI("owner", "repo", bare_git_dir) as api:`` then ``api.url``, ``api.token``."""

    def __init__(self, owner: str, repo: str, git_dir: Path) -> None:
        from tests.rehearsal.oidc import OidcStandin

        self.state = State(owner, repo, git_dir, secrets.token_hex(16), secrets.token_hex(16))
        self.state.oidc = OidcStandin(f"{owner}/{repo}")

    def __enter__(self) -> GitHubAPI:
        self._server = _Server(self.state)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def calls(self) -> list[Call]:
        return self.state.calls

    def start_run(self, workflow: Path, event_name: str, event: dict[str, Any]) -> None:
        """Scope the job tokens to ``workflow`` (the file of the run about to start) and its event."""
        flow = load_workflow(workflow)
        pull = event.get("pull_request") or {}
        head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
        fork = event_name == "pull_request" and head != f"{self.state.owner}/{self.state.repo}"
        with self.state.lock:
            self.state.run = RunContext(flow, str(flow.get("name") or workflow.name), fork)

    def record_artifacts(self, run_id: int, folder: Path) -> None:
        """Serve ``folder``'s artifacts as those of workflow run ``run_id`` (download-artifact ``run-id``)."""
        with self.state.lock:
            self.state.artifact_runs[run_id] = folder

    def end_run(self) -> None:
        with self.state.lock:
            self.state.run = None

    def oidc_env(self) -> dict[str, str]:
        """What GitHub gives a job with ``id-token: write``."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/_oidc/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.state.id_request_token,
        }
