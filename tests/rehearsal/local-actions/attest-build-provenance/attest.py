"""actions/attest-build-provenance stand-in: the in-toto statement the real action would sign."""

import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2}
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json"
)


class PushError(Exception):
    pass


def registry_login(registry: str) -> str:
    """The ``Authorization`` header for ``registry`` from ~/.docker/config.json, where the real action's
    push-to-registry reads registry credentials (nothing else: no other file, no environment variable)."""
    config = Path.home() / ".docker" / "config.json"
    try:
        auths = json.loads(config.read_text(encoding="utf-8")).get("auths", {})
    except (OSError, ValueError):
        auths = {}
    entry = auths.get(registry) or auths.get(f"https://{registry}") or {}
    if not entry.get("auth"):
        raise PushError(f"No credentials found for registry {registry} (in {config})")
    return f"Basic {entry['auth']}"


def _call(method, url, auth, body=b"", headers=None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(url, data=body or None, method=method, headers={"Authorization": auth})
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        raise PushError(f"{method} {url}: {err.code} {err.read()[:200]!r}") from None


def push_to_registry(name: str, digest: str, statement: bytes) -> str:
    """Store the statement next to the image as an OCI artifact whose subject is the image (and, for
    registries without the referrers API, under the ``sha256-<hex>`` tag that lists its referrers)."""
    registry, _, repository = name.partition("/")
    auth = registry_login(registry)
    scheme = "http" if registry.startswith(("127.0.0.1:", "localhost:", "[::1]:")) else "https"
    base = f"{scheme}://{registry}/v2/{repository}"

    def blob(data: bytes) -> str:
        blob_digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        _, head, _ = _call("POST", f"{base}/blobs/uploads/", auth)
        location = head["Location"]
        location = location if location.startswith("http") else f"{scheme}://{registry}{location}"
        joiner = "&" if "?" in location else "?"
        _call(
            "PUT",
            f"{location}{joiner}digest={blob_digest}",
            auth,
            data,
            {"Content-Type": "application/octet-stream"},
        )
        return blob_digest

    _, head, subject_bytes = _call(
        "GET", f"{base}/manifests/{digest}", auth, headers={"Accept": MANIFEST_TYPES}
    )
    subject = {"mediaType": head["Content-Type"], "digest": digest, "size": len(subject_bytes)}
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE_TYPE,
        "config": {**EMPTY, "digest": blob(b"{}")},
        "layers": [{"mediaType": BUNDLE_TYPE, "digest": blob(statement), "size": len(statement)}],
        "subject": subject,
    }
    data = json.dumps(manifest).encode()
    attestation = f"sha256:{hashlib.sha256(data).hexdigest()}"
    _call("PUT", f"{base}/manifests/{attestation}", auth, data, {"Content-Type": manifest["mediaType"]})
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": attestation,
                "size": len(data),
                "artifactType": BUNDLE_TYPE,
            }
        ],
    }
    tag = digest.replace(":", "-")
    _call(
        "PUT",
        f"{base}/manifests/{tag}",
        auth,
        json.dumps(index).encode(),
        {"Content-Type": index["mediaType"]},
    )
    return attestation


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
    if env.get("INPUT_PUSH_TO_REGISTRY", "false") == "true":
        try:
            stored = push_to_registry(name, digest, bundle.read_bytes())
        except PushError as err:
            print(f"::error::Failed to push attestation to registry: {err}")
            return 1
        print(f"Attestation uploaded to registry ({name}@{stored})")
    with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"bundle-path={bundle}\nattestation-id={digest[7:19]}\n")
    if env.get("INPUT_SHOW_SUMMARY", "true") == "true":
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
            out.write(f"Attested build provenance for {name}@{digest} (rehearsal: unsigned)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
