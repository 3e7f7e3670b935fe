"""actions/attest-build-provenance stand-in: the in-toto statement the real action would sign."""

import hashlib
import json
import os
import re
import sys
from pathlib import Path


def main() -> int:
    name, digest = os.environ.get("INPUT_SUBJECT_NAME", ""), os.environ.get("INPUT_SUBJECT_DIGEST", "")
    path = os.environ.get("INPUT_SUBJECT_PATH", "")
    if not os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        print("::error::Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable (needs id-token: write)")
        return 1
    if path:
        data = Path(path).read_bytes()
        name, digest = name or Path(path).name, f"sha256:{hashlib.sha256(data).hexdigest()}"
    if not (name and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)):
        print(
            "::error::One of subject-path or subject-digest (sha256:<64 hex>) with subject-name is required"
        )
        return 1
    env = os.environ
    repo_url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}"
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.split(":", 1)[1]}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {
                    "workflow": {
                        "ref": env.get("GITHUB_REF", ""),
                        "repository": repo_url,
                        "path": env.get("GITHUB_WORKFLOW_REF", env.get("GITHUB_WORKFLOW", "")),
                    }
                },
                "resolvedDependencies": [
                    {
                        "uri": f"git+{repo_url}@{env.get('GITHUB_REF', '')}",
                        "digest": {"gitCommit": env["GITHUB_SHA"]},
                    }
                ],
            },
            "runDetails": {
                "builder": {"id": "rehearsal (act), unsigned"},
                "metadata": {"invocationId": f"{repo_url}/actions/runs/{env.get('GITHUB_RUN_ID')}"},
            },
        },
    }
    folder = Path(env["EDGETRAIN_REHEARSAL_ARTIFACTS"]) / "attestations"
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder / f"{digest.replace(':', '-')}.intoto.json"
    bundle.write_text(json.dumps(statement, indent=2))
    with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"bundle-path={bundle}\nattestation-id={digest[7:19]}\n")
    if env.get("INPUT_SHOW_SUMMARY", "true") == "true":
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
            out.write(f"Attested build provenance for {name}@{digest} (rehearsal: unsigned)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
