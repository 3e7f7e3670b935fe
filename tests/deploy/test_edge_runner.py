"""The edge VM's bootstrap, run for real as far as it runs here: the rendered cloud-init user data is laid
into a temporary root, bootstrap.sh creates the user, installs the (checksum-verified) runner, locks the
secrets down and enables the service there, and the installed copy registers against a loopback GitHub API.
Checked offline as well: `cloud-init schema` on the user data, shellcheck on the script, systemd-analyze on
the unit."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.deploy.conftest import GitHubStandin

from edgetrain.config.edge import load_edge_config

DEPLOY = REPO_ROOT / "deploy" / "edge-runner"
BOOTSTRAP = "usr/local/lib/edgetrain-runner/bootstrap.sh"
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=edgedata;AccountKey=c2VjcmV0LWtleQ==;"
    "EndpointSuffix=local.azurestack.external"
)
IN_CI = os.environ.get("CI") == "true"


def _need(tool: str) -> str:
    found = shutil.which(tool) or (
        str(REPO_ROOT / ".venv" / "bin" / tool) if (REPO_ROOT / ".venv" / "bin" / tool).exists() else None
    )
    if found is None:
        if IN_CI:
            pytest.fail(f"{tool} is not installed (CI installs it in .ci/run)")
        pytest.skip(f"{tool} is not installed")
    return found


def _render(repo_url: str, *extra: str) -> str:
    done = subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "python"),
            str(DEPLOY / "render_user_data.py"),
            "--repo-url",
            repo_url,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.fixture
def secrets(tmp_path: Path, github_api: GitHubStandin) -> list[str]:
    (tmp_path / "token").write_text(github_api.accepted_token + "\n")
    (tmp_path / "conn").write_text(CONN + "\n")
    return [
        "--github-token-file",
        str(tmp_path / "token"),
        "--storage-connection-string-file",
        str(tmp_path / "conn"),
    ]


def test_user_data_passes_cloud_init_schema(tmp_path: Path, secrets: list[str]) -> None:
    cloud_init = _need("cloud-init")
    rendered = tmp_path / "user-data.yaml"
    rendered.write_text(_render("https://github.com/edgetrain-org/edgetrain", *secrets))
    for path in (rendered, DEPLOY / "user-data.example.yaml"):
        done = subprocess.run(
            [cloud_init, "schema", "--config-file", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Valid cloud-config" in done.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(rendered.read_text().replace("permissions: '0600'", "permissions: 600"))
    done = subprocess.run(
        [cloud_init, "schema", "--config-file", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0  # the check can fail


def test_example_user_data_is_the_current_render() -> None:
    assert (DEPLOY / "user-data.example.yaml").read_text() == _render(
        "https://github.com/OWNER/REPO", "--example"
    )


def test_user_data_carries_the_configured_labels_and_locks_secrets(secrets: list[str]) -> None:
    doc = yaml.safe_load(_render("https://github.com/edgetrain-org/edgetrain", *secrets))
    files = {f["path"]: f for f in doc["write_files"]}
    labels = ",".join(load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels)
    assert f"RUNNER_LABELS={labels}\n" in files["/etc/edgetrain/runner.conf"]["content"]
    for secret in ("/etc/edgetrain/github-token", "/etc/edgetrain/storage-connection-string"):
        assert files[secret]["permissions"] == "0600"
        assert files[secret]["owner"] == "root:root"
    assert (
        files["/usr/local/lib/edgetrain-runner/bootstrap.sh"]["content"]
        == (DEPLOY / "bootstrap.sh").read_text()
    )
    assert all(uri["uri"].startswith("https://") for uri in doc["apt"]["primary"])  # outbound HTTPS only


def test_shellcheck_is_clean() -> None:
    done = subprocess.run(
        [_need("shellcheck"), str(DEPLOY / "bootstrap.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def _skeleton(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\n")
    (etc / "os-release").write_text('ID=ubuntu\nVERSION_ID="24.04"\n')
    if Path("/etc/login.defs").exists():
        shutil.copy("/etc/login.defs", etc / "login.defs")


def _apply(root: Path, user_data: str) -> None:
    """Lay the user data's files into ``root`` as cloud-init's write_files would."""
    for entry in yaml.safe_load(user_data)["write_files"]:
        path = root / entry["path"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry["content"])
        path.chmod(int(entry["permissions"], 8))


def _bootstrap(
    root: Path, tarball: tuple[Path, str], *args: str, sha: str | None = None, script: str = BOOTSTRAP
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "EDGETRAIN_ROOT": str(root),
        "EDGETRAIN_RUNNER_URL": tarball[0].as_uri(),
        "EDGETRAIN_RUNNER_SHA256": sha or tarball[1],
    }
    if sha == "pinned":
        del env["EDGETRAIN_RUNNER_SHA256"]
    return subprocess.run(
        ["bash", str(root / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def vm(tmp_path: Path, github_api: GitHubStandin, secrets: list[str]) -> Path:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the bootstrap test needs root (useradd --root, chown)")
        pytest.skip("needs root")
    _need("useradd")
    _need("systemctl")
    root = tmp_path / "vm"
    _skeleton(root)
    _apply(root, _render(f"https://github.com/{github_api.repo}", *secrets))
    with (root / "etc/edgetrain/runner.conf").open("a") as conf:
        conf.write(f"GITHUB_API_URL={github_api.url}\nRUNNER_NAME=edge-test\n")
    return root


def _uid(root: Path) -> int:
    [line] = [
        ln for ln in (root / "etc/passwd").read_text().splitlines() if ln.startswith("edgetrain-runner:")
    ]
    return int(line.split(":")[2])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bootstrap_then_register(
    vm: Path, runner_tarball: tuple[Path, str], github_api: GitHubStandin
) -> None:
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 0, done.stdout + done.stderr
    uid = _uid(vm)
    assert uid != 0
    runner = vm / "opt/edgetrain-runner"
    assert (runner / "run.sh").stat().st_uid == uid
    assert (runner / ".edgetrain-runner-version").read_text().strip() == "2.337.0"
    env_file = runner / ".env"
    assert env_file.stat().st_uid == uid
    assert _mode(env_file) == 0o600
    assert f"AZURE_STORAGE_CONNECTION_STRING={CONN}\n" in env_file.read_text()
    assert not (vm / "etc/edgetrain/storage-connection-string").exists()  # moved, not copied
    token = vm / "etc/edgetrain/github-token"
    assert (token.stat().st_uid, _mode(token)) == (0, 0o600)
    assert _mode(vm / "etc/edgetrain") == 0o700
    wants = vm / "etc/systemd/system/multi-user.target.wants/edgetrain-runner.service"
    assert wants.is_symlink()  # enabled: starts again after a reboot
    assert (vm / "etc/systemd/system/edgetrain-runner.service").read_text() == (
        DEPLOY / "edgetrain-runner.service"
    ).read_text()
    for secret in (CONN, github_api.accepted_token, "c2VjcmV0LWtleQ=="):
        assert secret not in done.stdout + done.stderr

    again = _bootstrap(vm, runner_tarball)  # idempotent
    assert again.returncode == 0, again.stdout + again.stderr
    assert "user edgetrain-runner: exists" in again.stdout
    assert "runner 2.337.0: installed" in again.stdout
    assert "storage connection string: kept" in again.stdout
    assert [ln.split(":")[0] for ln in (vm / "etc/passwd").read_text().splitlines()] == [
        "root",
        "edgetrain-runner",
    ]
    assert env_file.read_text().count("AZURE_STORAGE_CONNECTION_STRING=") == 1

    registered = _bootstrap(vm, runner_tarball, "register", script="usr/local/sbin/edgetrain-runner")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert github_api.calls == [
        (
            "POST",
            f"/repos/{github_api.repo}/actions/runners/registration-token",
            f"Bearer {github_api.accepted_token}",
        )
    ]
    args = (runner / "config.args").read_text().splitlines()
    labels = ",".join(load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels)
    assert "--ephemeral" in args
    assert "--unattended" in args
    assert args[args.index("--labels") + 1] == labels
    assert args[args.index("--token") + 1] == github_api.issued[0]
    assert args[args.index("--url") + 1] == f"https://github.com/{github_api.repo}"
    assert github_api.issued[0] not in registered.stdout + registered.stderr


def test_unit_verifies(vm: Path, runner_tarball: tuple[Path, str], tmp_path: Path) -> None:
    assert _bootstrap(vm, runner_tarball).returncode == 0
    unit = (vm / "etc/systemd/system/edgetrain-runner.service").read_text()
    unit = unit.replace("/usr/local/sbin/", f"{vm}/usr/local/sbin/").replace(
        "/opt/edgetrain-runner", f"{vm}/opt/edgetrain-runner"
    )
    check = tmp_path / "unit" / "edgetrain-runner.service"
    check.parent.mkdir()
    check.write_text(unit)
    done = subprocess.run(
        [_need("systemd-analyze"), "verify", str(check)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout + done.stderr == ""  # no unknown key, no bad value, every command executable


def test_a_tarball_with_another_checksum_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    done = _bootstrap(vm, runner_tarball, sha="pinned")
    assert done.returncode == 1
    assert "checksum mismatch" in done.stderr
    assert "70920811a4f8ad4328818682bca5c6469c1c942fab52448868071d0063816613" in done.stderr
    assert not (vm / "opt/edgetrain-runner/run.sh").exists()


def test_refused_github_credential_is_one_clear_line(
    vm: Path, runner_tarball: tuple[Path, str], github_api: GitHubStandin
) -> None:
    assert _bootstrap(vm, runner_tarball).returncode == 0
    (vm / "etc/edgetrain/github-token").write_text("github_pat_WRONG\n")
    done = _bootstrap(vm, runner_tarball, "register", script="usr/local/sbin/edgetrain-runner")
    assert done.returncode == 1
    assert "could not get a registration token" in done.stderr
    assert "github_pat_WRONG" not in done.stdout + done.stderr
    assert not (vm / "opt/edgetrain-runner/config.args").exists()


def test_wrong_os_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    (vm / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1
    assert "Ubuntu 22.04 or 24.04 expected, found debian 12" in done.stderr
