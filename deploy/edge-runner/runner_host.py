"""The edge VM's root-only runner host: one just-in-time runner, one sandboxed job, then everything is gone.

    runner_host.py run-one [--config /etc/edgetrain/runner.conf]   systemd's edgetrain-runner.service
    runner_host.py check   [--config ...]                          the sandbox's prerequisites, no GitHub call
    runner_host.py exec    [--config ...] -- COMMAND...            COMMAND in a fresh job sandbox (bench)

``run-one`` reads the GitHub credential from a root-only file (a GitHub App's private key, preferred, or a
fine-grained token), asks ``POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig`` for a one-job
runner configuration and starts the runner in a fresh sandbox (job_sandbox.py). The credential is only ever
in this process's memory and in an HTTP header: never in an argv, an environment or a file the job can
reach. The job gets the runner's just-in-time configuration (its own one-job identity) in its environment.

Settings: runner.conf (KEY=VALUE lines, parsed, never executed; bootstrap.sh reads the same file).
Stdlib only: it runs on the VM's python3 (3.10 on Ubuntu 22.04).
"""

from __future__ import annotations

import argparse
import base64
import json
import pwd
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # job_sandbox.py sits next to this file

import job_sandbox  # after the path line above: the VM runs this file with python3 -I

CONF = Path("/etc/edgetrain/runner.conf")
API_VERSION = "2022-11-28"


class HostError(Exception):
    """One line naming what is wrong and the fix."""


@dataclass(frozen=True)
class Settings:
    conf: Path
    repo: str
    api: str
    labels: list[str]
    name: str
    runner_group_id: int
    trusted: bool
    token_file: Path
    app_id: str
    app_installation_id: str
    app_key_file: Path
    box: job_sandbox.Sandbox
    job_timeout: float


def read_conf(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise HostError(f"{path}: cannot read it ({err.strerror}): bootstrap.sh writes it") from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if match:
            values[match[1]] = match[2].strip('"')
    return values


def _user(spec: str, conf: Path) -> tuple[int, int]:
    if re.fullmatch(r"\d+:\d+", spec):
        uid, gid = spec.split(":")
        return int(uid), int(gid)
    try:
        entry = pwd.getpwnam(spec)
    except KeyError:
        raise HostError(f"{conf}: RUNNER_USER {spec} does not exist: run bootstrap.sh") from None
    return entry.pw_uid, entry.pw_gid


def load(conf: Path) -> Settings:
    values = read_conf(conf)

    def get(key: str, default: str | None = None) -> str:
        value = values.get(key) or default
        if value is None:
            raise HostError(f"{conf}: {key} is not set")
        return value

    url = get("GITHUB_REPOSITORY_URL").rstrip("/")
    repo = re.sub(r"^https?://[^/]+/", "", url)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise HostError(f"{conf}: GITHUB_REPOSITORY_URL {url} is not https://<host>/<owner>/<repo>")
    etc = conf.parent
    uid, gid = _user(get("RUNNER_USER", "edgetrain-runner"), conf)
    seed = values.get("CACHE_SEED", "/var/cache/edgetrain/seed")
    box = job_sandbox.Sandbox(
        # bootstrap.sh points the root-owned link "current" at the unpacked image's directory
        rootfs=Path(get("ROOTFS", "/var/lib/edgetrain/rootfs/current")).resolve(),
        runner_dir=Path(get("RUNNER_DIR", "/opt/edgetrain-runner")),
        jobs_dir=Path(get("JOBS_DIR", "/var/lib/edgetrain/jobs")),
        uid=uid,
        gid=gid,
        cache_seed=Path(seed) if seed else None,
        bwrap=get("BWRAP", "bwrap"),
        broker_dir=Path(get("BROKER_DIR", job_sandbox.BROKER_DIR)),
    )
    return Settings(
        conf=conf,
        repo=repo,
        api=get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        labels=[label.strip() for label in get("RUNNER_LABELS").split(",") if label.strip()],
        name=get("RUNNER_NAME", "edgetrain"),
        runner_group_id=int(get("RUNNER_GROUP_ID", "1")),
        trusted=get("RUNNER_POOL", "pull-request") == "trusted",
        token_file=Path(get("GITHUB_TOKEN_FILE", str(etc / "github-token"))),
        app_id=values.get("GITHUB_APP_ID", ""),
        app_installation_id=values.get("GITHUB_APP_INSTALLATION_ID", ""),
        app_key_file=Path(get("GITHUB_APP_KEY_FILE", str(etc / "github-app.pem"))),
        box=box,
        job_timeout=float(get("JOB_TIMEOUT_SECONDS", str(6 * 3600 + 600))),
    )


def _post(url: str, bearer: str, body: dict[str, object] | None, what: str) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310  (the URL is the configured https GitHub API)
        url,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {bearer}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read(1 << 20))
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise HostError(f"GitHub refused {what} (401): it is expired or revoked; replace it") from None
        raise HostError(
            f"GitHub answered {err.code} to {url}: {what} needs repository permission "
            "Administration: read and write on this repository"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise HostError(
            f"cannot reach {url} ({reason}): check GITHUB_API_URL and the egress allowlist (docs/edge-vm.md)"
        ) from None
    if not isinstance(answer, dict):
        raise HostError(f"{url} answered something other than a JSON object")
    return answer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_token(settings: Settings) -> str:
    """An installation token of the GitHub App: a JWT signed by openssl (key path in argv, key never)."""
    if not settings.app_key_file.is_file():
        raise HostError(
            f"{settings.app_key_file} is missing: put the GitHub App's private key there (0600 root)"
        )
    now = int(time.time())
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"iat": now - 60, "exp": now + 540, "iss": settings.app_id}).encode())
    signed = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(settings.app_key_file)],
        input=f"{header}.{claims}".encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if signed.returncode != 0:
        raise HostError(f"{settings.app_key_file}: openssl cannot sign with it (is it the App's PEM key?)")
    jwt = f"{header}.{claims}.{_b64(signed.stdout)}"
    url = f"{settings.api}/app/installations/{settings.app_installation_id}/access_tokens"
    answer = _post(url, jwt, None, f"the GitHub App key in {settings.app_key_file}")
    token = answer.get("token")
    if not isinstance(token, str):
        raise HostError(f"{url} answered without a token")
    return token


def credential(settings: Settings) -> tuple[str, str]:
    """(token, what it is) for the jitconfig call."""
    if settings.app_id:
        return app_token(settings), f"the GitHub App installation token (app {settings.app_id})"
    try:
        token = settings.token_file.read_text(encoding="utf-8").strip()
    except OSError:
        token = ""
    if not token:
        raise HostError(
            f"{settings.token_file} is missing or empty: put a fine-grained token with Administration: "
            f"read and write on {settings.repo} there (0600 root), or set GITHUB_APP_ID in {settings.conf}"
        )
    return token, f"the token in {settings.token_file}"


def jitconfig(settings: Settings) -> tuple[int, str]:
    token, what = credential(settings)
    name = f"{settings.name}-{time.strftime('%Y%m%d%H%M%S')}"
    body: dict[str, object] = {
        "name": name,
        "runner_group_id": settings.runner_group_id,
        "labels": settings.labels,
        "work_folder": "_work",
    }
    url = f"{settings.api}/repos/{settings.repo}/actions/runners/generate-jitconfig"
    answer = _post(url, token, body, what)
    runner = answer.get("runner")
    encoded = answer.get("encoded_jit_config")
    if not isinstance(runner, dict) or not isinstance(encoded, str):
        raise HostError(f"{url} answered without runner/encoded_jit_config")
    return int(runner.get("id", 0)), encoded


def log(message: str) -> None:
    sys.stderr.write(f"edgetrain-runner-host: {message}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=["run-one", "check", "exec"])
    parser.add_argument("--config", type=Path, default=CONF)
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    try:
        settings = load(args.config)
        job_sandbox.check(settings.box)  # before asking GitHub: no registration for a job that cannot run
        if args.command == "check":
            log("sandbox prerequisites: ok")
            return 0
        if args.command == "exec":
            if not rest:
                raise HostError("exec needs a command after --")
            return job_sandbox.run(settings.box, rest, timeout=settings.job_timeout, promote=settings.trusted)
        runner_id, encoded = jitconfig(settings)
        log(f"runner {runner_id} registered just in time (labels {','.join(settings.labels)}); job starts")
        code = job_sandbox.run(
            settings.box,
            [f"{job_sandbox.RUNNER_MOUNT}/run.sh"],
            secret_env={"ACTIONS_RUNNER_INPUT_JITCONFIG": encoded},
            timeout=settings.job_timeout,
            promote=settings.trusted,
        )
        log(f"runner {runner_id} exited {code}; its sandbox is deleted")
        return code
    except (HostError, job_sandbox.SandboxError) as err:
        log(f"error: {err}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
