"""Test 2 and the token attacks: a job gets a storage credential only for what it is.

Tokens are minted with the stand-in issuer's RSA key (tests/rehearsal/oidc.py) and sent through
:meth:`Broker.issue`, the code behind the socket. Every refusal must be one log line naming the claim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.broker.conftest import REPOSITORY, Claims
from tests.conftest import REPO_ROOT
from tests.rehearsal.oidc import Issuer, unsigned

from edgetrain.broker.oidc import JwksCache, TokenRefusedError, Verifier
from edgetrain.broker.policy import DEFAULT_POLICY, Policy, load_policy
from edgetrain.broker.server import Broker, HttpError
from edgetrain.config.edge import load_edge_config
from edgetrain.errors import ConfigError


def refused(broker: Broker, token: str, caplog: pytest.LogCaptureFixture, want: object = None) -> str:
    """The broker's 403 message; exactly one warning line was logged and it says the same."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edgetrain.broker"), pytest.raises(HttpError) as err:
        broker.issue({"token": token, **({"want": want} if want is not None else {})})
    assert err.value.status == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "edgetrain.broker"]
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    assert str(err.value) in lines[0]
    return str(err.value)


def test_each_default_job_gets_exactly_its_policy_grants(
    broker: Broker, issuer: Issuer, claims: Claims
) -> None:
    pr = broker.issue({"token": issuer.token(claims())})
    assert pr["rule"] == "pull-request"
    assert {c: v["permissions"] for c, v in pr["containers"].items()} == {
        "raw": "rl",
        "dvc-cache": "rl",
        "dvc-pr": "rcwl",
    }
    refresh = broker.issue({"token": issuer.token(claims("data-refresh.yml", "schedule", "refs/heads/main"))})
    assert refresh["rule"] == "data-refresh"
    assert {c: v["permissions"] for c, v in refresh["containers"].items()} == {
        "raw": "rl",
        "dvc-cache": "rcwl",
    }
    release = broker.issue({"token": issuer.token(claims("release.yml", "push", "refs/heads/main"))})
    assert release["rule"] == "release"
    assert release["containers"]["dvc-cache"]["permissions"] == "rcwl"
    for grant in (pr, refresh, release):
        for value in grant["containers"].values():
            assert "sv=2019-07-07" in value["sas"]
            assert "sr=c" in value["sas"]


def test_job_without_environment_gets_nothing(
    broker: Broker, issuer: Issuer, claims: Claims, caplog: pytest.LogCaptureFixture
) -> None:
    assert refused(broker, issuer.token(claims(environment=None)), caplog).startswith("environment: missing")
    other = refused(broker, issuer.token(claims(environment="production")), caplog)
    assert other.startswith("environment: 'production' is not 'stackhub'")


@pytest.mark.parametrize(
    ("workflow", "event", "ref", "check"),
    [
        # a workflow file nobody reviewed, pushed to a branch or even landed on main
        ("exfiltrate.yml", "push", "refs/heads/main", "job_workflow_ref"),
        ("exfiltrate.yml", "pull_request", "refs/pull/7/merge", "job_workflow_ref"),
        # the release workflow run from a branch (a writer's push) or by a pull request's copy
        ("release.yml", "push", "refs/heads/feature", "ref"),
        ("release.yml", "pull_request", "refs/pull/7/merge", "event_name"),
        # the refresh's rights asked for by a pull request's copy of data-refresh.yml
        ("data-refresh.yml", "pull_request", "refs/pull/7/merge", "event_name"),
        # pr-train dispatched on a branch: not a pull request
        ("pr-train.yml", "workflow_dispatch", "refs/heads/feature", "event_name"),
    ],
)
def test_unexpected_workflow_ref_gets_nothing(  # noqa: PLR0917 - fixtures plus one attack per row
    broker: Broker,
    issuer: Issuer,
    claims: Claims,
    caplog: pytest.LogCaptureFixture,
    workflow: str,
    event: str,
    ref: str,
    check: str,
) -> None:
    assert refused(broker, issuer.token(claims(workflow, event, ref)), caplog).startswith(f"{check}:")


def test_reusable_workflow_or_other_repository_gets_nothing(
    broker: Broker, issuer: Issuer, claims: Claims, caplog: pytest.LogCaptureFixture
) -> None:
    # the caller is pr-train.yml but the job runs another repository's reusable workflow
    foreign = claims(job_workflow_ref="evil/tools/.github/workflows/pr-train.yml@refs/heads/main")
    assert refused(broker, issuer.token(foreign), caplog).startswith("job_workflow_ref:")
    assert refused(broker, issuer.token(claims(repository="evil/edgetrain")), caplog).startswith(
        "repository:"
    )


def test_asking_for_more_than_the_policy_is_refused_naming_the_permission(
    broker: Broker, issuer: Issuer, claims: Claims, caplog: pytest.LogCaptureFixture
) -> None:
    message = refused(broker, issuer.token(claims()), caplog, want={"dvc-cache": "rw"})
    assert message.startswith("permission: 'w' on container 'dvc-cache' is not granted to pull-request")
    message = refused(broker, issuer.token(claims()), caplog, want={"raw": "d"})
    assert message.startswith("permission: 'd' on container 'raw'")
    narrowed = broker.issue({"token": issuer.token(claims()), "want": {"dvc-cache": "r"}})
    assert {c: v["permissions"] for c, v in narrowed["containers"].items()} == {"dvc-cache": "r"}


def _other_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_forged_tokens_are_refused_each_with_one_line(
    broker: Broker, issuer: Issuer, claims: Claims, caplog: pytest.LogCaptureFixture
) -> None:
    good = claims()
    now = int(time.time())
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attacks = {
        "signature": issuer.token(good, key=serialization.load_pem_private_key(_other_key_pem(), None)),
        "aud": issuer.token({**good, "aud": "api://AzureADTokenExchange"}),
        "iss": issuer.token({**good, "iss": "https://evil.example"}),
        "exp": issuer.token({**good, "iat": now - 3600, "nbf": now - 3600, "exp": now - 600}),
        "nbf": issuer.token({**good, "nbf": now + 3600}),
        "kid": issuer.token(good, kid="not-published"),
        "alg": unsigned(good, issuer.kid),
    }
    for check, token in attacks.items():
        assert refused(broker, token, caplog).startswith(f"{check}:"), check
    # HS256 keyed with the issuer's public key (the algorithm-confusion attack), signed by hand
    head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": issuer.kid}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=")
    mac = hmac.new(public_pem, head + b"." + body, hashlib.sha256).digest()
    hs = b".".join([head, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    assert refused(broker, hs, caplog).startswith("alg: 'HS256'")
    for junk in ("", "a.b", "not.a.jwt", "x" * 20000):
        assert refused(broker, junk, caplog).startswith("token:")


def test_a_flood_of_unknown_key_ids_fetches_the_key_set_once(
    issuer: Issuer, claims: Claims, policy: Policy
) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, object]:
        fetched.append(url)
        return issuer.jwks

    clock = [1000.0]
    keys = JwksCache("https://jwks.invalid", fetch=fetch, clock=lambda: clock[0])
    verifier = Verifier(policy.issuer, policy.audience, keys)
    assert verifier.verify(issuer.token(claims()))["environment"] == "stackhub"
    for i in range(50):
        with pytest.raises(TokenRefusedError, match=r"^kid:"):
            verifier.verify(issuer.token(claims(), kid=f"made-up-{i}"))
    assert len(fetched) == 1
    clock[0] += 61  # after refetch_s an unknown kid may refetch (a rotated key), once
    with pytest.raises(TokenRefusedError):
        verifier.verify(issuer.token(claims(), kid="rotated"))
    assert len(fetched) == 2


def test_policy_names_the_containers_of_the_edge_config() -> None:
    policy = load_policy(REPO_ROOT / DEFAULT_POLICY)
    storage = load_edge_config(REPO_ROOT / "config" / "edge.yaml").storage
    named = {c for rule in policy.rules for c in rule.grants}
    assert named == {storage.raw_container, storage.dvc_container, storage.pr_container}
    by_rule = {rule.name: rule.grants for rule in policy.rules}
    # no release or refresh ever reads the pull-request container; pull requests never write the others
    assert storage.pr_container not in by_rule["release"]
    assert storage.pr_container not in by_rule["data-refresh"]
    for container in (storage.raw_container, storage.dvc_container):
        assert set(by_rule["pull-request"][container]) <= set("rl")
    assert policy.repository != REPOSITORY  # the tests run against a fork's name


def test_bad_policy_names_the_file_and_key(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "p.yaml"  # type: ignore[operator]
    text = (REPO_ROOT / DEFAULT_POLICY).read_text()
    path.write_text(text.replace("dvc-pr: rcwl", "dvc-pr: rcwx"))
    with pytest.raises(ConfigError, match=r"p.yaml: rules.0.grants: .*unknown SAS permission 'x'"):
        load_policy(path)
    path.write_text(text.replace("audience:", "audiences:"))
    with pytest.raises(ConfigError, match=r"p.yaml: (audience|audiences)"):
        load_policy(path)
    for bad, says in (
        ("rules: [", r"p.yaml: line \d+: "),
        ("- a list", "p.yaml: top level must be a mapping"),
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=says):
            load_policy(path)
    with pytest.raises(ConfigError, match=r"absent.yaml: file not found"):
        load_policy(path.with_name("absent.yaml"))
