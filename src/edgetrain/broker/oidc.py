"""Verify a GitHub Actions OIDC token: RS256 signature by a key the issuer publishes, then the claims.

PyJWT (with cryptography) does the JOSE work; this module decides what is accepted:

- only ``RS256`` (``alg: none``, HMAC with the public key as secret and every other algorithm are refused
  before any key is looked at);
- the key is picked by ``kid`` from the issuer's JWKS, fetched over HTTP(S) with a timeout and a size cap
  and cached (:class:`JwksCache`): an unknown ``kid`` refetches at most once per ``refetch_s``, so a flood
  of made-up key ids costs the issuer nothing;
- ``iss``, ``aud``, ``exp``, ``iat`` and ``nbf`` (when present) with :data:`LEEWAY_S` of clock skew;
- the claims the policy is decided on must be present, non-empty strings: :data:`REQUIRED_CLAIMS`.

Every refusal is a :class:`TokenRefusedError` whose message is one line naming the check that failed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS = ("RS256",)
LEEWAY_S = 60
REQUIRED_CLAIMS = ("repository", "environment", "job_workflow_ref", "ref", "event_name")
JWKS_MAX_BYTES = 256 * 1024
JWKS_TIMEOUT_S = 10.0
JWKS_MAX_KEYS = 32


class TokenRefusedError(Exception):
    """The token is not accepted; ``str()`` is one line naming the claim or check."""

    def __init__(self, check: str, why: str) -> None:
        super().__init__(f"{check}: {why}")
        self.check = check


class JwksUnavailableError(Exception):
    """The issuer's key set cannot be fetched (the broker answers 503, not a refusal of the job)."""


def fetch_jwks(url: str, timeout: float = JWKS_TIMEOUT_S) -> dict[str, Any]:
    """The JSON key set at ``url`` (bounded in time and size)."""
    if not url.startswith(("https://", "http://127.0.0.1", "http://[::1]", "http://localhost")):
        raise JwksUnavailableError(f"{url}: the JWKS must be fetched over https (or from loopback)")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            body = resp.read(JWKS_MAX_BYTES + 1)
    except OSError as err:
        raise JwksUnavailableError(f"cannot fetch the issuer's keys from {url}: {err}") from None
    if len(body) > JWKS_MAX_BYTES:
        raise JwksUnavailableError(f"{url}: the key set is larger than {JWKS_MAX_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise JwksUnavailableError(f"{url}: the key set is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksUnavailableError(f"{url}: no 'keys' list")
    return data


class JwksCache:
    """RSA signing keys by ``kid``, refreshed every ``ttl_s`` and on an unknown ``kid`` (rate-limited)."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 3600.0,
        refetch_s: float = 60.0,
        fetch: Callable[[str], dict[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.ttl_s, self.refetch_s = url, ttl_s, refetch_s
        self._fetch, self._clock = fetch, clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _refresh(self) -> None:
        data = self._fetch(self.url)
        self.fetches += 1
        keys: dict[str, Any] = {}
        for entry in data["keys"][:JWKS_MAX_KEYS]:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            try:
                keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm="RS256").key
            except jwt.PyJWTError:
                continue
        self._keys, self._fetched_at = keys, self._clock()

    def key(self, kid: str) -> Any:
        """The public key for ``kid``, or :class:`TokenRefusedError` (``kid``) when the issuer has none."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.ttl_s
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self.refetch_s
            if stale or (kid not in self._keys and may_refetch):
                self._refresh()
            if kid not in self._keys:
                raise TokenRefusedError(
                    "kid", f"{kid[:64]!r} is not a key the issuer publishes at {self.url}"
                )
            return self._keys[kid]


#: PyJWT's refusal -> (claim or check, why), most specific first.
_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.InvalidSignatureError, "signature", "does not verify with the issuer's key"),
    (jwt.ExpiredSignatureError, "exp", "the token has expired (request a fresh one)"),
    (jwt.ImmatureSignatureError, "nbf", "the token is not valid yet"),
    (jwt.InvalidAudienceError, "aud", "the token is not for this broker's audience"),
    (jwt.InvalidIssuerError, "iss", "the token is not from the configured issuer"),
)


@dataclass(frozen=True)
class Verifier:
    issuer: str
    audience: str
    keys: JwksCache
    leeway_s: int = LEEWAY_S

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims when every check passes; else :class:`TokenRefusedError`."""
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16 * 1024:
            raise TokenRefusedError("token", "not a JWT (three dot-separated parts, at most 16 KiB)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise TokenRefusedError("token", f"unreadable header ({err})") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenRefusedError("alg", f"{alg!r} is refused (only {', '.join(ALGORITHMS)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefusedError("kid", "the token names no signing key")
        claims = self._decode(token, self.keys.key(kid))
        for name in REQUIRED_CLAIMS:
            value = claims.get(name)
            if not isinstance(value, str) or not value:
                raise TokenRefusedError(
                    name, "missing (the job must name an environment; GitHub sets the rest)"
                )
        return claims

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud"], "strict_aud": True},
            )
        except jwt.MissingRequiredClaimError as err:
            raise TokenRefusedError(err.claim, "missing") from None
        except jwt.PyJWTError as err:
            for kind, check, why in _REFUSALS:
                if isinstance(err, kind):
                    raise TokenRefusedError(check, why) from None
            raise TokenRefusedError(
                "token", str(err).splitlines()[0] if str(err) else type(err).__name__
            ) from None
        return claims
