"""Error mapping and bounded exponential backoff of the azureml backend (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import CredentialUnavailableError

from edgetrain.config.edge import AzureMLConfig
from edgetrain.registry import azureml
from edgetrain.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNetworkError,
    RegistryNotFoundError,
    RegistryPermissionError,
)

CFG = AzureMLConfig(
    subscription_id="11111111-2222-3333-4444-555555555555",
    resource_group="rg",
    workspace="ws",
    model_name="m",
)


def http_error(status: int) -> HttpResponseError:
    err = HttpResponseError(message=f"HTTP {status} from service\nsecond line")
    err.status_code = status
    return err


@pytest.mark.parametrize(
    ("exc", "expected", "exit_code"),
    [
        (CredentialUnavailableError("az login needed"), RegistryAuthError, 8),
        (ClientAuthenticationError("AADSTS70021"), RegistryAuthError, 8),
        (ResourceNotFoundError("workspace gone"), RegistryNotFoundError, 9),
        (http_error(403), RegistryPermissionError, 10),
        (http_error(401), RegistryAuthError, 8),
        (ServiceRequestError("connection refused"), RegistryNetworkError, 11),
        (ConnectionResetError("reset"), RegistryNetworkError, 11),
        (http_error(409), RegistryError, 7),
    ],
)
def test_translate(exc: Exception, expected: type, exit_code: int) -> None:
    mapped = azureml.translate(exc, "list model versions", "workspace ws")
    assert type(mapped) is expected
    assert mapped.exit_code == exit_code
    assert "\n" not in str(mapped)


class FlakyModels:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def list(self, name: str) -> list[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ServiceRequestError("connection refused")
        return []


def registry_with(models: FlakyModels, sleeps: list[float]) -> azureml.AzureMLRegistry:
    reg = azureml.AzureMLRegistry(CFG, credential=object(), sleep=sleeps.append)
    reg.__dict__["client"] = type(
        "FakeClient", (), {"models": models}
    )()  # the SDK itself is exercised elsewhere
    return reg


def test_network_errors_back_off_exponentially_then_succeed() -> None:
    sleeps: list[float] = []
    models = FlakyModels(failures=3)
    assert registry_with(models, sleeps).list_versions() == []
    assert sleeps == [1.0, 2.0, 4.0]
    assert models.calls == 4


def test_network_errors_are_bounded() -> None:
    sleeps: list[float] = []
    models = FlakyModels(failures=99)
    with pytest.raises(RegistryNetworkError, match="after 4 attempts"):
        registry_with(models, sleeps).list_versions()
    assert models.calls == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_default_credential_never_uses_a_secret_or_browser() -> None:
    cred = azureml.default_credential()
    names = {type(c).__name__ for c in cred.credentials}
    assert "EnvironmentCredential" not in names
    assert "InteractiveBrowserCredential" not in names
    assert "ManagedIdentityCredential" not in names
    assert "AzureCliCredential" in names
