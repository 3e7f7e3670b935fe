"""A stand-in GitHub Actions OIDC issuer: an RSA test key that signs ID tokens (RS256) and its published JWKS.

GitHub signs every job's ID token with a key it publishes at ``<issuer>/.well-known/jwks``; the broker and
Entra verify against that. Here :class:`Issuer` holds a freshly generated 2048-bit key (never stored), mints
tokens with GitHub's claim set for a given job (:meth:`Issuer.job_claims`) and serves its JWKS through the
GitHub API stand-in (``/_oidc/.well-known/jwks``). Tests also use it to mint the attacks: a token signed by
another key, with a wrong audience or issuer, expired, naming an unknown key, or ``alg: none``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Issuer:
    """``Issuer().token(claims)`` -> an RS256 JWT; ``.jwks`` -> the key set to publish."""

    def __init__(self, issuer: str = GITHUB_ISSUER, kid: str | None = None) -> None:
        self.issuer = issuer
        self.kid = kid or secrets.token_hex(8)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwks(self) -> dict[str, Any]:
        public = self.key.public_key().public_numbers()
        n = public.n.to_bytes((public.n.bit_length() + 7) // 8, "big")
        e = public.e.to_bytes((public.e.bit_length() + 7) // 8, "big")
        return {
            "keys": [
                {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": _b64(n), "e": _b64(e)}
            ]
        }

    def job_claims(
        self,
        *,
        repository: str,
        workflow: str,
        event_name: str,
        ref: str,
        environment: str | None,
        audience: str,
        job: str = "job",
        sha: str = "0" * 40,
        lifetime_s: int = 300,
    ) -> dict[str, Any]:
        """The claims GitHub puts in a job's ID token (the ones the broker and Entra read)."""
        now = int(time.time())
        owner = repository.split("/", maxsplit=1)[0]
        workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
        subject = f"repo:{repository}:" + (
            f"environment:{environment}"
            if environment
            else f"ref:{ref}"
            if event_name != "pull_request"
            else "pull_request"
        )
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "jti": secrets.token_hex(8),
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime_s,
            "repository": repository,
            "repository_owner": owner,
            "ref": ref,
            "sha": sha,
            "event_name": event_name,
            "workflow": workflow,
            "workflow_ref": workflow_ref,
            "job_workflow_ref": workflow_ref,
            "job": job,
            "runner_environment": "self-hosted",
        }
        if environment:
            claims["environment"] = environment
        return claims

    def token(self, claims: dict[str, Any], *, kid: str | None = None, key: Any = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """An ``alg: none`` token (the classic forgery)."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


class RunContext:
    """What GitHub knows of a run when a job asks for its ID token: the workflow file act runs, event, ref."""

    def __init__(self, workflow: Path, event_name: str, ref: str, sha: str) -> None:
        self.workflow, self.event_name, self.ref, self.sha = workflow, event_name, ref, sha
        self.document = yaml.safe_load(workflow.read_text(encoding="utf-8")) or {}


class OidcStandin:
    """The GitHub API stand-in's token endpoint: per-job claims, ``id-token: write`` enforced."""

    def __init__(self, repository: str) -> None:
        self.repository = repository
        self.issuer = Issuer()
        self.run: RunContext | None = None

    def start_run(self, workflow: Path, event_name: str, ref: str, sha: str) -> None:
        self.run = RunContext(workflow, event_name, ref, sha)

    def claims_for(self, job_id: str | None, audience: str) -> tuple[int, dict[str, Any]]:
        """``(200, claims)`` for a job that may have a token, else ``(403, {"message": ...})``."""
        run = self.run
        if job_id is None or run is None:
            return 403, {
                "message": "the calling job cannot be identified (no act step process holds the socket)"
            }
        jobs = run.document.get("jobs") or {}
        job = jobs.get(job_id)
        if not isinstance(job, dict):
            return 403, {"message": f"job {job_id!r} is not in {run.workflow.name}"}
        permissions = job.get("permissions", run.document.get("permissions"))
        granted = permissions == "write-all" or (
            isinstance(permissions, dict) and permissions.get("id-token") == "write"
        )
        if not granted:
            return 403, {"message": f"job {job_id!r} does not declare 'permissions: id-token: write'"}
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        claims = self.issuer.job_claims(
            repository=self.repository,
            workflow=run.workflow.name,
            event_name=run.event_name,
            ref=run.ref,
            environment=str(environment) if environment else None,
            audience=audience,
            job=job_id,
            sha=run.sha,
        )
        return 200, claims
