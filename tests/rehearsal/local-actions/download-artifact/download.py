"""actions/download-artifact stand-in: one named artifact into a folder.

Without ``run-id``: this run's artifact, from ``$EDGETRAIN_REHEARSAL_ARTIFACTS/<name>``. With ``run-id`` (an
artifact of another workflow run, e.g. the run a ``workflow_run`` event names): listed and downloaded as a
zip through the GitHub API stand-in with ``github-token``, like the real action, so the job's token needs
``actions: read``.
"""

import io
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

MAX_ZIP = 64 * 1024 * 1024


def _get(url: str, token: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = response.read(MAX_ZIP + 1)
    if len(data) > MAX_ZIP:
        raise ValueError("artifact larger than the stand-in accepts")
    return data


def _from_run(run_id: str, name: str, token: str, dest: Path) -> int:
    if not token:
        print("::error::Input required and not supplied: github-token (with run-id)")
        return 1
    api = f"{os.environ['GITHUB_API_URL']}/repos/{os.environ['GITHUB_REPOSITORY']}"
    try:
        listed = json.loads(_get(f"{api}/actions/runs/{int(run_id)}/artifacts", token))
        found = [a for a in listed["artifacts"] if a["name"] == name]
        if not found:
            print(f"::error::Unable to download artifact(s): Artifact not found for name: {name}")
            return 1
        archive = _get(f"{api}/actions/artifacts/{found[0]['id']}/zip", token)
    except urllib.error.HTTPError as err:
        print(f"::error::Unable to download artifact(s): {err.code} {err.read().decode(errors='replace')}")
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        zipped.extractall(dest)
    return 0


def main() -> int:
    name = os.environ["INPUT_NAME"]
    dest = Path(os.environ.get("INPUT_PATH") or ".").resolve()
    if os.environ.get("INPUT_RUN_ID"):
        code = _from_run(os.environ["INPUT_RUN_ID"], name, os.environ.get("INPUT_GITHUB_TOKEN", ""), dest)
        if code:
            return code
    else:
        source = Path(os.environ["EDGETRAIN_REHEARSAL_ARTIFACTS"]) / name
        if not source.is_dir():
            print(f"::error::Unable to download artifact(s): Artifact not found for name: {source.name}")
            return 1
        shutil.copytree(source, dest, dirs_exist_ok=True)
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"download-path={dest}\n")
    print(f"downloaded artifact {name} to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
