"""Short-lived service SAS for one container, signed with the account key in the form Stack Hub checks.

Stack Hub blob storage has no Azure AD, so the broker hands jobs a *service* SAS (``sr=c``: one container,
only the permissions the policy grants, minutes long) made from the account key it alone holds.

Why not ``azure.storage.blob.generate_container_sas``: the SDK writes ``sv`` from its API-version list
(which :mod:`edgetrain.storage.api_pin` trims to 2019-07-07) but always signs the string-to-sign of its
*newest* version, which has an extra ``signedEncryptionScope`` line (added in 2020-12-06). A SAS that says
``sv=2019-07-07`` with that signature is refused by any service checking 2019-07-07 (Azurite here, Stack Hub
there: ``403 AuthorizationFailure``; ``tests/broker/test_sas_azurite.py`` shows it). So the string-to-sign
of the pinned version is built here, once, per the storage REST reference ("Create a service SAS", versions
2018-11-09 to 2020-10-02), and :data:`SAS_VERSION` is checked against the project's pin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

#: The ``sv`` every SAS carries: what Stack Hub build 2008+ accepts (storage.api_version in config/edge.yaml).
SAS_VERSION = "2019-07-07"
#: The versions whose service-SAS string-to-sign is the one built below.
SIGNABLE_VERSIONS = frozenset({"2018-11-09", "2019-02-02", "2019-07-07", "2019-10-10", "2019-12-12"})
#: Container permission letters in the order the service requires them.
PERMISSION_ORDER = "racwdl"
#: Started a little in the past: the storage clock may be behind the broker's.
CLOCK_SKEW = timedelta(minutes=5)
_TIME = "%Y-%m-%dT%H:%M:%SZ"


class SasError(ValueError):
    """A SAS cannot be made as asked (unknown permission letter, unsignable version, bad key)."""


@dataclass(frozen=True)
class ContainerSas:
    container: str
    permissions: str
    expires: datetime
    token: str  # the query string, without a leading '?'


def normalise_permissions(letters: str) -> str:
    """``letters`` in the service's order; :class:`SasError` for a letter a container SAS does not know."""
    unknown = sorted(set(letters) - set(PERMISSION_ORDER))
    if unknown:
        raise SasError(f"unknown SAS permission {''.join(unknown)!r} (known: {PERMISSION_ORDER})")
    return "".join(p for p in PERMISSION_ORDER if p in letters)


def container_sas(
    account_name: str,
    account_key: str,
    container: str,
    permissions: str,
    *,
    lifetime: timedelta,
    now: datetime | None = None,
    version: str = SAS_VERSION,
) -> ContainerSas:
    """A service SAS for ``container`` (``sr=c``) with ``permissions``, signed for ``version``."""
    if version not in SIGNABLE_VERSIONS:
        raise SasError(
            f"cannot sign a service SAS for version {version} (known: {sorted(SIGNABLE_VERSIONS)})"
        )
    perms = normalise_permissions(permissions)
    if not perms:
        raise SasError("a SAS needs at least one permission")
    try:
        key = base64.b64decode(account_key, validate=True)
    except ValueError:
        raise SasError("the storage account key is not base64") from None
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start, expiry = now - CLOCK_SKEW, now + lifetime
    fields = {
        "sp": perms,
        "st": start.strftime(_TIME),
        "se": expiry.strftime(_TIME),
        "sv": version,
        "sr": "c",
    }
    # signedPermissions, signedStart, signedExpiry, canonicalizedResource, signedIdentifier, signedIP,
    # signedProtocol, signedVersion, signedResource, signedSnapshotTime, rscc, rscd, rsce, rscl, rsct
    string_to_sign = "\n".join(
        [
            fields["sp"],
            fields["st"],
            fields["se"],
            f"/blob/{account_name}/{container}",
            "",
            "",
            "",
            fields["sv"],
            fields["sr"],
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    signature = base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha256).digest()).decode()
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {**fields, "sig": signature}.items())
    return ContainerSas(container, perms, expiry, query)


def sas_connection_string(blob_endpoint: str, token: str) -> str:
    """A connection string holding only a SAS (no account key): what DVC and azure-storage-blob accept."""
    return f"BlobEndpoint={blob_endpoint.rstrip('/')};SharedAccessSignature={token}"
