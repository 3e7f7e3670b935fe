"""Attacks on the edge runner host's per-job sandbox, run for real: runner_host.py asks a loopback GitHub API
for a just-in-time runner configuration and starts the "runner" (a shell script in its place) in bubblewrap
as an unprivileged uid. Each job below does what a pull request's code could do; the next job and the host
must see none of it."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.deploy.conftest import GitHubStandin
from tests.deploy.sandbox_helpers import JOB_UID, Host, job_processes, make_host


@pytest.fixture
def host(github_api: GitHubStandin) -> Iterator[Host]:
    with make_host(github_api.url, github_api.repo, github_api.accepted_token) as made:
        yield made


# Every path a job could hope to write that a later job would read: HOME and the dot-files tools read from
# it, the runner's own directory and its work/log folders, every cache path (by the variables tools read and
# by the runner's defaults), /tmp, /var/tmp, /run, /dev/shm and the root itself.
TARGETS = """
$HOME/planted $HOME/.gitconfig $HOME/.config/dvc/config $HOME/.cache/planted
/tmp/planted /var/tmp/planted /run/planted /dev/shm/planted /planted /etc/planted /usr/planted
/opt/edgetrain-runner/planted /opt/edgetrain-runner/.env /opt/edgetrain-runner/_work/planted
/opt/edgetrain-runner/_diag/planted
$UV_CACHE_DIR/planted $PIP_CACHE_DIR/planted $DVC_SITE_CACHE_DIR/planted $RUNNER_TOOL_CACHE/planted
$XDG_CACHE_HOME/planted /cache/uv/planted /opt/hostedtoolcache/planted
"""

PERSIST = f"""#!/bin/sh
for p in {" ".join(TARGETS.split())}; do
  [ -e "$p" ] && echo "LEFT-BY-EARLIER-JOB $p"
done
pgrep -f 'sleep 3617' > /dev/null && echo "LEFT-BY-EARLIER-JOB a process"
for p in {" ".join(TARGETS.split())}; do
  mkdir -p "$(dirname "$p")" 2>/dev/null
  echo 'BASH_ENV=/tmp/evil' > "$p" 2>/dev/null && echo "WROTE $p"
done
echo 'echo TAMPERED' >> /opt/edgetrain-runner/run.sh 2>/dev/null && echo "WROTE run.sh"
# A background process that outlives the job: double-forked, in its own session.
( setsid sh -c 'exec sleep 3617' > /dev/null 2>&1 & ) &
sleep 0.2
echo "JOB-DONE"
"""


def test_a_job_leaves_nothing_for_the_next(host: Host, github_api: GitHubStandin) -> None:
    host.job(PERSIST)
    script = (host.runner / "run.sh").read_text()
    first = host.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "JOB-DONE" in first.stdout
    wrote = {line.split(" ", 1)[1] for line in first.stdout.splitlines() if line.startswith("WROTE ")}
    # The job could write where a job must work (so the attack really ran) ...
    work = "/opt/edgetrain-runner/_work/planted"
    for path in ("/tmp/planted", "/var/tmp/planted", work, "/cache/uv/planted", "/home/runner/.gitconfig"):
        assert path in wrote
    assert "/opt/hostedtoolcache/planted" in wrote
    # ... but not into the runner install, the root, /etc or /usr.
    for path in ("run.sh", "/opt/edgetrain-runner/.env", "/opt/edgetrain-runner/planted", "/planted"):
        assert path not in wrote
    assert not wrote & {"/etc/planted", "/usr/planted"}
    assert (host.runner / "run.sh").read_text() == script
    assert not (host.runner / ".env").exists()
    assert job_processes() == []  # the setsid'ed sleep died with the job
    assert list(host.jobs.iterdir()) == []  # the per-job state is deleted

    second = host.run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "LEFT-BY-EARLIER-JOB" not in second.stdout
    assert "JOB-DONE" in second.stdout
    assert job_processes() == []
    assert list(host.jobs.iterdir()) == []
    assert len(github_api.issued) == 2  # one just-in-time runner per job


CREDENTIAL_HUNT = """#!/bin/sh
# The registration credential, spelled backwards here so that this script itself does not hold it.
secret=$(printf '%s' '{reversed}' | rev)
for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
  tr '\\0' '\\n' < "$f" 2>/dev/null | grep -qF "$secret" && echo "FOUND-IN $f"
done
env | grep -qF "$secret" && echo "FOUND-IN env"
for top in / /etc /opt /home /tmp /var /run /cache /dev/shm; do
  grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr "$secret" "$top" | sed 's/^/FOUND-IN /'
done
[ -n "$ACTIONS_RUNNER_INPUT_JITCONFIG" ] && echo "HAS-JITCONFIG"
echo "HUNT-DONE"
"""


def test_the_registration_credential_is_never_visible_to_the_job(
    host: Host, github_api: GitHubStandin
) -> None:
    host.job(CREDENTIAL_HUNT.format(reversed=github_api.accepted_token[::-1]))
    done = host.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HUNT-DONE" in done.stdout
    assert "HAS-JITCONFIG" in done.stdout  # the job's own one-job identity reaches the runner ...
    assert "FOUND-IN" not in done.stdout  # ... the credential that mints them does not
    assert github_api.calls[0][2] == f"Bearer {github_api.accepted_token}"  # it was used, as a header
    assert github_api.accepted_token not in done.stdout + done.stderr


def test_the_hunt_finds_a_credential_where_a_job_can_read_it(host: Host, github_api: GitHubStandin) -> None:
    """The hunt above can fail: a credential in the runner's directory (as the old .env was) is found."""
    host.job(CREDENTIAL_HUNT.format(reversed=github_api.accepted_token[::-1]))
    (host.runner / ".env").write_text(f"LEAK={github_api.accepted_token}\n")
    done = host.run()
    assert "FOUND-IN /opt/edgetrain-runner/.env" in done.stdout


SEED_ATTACK = """#!/bin/sh
cat /cache/uv/wheel.txt
echo poisoned >> /cache/uv/wheel.txt 2>/dev/null && echo "EDITED-IN-PLACE"
rm -f /cache/uv/wheel.txt && echo poisoned > /cache/uv/wheel.txt && echo "REPLACED-OWN-COPY"
echo new > /cache/uv/new-entry.txt
echo pid > /cache/uv/.lock && echo "LOCKED"
echo x > /cache/uv/sdists/.git && echo "MARKED"
"""


def _seed(host: Host) -> Path:
    wheel = host.seed / "uv" / "wheel.txt"
    wheel.parent.mkdir(parents=True)
    wheel.write_text("reviewed\n")
    wheel.chmod(0o644)  # as promote_caches leaves it: root's, writable by root only
    (wheel.parent / ".lock").write_text("")  # as uv leaves it
    (wheel.parent / ".lock").chmod(0o444)
    (wheel.parent / "sdists").mkdir()
    (wheel.parent / "sdists" / ".git").write_text("")  # uv writes these when it opens its cache
    (wheel.parent / "sdists" / ".git").chmod(0o444)
    return wheel


def test_a_pull_request_job_cannot_poison_the_shared_cache(host: Host) -> None:
    wheel = _seed(host)
    host.job(SEED_ATTACK)
    done = host.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reviewed" in done.stdout  # the warm cache reached the job
    assert "EDITED-IN-PLACE" not in done.stdout
    assert "REPLACED-OWN-COPY" in done.stdout  # its own copy only
    assert "LOCKED" in done.stdout  # a tool can still lock and mark its cache
    assert "MARKED" in done.stdout
    assert wheel.read_text() == "reviewed\n"
    assert (wheel.parent / "sdists" / ".git").read_text() == ""
    assert sorted(p.name for p in wheel.parent.iterdir()) == [".lock", "sdists", "wheel.txt"]


def test_a_trusted_pool_job_refreshes_the_shared_cache_root_owned(host: Host) -> None:
    wheel = _seed(host)
    host.set(RUNNER_POOL="trusted")
    host.job(SEED_ATTACK)
    assert host.run().returncode == 0
    assert (wheel.parent / "new-entry.txt").read_text() == "new\n"
    for path in [wheel.parent, *wheel.parent.iterdir()]:
        info = path.lstat()
        assert info.st_uid == 0
        assert not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    assert JOB_UID not in {p.lstat().st_uid for p in host.seed.rglob("*")}


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("edgetrain-runner-host: error: ")
    return lines[0]


def test_missing_credential_is_one_line_and_no_job(host: Host, github_api: GitHubStandin) -> None:
    host.job("#!/bin/sh\necho JOB-RAN\n")
    host.token_file.unlink()
    done = host.run()
    line = _one_error_line(done)
    assert f"{host.token_file} is missing or empty" in line
    assert "Administration: read and write" in line
    assert "JOB-RAN" not in done.stdout
    assert github_api.calls == []


def test_expired_credential_is_one_line_and_no_job(host: Host, github_api: GitHubStandin) -> None:
    host.job("#!/bin/sh\necho JOB-RAN\n")
    host.token_file.write_text("github_pat_EXPIRED\n")
    done = host.run()
    line = _one_error_line(done)
    assert "GitHub refused the token in" in line
    assert "expired or revoked; replace it" in line
    assert "github_pat_EXPIRED" not in done.stdout + done.stderr
    assert "JOB-RAN" not in done.stdout
    assert [call[2] for call in github_api.calls] == ["Bearer github_pat_EXPIRED"]
    assert not host.jobs.exists() or list(host.jobs.iterdir()) == []


def test_unreachable_github_api_is_one_line(host: Host) -> None:
    host.job("#!/bin/sh\necho JOB-RAN\n")
    host.set(GITHUB_API_URL="http://127.0.0.1:9")  # discard port: nothing listens
    done = host.run()
    line = _one_error_line(done)
    assert "cannot reach http://127.0.0.1:9/repos/" in line
    assert "check GITHUB_API_URL" in line
    assert "JOB-RAN" not in done.stdout


def test_missing_rootfs_is_one_line_before_any_registration(host: Host, github_api: GitHubStandin) -> None:
    host.job("#!/bin/sh\necho JOB-RAN\n")
    host.set(ROOTFS=str(host.base / "rootfs-missing"))
    done = host.run()
    line = _one_error_line(done)
    assert f"rootfs {host.base / 'rootfs-missing'} is missing: run bootstrap.sh" in line
    assert github_api.calls == []  # no runner registered for a job that cannot start


def test_a_rootfs_the_job_user_could_write_is_refused(host: Host, github_api: GitHubStandin) -> None:
    rootfs = host.base / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (rootfs / "usr" / "bin" / "sh").symlink_to("/bin/sh")
    rootfs.chmod(0o777)
    host.set(ROOTFS=str(rootfs))
    line = _one_error_line(host.run())
    assert "must be owned by root and writable by root only" in line
    assert github_api.calls == []


def _app_key(host: Host, github_api: GitHubStandin) -> Path:
    key = host.base / "etc" / "edgetrain" / "github-app.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    key.chmod(0o600)
    github_api.app_public_pem = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True, check=True, timeout=60
    ).stdout
    host.token_file.unlink()  # the App alone
    host.set(GITHUB_APP_ID=github_api.app_id, GITHUB_APP_INSTALLATION_ID=github_api.installation_id)
    return key


def test_a_github_app_key_mints_the_runner_and_stays_out_of_the_job(
    host: Host, github_api: GitHubStandin
) -> None:
    key = _app_key(host, github_api)
    hunt = CREDENTIAL_HUNT.format(reversed="ghs_INSTALLATION0000"[::-1])
    host.job(
        hunt.replace(
            'echo "HUNT-DONE"',
            'grep -rlsF "PRIVATE"" KEY" / --exclude-dir=proc --exclude-dir=sys '
            '--exclude-dir=usr | sed "s/^/FOUND-IN /"\necho "HUNT-DONE"',
        )
    )
    done = host.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert github_api.installation_tokens == ["ghs_INSTALLATION0000"]
    assert github_api.calls[-1][2] == "Bearer ghs_INSTALLATION0000"  # the jitconfig call used it
    assert "HAS-JITCONFIG" in done.stdout
    assert "HUNT-DONE" in done.stdout
    assert "FOUND-IN" not in done.stdout  # neither the installation token nor the App's key
    assert key.read_text().split("\n", 1)[1][:40] not in done.stdout + done.stderr


def test_a_wrong_github_app_key_is_one_line(host: Host, github_api: GitHubStandin) -> None:
    _app_key(host, github_api)
    github_api.app_public_pem = subprocess.run(  # GitHub knows another key than the one on the VM
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl pkey -pubout",
        shell=True,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    host.job("#!/bin/sh\necho JOB-RAN\n")
    line = _one_error_line(host.run())
    assert "GitHub refused the GitHub App key in" in line
    assert "expired or revoked; replace it" in line


BROKER_CALL = """#!/bin/sh
python3 - <<'PY'
import os, socket
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["EDGETRAIN_BROKER_SOCKET"])
print("BROKER-SAID", s.recv(100).decode())
PY
rm -f "$EDGETRAIN_BROKER_SOCKET" 2>/dev/null && echo "REMOVED-SOCKET" || echo "SOCKET-KEPT"
"""


def test_the_job_reaches_the_broker_socket_and_cannot_replace_it(host: Host) -> None:
    """The credential broker (its own helper's unit) listens on a Unix socket the sandbox binds read-only."""
    broker_dir = host.base / "run" / "edgetrain-broker"
    broker_dir.mkdir(parents=True)
    broker_dir.chmod(0o755)
    (host.base / "run").chmod(0o755)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(broker_dir / "broker.sock"))
    (broker_dir / "broker.sock").chmod(0o666)
    server.listen(1)
    server.settimeout(60)

    def answer() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            conn.sendall(b"hello-from-broker")
            conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    host.set(BROKER_DIR=str(broker_dir))
    host.job(BROKER_CALL)
    try:
        done = host.run()
    finally:
        server.close()
        thread.join(timeout=5)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKER-SAID hello-from-broker" in done.stdout
    assert "SOCKET-KEPT" in done.stdout
    assert (broker_dir / "broker.sock").exists()


def test_links_a_job_plants_in_its_tree_make_root_touch_nothing_outside_it(
    host: Host, tmp_path: Path
) -> None:
    """A trusted job leaves symlinks to host paths in its cache and HOME: promoting the cache to the shared
    seed (chown to root, chmod), deleting the job's tree and linking the seed into the next job follow none.
    """
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "secret.txt"
    victim.write_text("host's\n")
    os.chown(victim, 12345, 12345)
    victim.chmod(0o600)
    os.chown(outside, 12345, 12345)
    outside.chmod(0o750)
    before = [(p.lstat().st_uid, stat.S_IMODE(p.lstat().st_mode)) for p in (outside, victim)]
    plant = f"""#!/bin/sh
ln -s {victim} "$UV_CACHE_DIR/linked-file"
ln -s {outside} "$UV_CACHE_DIR/linked-dir"
mkdir -p "$UV_CACHE_DIR/sub" && ln -s {outside} "$UV_CACHE_DIR/sub/deeper"
ln -s {victim} "$HOME/linked-home"
echo JOB-DONE
"""
    _seed(host)
    host.set(RUNNER_POOL="trusted")
    host.job(plant)
    done = host.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "JOB-DONE" in done.stdout
    assert (host.seed / "uv" / "linked-file").is_symlink()  # promoted as a link, not followed
    host.set(RUNNER_POOL="pull-request")
    host.job('#!/bin/sh\nls -l "$UV_CACHE_DIR" > /dev/null; echo NEXT-DONE\n')
    done = host.run()  # the next job gets the seed linked in: links are recreated, never followed
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NEXT-DONE" in done.stdout
    assert [(p.lstat().st_uid, stat.S_IMODE(p.lstat().st_mode)) for p in (outside, victim)] == before
    assert victim.read_text() == "host's\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
