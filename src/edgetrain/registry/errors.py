"""Registry failures, each with its own exit code.

=====  ==========================  ==========================================================
code   error                       when
=====  ==========================  ==========================================================
2      ConfigError                 edge.yaml / params.yaml missing or invalid, workspace unset
5      QualityGateError            candidate's primary metric worse than production (no --force)
6      IntegrityError              model file / dvc.lock disagree with the commit (edgetrain.errors)
7      RegistryError               other registry failures (lock timeout, unexpected service reply)
8      RegistryAuthError           login failed (no Azure CLI login / OIDC token, token refused)
9      RegistryNotFoundError       workspace or model version not found
10     RegistryPermissionError     the identity may not read or write the workspace (HTTP 403)
11     RegistryNetworkError        the service could not be reached after bounded retries
=====  ==========================  ==========================================================
"""

from __future__ import annotations

from edgetrain.errors import EdgetrainError


class QualityGateError(EdgetrainError):
    """The candidate is worse than the production version by more than the tolerance."""

    exit_code = 5


class RegistryError(EdgetrainError):
    """A registry operation failed."""

    exit_code = 7


class RegistryAuthError(RegistryError):
    exit_code = 8


class RegistryNotFoundError(RegistryError):
    exit_code = 9


class RegistryPermissionError(RegistryError):
    exit_code = 10


class RegistryNetworkError(RegistryError):
    exit_code = 11
