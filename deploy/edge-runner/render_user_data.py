"""Render the edge VM's cloud-init user data: bootstrap.sh + the systemd unit + settings + two secrets.

    .venv/bin/python deploy/edge-runner/render_user_data.py --repo-url https://github.com/<owner>/<repo> \
        --github-token-file ~/gh-token --storage-connection-string-file ~/stackhub-conn > user-data.yaml

The runner labels come from ``runner.labels`` in ``config/edge.yaml``. The output holds secrets: pass it as
the VM's custom data (``azuredeploy.json`` parameter ``customData``, base64) and delete it; never commit it.
``--example`` writes placeholders instead of secrets (``user-data.example.yaml`` is that output).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "src"))

from edgetrain.config.edge import load_edge_config  # noqa: E402

LIB = "/usr/local/lib/edgetrain-runner"
PLACEHOLDER_TOKEN = "<token that may create runner registration tokens>"  # noqa: S105
PLACEHOLDER_CONN = (
    "DefaultEndpointsProtocol=https;AccountName=<account>;AccountKey=<key>;EndpointSuffix=<suffix>"
)
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


def _file(path: str, content: str, mode: str) -> dict:
    return {"path": path, "owner": "root:root", "permissions": mode, "content": _Literal(content)}


def render(
    repo_url: str, labels: list[str], token: str, conn: str, apt_mirror: str = DEFAULT_APT_MIRROR
) -> str:
    """The user data as text (``#cloud-config`` first)."""
    settings = f"GITHUB_REPOSITORY_URL={repo_url}\nRUNNER_LABELS={','.join(labels)}\n"
    doc = {
        "package_update": True,
        # Outbound HTTPS only (the NSG allows nothing else): apt over https.
        "apt": {
            "primary": [{"arches": ["default"], "uri": apt_mirror}],
            "security": [{"arches": ["default"], "uri": apt_mirror}],
        },
        "ssh_pwauth": False,
        "write_files": [
            _file(f"{LIB}/bootstrap.sh", (HERE / "bootstrap.sh").read_text(), "0755"),
            _file(f"{LIB}/edgetrain-runner.service", (HERE / "edgetrain-runner.service").read_text(), "0644"),
            _file("/etc/edgetrain/runner.conf", settings, "0644"),
            _file("/etc/edgetrain/github-token", token.strip() + "\n", "0600"),
            _file("/etc/edgetrain/storage-connection-string", conn.strip() + "\n", "0600"),
        ],
        "runcmd": [[f"{LIB}/bootstrap.sh"]],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=1000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo-url", required=True, help="https://github.com/<owner>/<repo>")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "edge.yaml")
    parser.add_argument("--github-token-file", type=Path)
    parser.add_argument("--storage-connection-string-file", type=Path)
    parser.add_argument("--apt-mirror", default=DEFAULT_APT_MIRROR, help="an https Ubuntu mirror")
    parser.add_argument("--example", action="store_true", help="placeholders instead of secrets")
    args = parser.parse_args(argv)
    if args.example:
        token, conn = PLACEHOLDER_TOKEN, PLACEHOLDER_CONN
    else:
        if not args.github_token_file or not args.storage_connection_string_file:
            parser.error(
                "--github-token-file and --storage-connection-string-file are required (or --example)"
            )
        token = args.github_token_file.read_text(encoding="utf-8")
        conn = args.storage_connection_string_file.read_text(encoding="utf-8")
    labels = list(load_edge_config(args.config).runner.labels)
    sys.stdout.write(render(args.repo_url, labels, token, conn, args.apt_mirror))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
