"""Render the edge VM's cloud-init user data: bootstrap.sh, the runner host (runner_host.py, job_sandbox.py),
the runner and credential broker units, settings and two root-only secrets. The broker's code, policy and
config/edge.yaml are installed by bootstrap.sh from ``--template-commit`` (default: this checkout's HEAD).

    .venv/bin/python deploy/edge-runner/render_user_data.py --repo-url https://github.com/<owner>/<repo> \
        --rootfs-image ghcr.io/<owner>/<runner-image>@sha256:<digest> \
        --github-app-id 123 --github-app-installation-id 456 --github-app-key-file ~/app.pem \
        --storage-account-key-file ~/stackhub-key > user-data.yaml

(``--github-token-file`` instead of the three App options: a fine-grained token, Administration read/write.)

The runner labels come from ``runner.labels`` in ``config/edge.yaml``. The output holds secrets: pass it as
the VM's custom data (``azuredeploy.json`` parameter ``customData``, base64) and delete it; never commit it.
``--example`` writes placeholders instead of secrets (``user-data.example.yaml`` is that output).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "src"))

from edgetrain.config.edge import load_edge_config  # noqa: E402

LIB = "/usr/local/lib/edgetrain-runner"
PLACEHOLDER_TOKEN = "<fine-grained token: Administration read/write on the repository>"  # noqa: S105
PLACEHOLDER_IMAGE = "ghcr.io/OWNER/edgetrain-runner-rootfs@sha256:<64 hex digits>"
PLACEHOLDER_COMMIT = "<40 hex: the reviewed default-branch commit the broker is installed from>"
PLACEHOLDER_KEY = "<the storage account's key: read only by the credential broker>"
DEFAULT_APT_MIRROR = "https://azure.archive.ubuntu.com/ubuntu/"
HEADER = (
    "#cloud-config\n"
    "# edgetrain edge runner: rendered by deploy/edge-runner/render_user_data.py. It carries secrets when\n"
    "# rendered for real: pass it as custom data, then delete it. Never commit a rendered copy.\n"
)


class _Literal(str):
    """A string dumped as a YAML literal block (scripts stay readable)."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def _file(path: str, content: str, mode: str) -> dict[str, object]:
    return {"path": path, "owner": "root:root", "permissions": mode, "content": _Literal(content)}


def render(  # noqa: PLR0917  (one argument per part of the user data; main() is the one caller)
    repo_url: str,
    labels: list[str],
    credential: tuple[str, str],
    account_key: str,
    rootfs_image: str,
    template_commit: str,
    apt_mirror: str = DEFAULT_APT_MIRROR,
    app: tuple[str, str] | None = None,
) -> str:
    """The user data as text (``#cloud-config`` first); ``credential``: (name in /etc/edgetrain, text)."""
    settings = (
        f"GITHUB_REPOSITORY_URL={repo_url}\nRUNNER_LABELS={','.join(labels)}\nROOTFS_IMAGE={rootfs_image}\n"
        f"TEMPLATE_COMMIT={template_commit}\n"
    )
    if app:
        settings += f"GITHUB_APP_ID={app[0]}\nGITHUB_APP_INSTALLATION_ID={app[1]}\n"
    host_files = [
        _file(f"{LIB}/{name}", (HERE / name).read_text(), mode)
        for name, mode in (
            ("bootstrap.sh", "0755"),
            ("runner_host.py", "0644"),
            ("job_sandbox.py", "0644"),
            ("edgetrain-runner.service", "0644"),
            ("edgetrain-broker.service", "0644"),
        )
    ]
    doc = {
        "package_update": True,
        # Outbound HTTPS only (the NSG allows nothing else): apt over https.
        "apt": {
            "primary": [{"arches": ["default"], "uri": apt_mirror}],
            "security": [{"arches": ["default"], "uri": apt_mirror}],
        },
        "ssh_pwauth": False,
        "write_files": [
            *host_files,
            _file("/etc/edgetrain/runner.conf", settings, "0644"),
            _file(f"/etc/edgetrain/{credential[0]}", credential[1].strip() + "\n", "0600"),
            _file("/etc/edgetrain/storage-account.key", account_key.strip() + "\n", "0600"),
        ],
        "runcmd": [[f"{LIB}/bootstrap.sh"]],
    }
    return HEADER + str(yaml.safe_dump(doc, sort_keys=False, width=1000))


def _head() -> str:
    """This checkout's HEAD commit (push it to the default branch before the VM boots)."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo-url", required=True, help="https://github.com/<owner>/<repo>")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "edge.yaml")
    parser.add_argument("--rootfs-image", help="the jobs' root file system: <image>@sha256:<digest>")
    parser.add_argument("--github-token-file", type=Path, help="fine-grained token (Administration r/w)")
    parser.add_argument("--github-app-id", help="GitHub App (preferred over a token)")
    parser.add_argument("--github-app-installation-id")
    parser.add_argument("--github-app-key-file", type=Path, help="the App's private key (PEM)")
    parser.add_argument(
        "--storage-account-key-file", type=Path, help="the account key (one line), for the broker only"
    )
    parser.add_argument(
        "--template-commit", help="the commit (40 hex) the broker is installed from (default: HEAD)"
    )
    parser.add_argument("--apt-mirror", default=DEFAULT_APT_MIRROR, help="an https Ubuntu mirror")
    parser.add_argument("--example", action="store_true", help="placeholders instead of secrets")
    args = parser.parse_args(argv)
    app = None
    if args.example:
        credential, key, image = ("github-token", PLACEHOLDER_TOKEN), PLACEHOLDER_KEY, PLACEHOLDER_IMAGE
        commit = PLACEHOLDER_COMMIT
    else:
        commit = args.template_commit or _head()
        if not re.fullmatch(r"[0-9a-f]{40}", commit):
            parser.error(f"--template-commit {commit} is not a full commit id (40 hex)")
        if not args.storage_account_key_file or not args.rootfs_image:
            parser.error("--rootfs-image and --storage-account-key-file are required (or --example)")
        if not re.fullmatch(r"\S+@sha256:[0-9a-f]{64}", args.rootfs_image):
            parser.error(f"--rootfs-image {args.rootfs_image} is not pinned by digest (<image>@sha256:<hex>)")
        if args.github_app_id:
            if not args.github_app_installation_id or not args.github_app_key_file:
                parser.error("--github-app-id needs --github-app-installation-id and --github-app-key-file")
            app = (args.github_app_id, args.github_app_installation_id)
            credential = ("github-app.pem", args.github_app_key_file.read_text(encoding="utf-8"))
        elif args.github_token_file:
            credential = ("github-token", args.github_token_file.read_text(encoding="utf-8"))
        else:
            parser.error("--github-app-id (preferred) or --github-token-file is required (or --example)")
        key = args.storage_account_key_file.read_text(encoding="utf-8")
        image = args.rootfs_image
    labels = list(load_edge_config(args.config).runner.labels)
    sys.stdout.write(render(args.repo_url, labels, credential, key, image, commit, args.apt_mirror, app))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
