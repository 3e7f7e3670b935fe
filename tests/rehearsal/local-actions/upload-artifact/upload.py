"""actions/upload-artifact stand-in: same path rules (globs, least common ancestor, hidden files)."""

import glob
import hashlib
import os
import shutil
import sys
from pathlib import Path


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def main() -> int:
    root = Path(os.environ["EDGETRAIN_REHEARSAL_ARTIFACTS"])
    name = os.environ["INPUT_NAME"]
    hidden = os.environ.get("INPUT_INCLUDE_HIDDEN_FILES") == "true"
    files: list[Path] = []
    for line in os.environ["INPUT_PATH"].splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("!"):
            continue
        for hit in glob.glob(pattern, recursive=True, include_hidden=hidden):
            p = Path(hit).resolve()
            found = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
            # like the real action: hidden files and folders are left out unless include-hidden-files
            below = (f.relative_to(p) if p.is_dir() else Path(f.name) for f in found)
            files += [f for f, rel in zip(found, below, strict=True) if hidden or not _hidden(rel)]
    if not files:
        mode = os.environ.get("INPUT_IF_NO_FILES_FOUND", "warn")
        print(f"::{'error' if mode == 'error' else 'warning'}::No files were found with the provided path")
        return 1 if mode == "error" else 0
    base = Path(os.path.commonpath([f.parent for f in files]))
    target = root / name
    if target.exists():
        if os.environ.get("INPUT_OVERWRITE") != "true":
            print(f"::error::an artifact named {name} already exists in this run")
            return 1
        shutil.rmtree(target)
    digest = hashlib.sha256()
    for f in sorted(set(files)):
        dest = target / f.relative_to(base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
        digest.update(str(f.relative_to(base)).encode() + b"\0" + f.read_bytes())
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"artifact-id={abs(hash(name)) % 10**9}\nartifact-digest={digest.hexdigest()}\n")
    print(f"uploaded {len(set(files))} file(s) as artifact {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
