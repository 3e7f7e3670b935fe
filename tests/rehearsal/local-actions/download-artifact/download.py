"""actions/download-artifact stand-in: one named artifact into a folder."""

import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    source = Path(os.environ["EDGETRAIN_REHEARSAL_ARTIFACTS"]) / os.environ["INPUT_NAME"]
    if not source.is_dir():
        print(f"::error::Unable to download artifact(s): Artifact not found for name: {source.name}")
        return 1
    dest = Path(os.environ.get("INPUT_PATH") or ".").resolve()
    shutil.copytree(source, dest, dirs_exist_ok=True)
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"download-path={dest}\n")
    print(f"downloaded artifact {source.name} to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
