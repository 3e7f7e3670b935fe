"""The edge VM's bootstrap, run for real as far as it runs here: the rendered cloud-init user data is laid
into a temporary root, bootstrap.sh creates the user, installs the (checksum-verified) runner root-owned,
locks the secrets down and enables the service there; planted symlinks in every path a job could ever write
make no root write outside it. Checked offline as well: `cloud-init schema` on the user data, shellcheck on
the script, systemd-analyze on the unit. The runner host itself is attacked in test_job_sandbox.py."""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.deploy.conftest import GitHubStandin

from edgetrain.broker.client import DEFAULT_SOCKET
from edgetrain.config.edge import load_edge_config

DEPLOY = REPO_ROOT / "deploy" / "edge-runner"
BOOTSTRAP = "usr/local/lib/edgetrain-runner/bootstrap.sh"
IMAGE = "ghcr.io/edgetrain-org/runner-rootfs@sha256:" + "ab" * 32
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=edgedata;AccountKey=c2VjcmV0LWtleQ==;"
    "EndpointSuffix=local.azurestack.external"
)
ACCOUNT_KEY = "c2VjcmV0LWtleQ=="
IN_CI = os.environ.get("CI") == "true"
BROKER_EXEC = "/opt/edgetrain-broker/venv/bin/edgetrain"


def _head() -> str:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()


def _committed(path: str) -> str:
    """The file as the pinned commit (this checkout's HEAD) holds it: what the bootstrap installs."""
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", f"HEAD:{path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


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
    (tmp_path / "key").write_text(ACCOUNT_KEY + "\n")
    return [
        "--github-token-file",
        str(tmp_path / "token"),
        "--storage-account-key-file",
        str(tmp_path / "key"),
        "--rootfs-image",
        IMAGE,
        "--template-commit",
        _head(),
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


def test_custom_data_fits_gzip_compressed_and_cloud_init_unpacks_it(
    tmp_path: Path, secrets: list[str]
) -> None:
    """The VM API takes at most 64 KB of base64 custom data; docs/edge-vm.md passes the user data gzipped."""
    _need("cloud-init")
    app_key = tmp_path / "app.pem"  # a GitHub App key of real size (2048-bit RSA), the larger credential
    subprocess.run(
        ["openssl", "genrsa", "-out", str(app_key), "2048"], capture_output=True, timeout=60, check=True
    )
    app = ["--github-app-id", "1", "--github-app-installation-id", "2", "--github-app-key-file", str(app_key)]
    rendered = _render("https://github.com/edgetrain-org/edgetrain", *secrets[2:], *app).encode()
    packed = gzip.compress(rendered, compresslevel=9)
    assert len(base64.b64encode(packed)) < 65536
    unpack = (
        "import sys, cloudinit.user_data as u\n"
        "[part] = [p for p in u.convert_string(sys.stdin.buffer.read()).walk() if not p.is_multipart()]\n"
        "sys.stdout.buffer.write(part.get_payload(decode=True))\n"
    )
    done = subprocess.run(  # cloud-init's own user-data processing, with the interpreter cloud-init runs on
        [_cloud_init_python(), "-c", unpack], input=packed, capture_output=True, timeout=60, check=True
    )
    assert done.stdout == rendered


def _cloud_init_python() -> str:
    with Path(_need("cloud-init")).open(encoding="utf-8") as script:
        return script.readline().removeprefix("#!").split()[0]


def test_example_user_data_is_the_current_render() -> None:
    assert (DEPLOY / "user-data.example.yaml").read_text() == _render(
        "https://github.com/OWNER/REPO", "--example"
    )


def test_user_data_carries_the_configured_labels_and_locks_secrets(secrets: list[str]) -> None:
    doc = yaml.safe_load(_render("https://github.com/edgetrain-org/edgetrain", *secrets))
    files = {f["path"]: f for f in doc["write_files"]}
    labels = ",".join(load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels)
    assert f"RUNNER_LABELS={labels}\n" in files["/etc/edgetrain/runner.conf"]["content"]
    assert f"ROOTFS_IMAGE={IMAGE}\n" in files["/etc/edgetrain/runner.conf"]["content"]
    for secret in ("/etc/edgetrain/github-token", "/etc/edgetrain/storage-account.key"):
        assert files[secret]["permissions"] == "0600"
        assert files[secret]["owner"] == "root:root"
    assert f"TEMPLATE_COMMIT={_head()}\n" in files["/etc/edgetrain/runner.conf"]["content"]
    names = (
        "bootstrap.sh",
        "runner_host.py",
        "job_sandbox.py",
        "edgetrain-runner.service",
        "edgetrain-broker.service",
    )
    for name in names:
        assert files[f"/usr/local/lib/edgetrain-runner/{name}"]["content"] == (DEPLOY / name).read_text()
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
    nologin = root / "usr/sbin/nologin"
    nologin.parent.mkdir(parents=True)
    nologin.write_text("#!/bin/sh\nexit 1\n")
    nologin.chmod(0o755)
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
        # The broker is fetched from this checkout at its HEAD (on the VM: the repository on GitHub).
        conf.write(
            f"GITHUB_API_URL={github_api.url}\nRUNNER_NAME=edge-test\nTEMPLATE_URL={REPO_ROOT.as_uri()}\n"
        )
    return root


def _uid(root: Path) -> int:
    [line] = [
        ln for ln in (root / "etc/passwd").read_text().splitlines() if ln.startswith("edgetrain-runner:")
    ]
    return int(line.split(":")[2])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _runner_writable(root: Path, uid: int, gid: int) -> list[str]:
    """Directories under ``root`` the runner user could create entries in."""
    found = []
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        if (info.st_uid == uid and mode & 0o200) or (info.st_gid == gid and mode & 0o020) or mode & 0o002:
            found.append(str(path.relative_to(root)))
    return found


def test_bootstrap_installs_everything_root_owned(
    vm: Path, runner_tarball: tuple[Path, str], github_api: GitHubStandin
) -> None:
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 0, done.stdout + done.stderr
    uid = _uid(vm)
    assert uid != 0
    passwd = (vm / "etc/passwd").read_text().splitlines()
    [entry] = [ln for ln in passwd if ln.startswith("edgetrain-runner:")]
    assert entry.split(":")[5:] == ["/nonexistent", "/usr/sbin/nologin"]  # no persistent HOME
    runner = vm / "opt/edgetrain-runner"
    for path in [runner, *runner.rglob("*")]:
        assert path.lstat().st_uid == 0, path
        assert not path.lstat().st_mode & 0o022, path
    assert (runner / ".edgetrain-runner-version").read_text().strip() == "2.337.0"
    assert (runner / "_work").is_dir()
    assert (runner / "_diag").is_dir()
    assert not (runner / ".env").exists()  # no storage key (and nothing else) in the runner's environment
    for name in ("github-token", "storage-account.key"):
        secret = vm / "etc/edgetrain" / name
        assert (secret.stat().st_uid, _mode(secret)) == (0, 0o600)
    assert (vm / "etc/edgetrain/storage-account.key").read_text() == ACCOUNT_KEY + "\n"
    assert _mode(vm / "etc/edgetrain") == 0o700
    assert (_mode(vm / "var/lib/edgetrain/jobs"), (vm / "var/lib/edgetrain/jobs").stat().st_uid) == (0o711, 0)
    assert (vm / "var/cache/edgetrain/seed").stat().st_uid == 0
    wants = vm / "etc/systemd/system/multi-user.target.wants/edgetrain-runner.service"
    assert wants.is_symlink()  # enabled: starts again after a reboot
    assert (vm / "etc/systemd/system/edgetrain-runner.service").read_text() == (
        DEPLOY / "edgetrain-runner.service"
    ).read_text()
    for secret in (CONN, github_api.accepted_token, "c2VjcmV0LWtleQ=="):
        assert secret not in done.stdout + done.stderr
    assert _runner_writable(vm, uid, uid) == []  # root never writes where the runner user can
    _assert_broker_installed(vm)

    again = _bootstrap(vm, runner_tarball)  # idempotent
    assert again.returncode == 0, again.stdout + again.stderr
    assert "user edgetrain-runner: exists" in again.stdout
    assert "runner 2.337.0: installed (root-owned)" in again.stdout
    assert [ln.split(":")[0] for ln in (vm / "etc/passwd").read_text().splitlines()] == [
        "root",
        "edgetrain-runner",
    ]


def _assert_broker_installed(vm: Path) -> None:
    """Policy and config from the pinned commit, root-owned; the broker unit enabled, the runner's after."""
    etc = vm / "etc/edgetrain"
    for name, source in (
        ("broker-policy.yaml", "deploy/edge-runner/broker-policy.yaml"),
        ("edge.yaml", "config/edge.yaml"),
    ):
        path = etc / name
        assert not path.is_symlink()
        assert (path.stat().st_uid, path.stat().st_gid, _mode(path)) == (0, 0, 0o644), name
        assert path.read_text() == _committed(source), name
    assert (etc / "storage-account.key").stat().st_uid == 0
    home = vm / "opt/edgetrain-broker"
    assert (home.stat().st_uid, _mode(home)) == (0, 0o755)
    assert list(home.iterdir()) == []  # the fetched source is gone (the venv is built on a real VM only)
    units = vm / "etc/systemd/system"
    broker = units / "edgetrain-broker.service"
    assert broker.read_text() == (DEPLOY / "edgetrain-broker.service").read_text()
    assert (broker.stat().st_uid, _mode(broker)) == (0, 0o644)
    assert (units / "multi-user.target.wants/edgetrain-broker.service").is_symlink()
    runner = (units / "edgetrain-runner.service").read_text()
    unit = dict(ln.split("=", 1) for ln in runner.splitlines() if "=" in ln and not ln.startswith("#"))
    assert "edgetrain-broker.service" in unit["Wants"].split()
    assert "edgetrain-broker.service" in unit["After"].split()


def test_broker_paths_agree_across_unit_sandbox_and_client() -> None:
    """The socket the broker unit serves, the directory the sandbox binds and the client's default are one."""
    unit = (DEPLOY / "edgetrain-broker.service").read_text()
    [exec_start] = [ln.removeprefix("ExecStart=") for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    argv = exec_start.split()
    assert argv[0] == BROKER_EXEC
    assert 'BROKER_HOME="$ROOT/opt/edgetrain-broker"' in (DEPLOY / "bootstrap.sh").read_text()
    assert 'UV_PROJECT_ENVIRONMENT="$BROKER_HOME/venv"' in (DEPLOY / "bootstrap.sh").read_text()
    opts = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert opts == {
        "--policy": "/etc/edgetrain/broker-policy.yaml",
        "--config": "/etc/edgetrain/edge.yaml",
        "--account-key-file": "/etc/edgetrain/storage-account.key",
        "--socket": str(DEFAULT_SOCKET),
    }
    assert "RuntimeDirectory=edgetrain-broker" in unit.splitlines()
    sandbox = (DEPLOY / "job_sandbox.py").read_text()
    assert f'BROKER_DIR = "{DEFAULT_SOCKET.parent}"' in sandbox
    assert '"EDGETRAIN_BROKER_SOCKET": f"{BROKER_DIR}/broker.sock"' in sandbox


NEW_PATHS = (
    "etc/edgetrain/broker-policy.yaml",
    "etc/edgetrain/edge.yaml",
    "etc/systemd/system/edgetrain-broker.service",
    "opt/edgetrain-broker",
)


@pytest.mark.parametrize("planted", NEW_PATHS)
def test_a_symlink_at_a_broker_path_makes_no_root_write(
    vm: Path, runner_tarball: tuple[Path, str], planted: str
) -> None:
    victim = _victim(vm)
    target = victim
    if planted == "opt/edgetrain-broker":  # a directory: root would build the venv wherever it points
        target = vm / "etc/elsewhere"
        target.mkdir(mode=0o755)
    link = vm / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1, done.stdout
    assert done.stderr.strip().endswith(
        "is a symlink: refusing to write through it"
    ) or done.stderr.strip().endswith("(root does not follow links here)"), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert (victim.read_text(), victim.stat().st_uid, _mode(victim)) == ("original\n", 0, 0o644)
    if target != victim:
        assert list(target.iterdir()) == []


def test_a_template_commit_that_is_not_pinned_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    with (vm / "etc/edgetrain/runner.conf").open("a") as conf:
        conf.write("TEMPLATE_COMMIT=main\n")
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1
    assert "TEMPLATE_COMMIT main is not a full commit id (40 hex)" in done.stderr
    assert not (vm / "etc/edgetrain/broker-policy.yaml").exists()


def test_a_commit_the_remote_does_not_have_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    with (vm / "etc/edgetrain/runner.conf").open("a") as conf:
        conf.write("TEMPLATE_COMMIT=" + "0" * 40 + "\n")
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1
    assert f"cannot fetch commit {'0' * 40} from {REPO_ROOT.as_uri()}" in done.stderr
    assert not (vm / "etc/edgetrain/broker-policy.yaml").exists()
    assert list((vm / "opt/edgetrain-broker").iterdir()) == []  # no fetched source left behind


def _victim(vm: Path) -> Path:
    """A root-owned file outside every job-writable path (on a real VM: /etc/ld.so.preload)."""
    victim = vm / "etc/ld.so.preload"
    victim.write_text("original\n")
    victim.chmod(0o644)
    return victim


def test_planted_symlinks_in_an_old_runner_owned_install_make_no_root_write(
    vm: Path, runner_tarball: tuple[Path, str]
) -> None:
    """The install an older bootstrap left (owned by the runner user, so any job could plant links in it) with
    every file the bootstrap writes there turned into a link to a root-owned file: a re-run writes none."""
    assert _bootstrap(vm, runner_tarball).returncode == 0
    uid = _uid(vm)
    victim = _victim(vm)
    runner = vm / "opt/edgetrain-runner"
    planted = [".env", ".env.new", ".edgetrain-runner-version", "_work", "_diag", "run.sh", "config.sh"]
    for name in planted:
        path = runner / name
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
        path.symlink_to(victim)
    for path in [runner, *runner.rglob("*")]:
        os.lchown(path, uid, uid)  # the old layout: the runner user owned its install
    (runner / "bin/Runner.Listener").write_text("#!/bin/sh\necho tampered\n")
    etc = vm / "etc/edgetrain"
    (etc / "storage-account.key").unlink()
    (etc / "storage-connection-string").write_text(CONN + "\n")  # what older user data wrote
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed in" in done.stdout  # the tampered install was replaced, not kept
    assert victim.read_text() == "original\n"
    assert (victim.stat().st_uid, _mode(victim)) == (0, 0o644)
    assert "tampered" not in (runner / "bin/Runner.Listener").read_text()
    assert not [p for p in runner.rglob("*") if p.is_symlink() or p.lstat().st_uid != 0]
    assert not (runner / ".env").exists()
    assert (etc / "storage-account.key").read_text() == ACCOUNT_KEY + "\n"  # the broker's key file
    assert _mode(etc / "storage-account.key") == 0o600
    assert not (etc / "storage-connection-string").exists()
    assert _runner_writable(vm, uid, uid) == []


def test_a_secret_that_is_a_symlink_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    victim = _victim(vm)
    token = vm / "etc/edgetrain/github-token"
    token.unlink()
    token.symlink_to(victim)
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"edgetrain-runner: error: {token} is a symlink: replace it with the file itself"
    ]
    assert (victim.read_text(), _mode(victim)) == ("original\n", 0o644)


def test_a_rootfs_image_without_digest_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    with (vm / "etc/edgetrain/runner.conf").open("a") as conf:
        conf.write("ROOTFS_IMAGE=ghcr.io/edgetrain-org/runner-rootfs:latest\n")
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1
    assert "ROOTFS_IMAGE ghcr.io/edgetrain-org/runner-rootfs:latest is not pinned by digest" in done.stderr


def test_units_verify(vm: Path, runner_tarball: tuple[Path, str], tmp_path: Path) -> None:
    """Both units together (the runner's Wants=/After= name the broker's), as the bootstrap installed them;
    the broker's ExecStart points at this checkout's venv, the one the VM's venv is built like."""
    assert _bootstrap(vm, runner_tarball).returncode == 0
    check = tmp_path / "unit"
    check.mkdir()
    for name in ("edgetrain-runner.service", "edgetrain-broker.service"):
        unit = (vm / "etc/systemd/system" / name).read_text()
        assert "KillMode=control-group" in unit
        assert "ProtectProc=invisible" in unit
        unit = unit.replace("/usr/local/lib/", f"{vm}/usr/local/lib/")
        unit = unit.replace(BROKER_EXEC, str(REPO_ROOT / ".venv/bin/edgetrain"))
        (check / name).write_text(unit)
    done = subprocess.run(
        [
            _need("systemd-analyze"),
            "verify",
            str(check / "edgetrain-runner.service"),
            str(check / "edgetrain-broker.service"),
        ],
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


def test_wrong_os_is_refused(vm: Path, runner_tarball: tuple[Path, str]) -> None:
    (vm / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    done = _bootstrap(vm, runner_tarball)
    assert done.returncode == 1
    assert "Ubuntu 22.04 or 24.04 expected, found debian 12" in done.stderr
