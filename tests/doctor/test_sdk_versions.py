"""doctor probes a version the SDK does not list (the start-up pin may have trimmed it) without crashing
and without changing the version the process's other clients send by default."""

from __future__ import annotations

import azure.storage.blob._serialize as serialize
import pytest

from edgetrain.doctor import remote


def test_unknown_version_becomes_selectable_not_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serialize, "_SUPPORTED_API_VERSIONS", ["2019-02-02", "2019-07-07"])
    default = serialize.get_api_version({})
    remote._sdk_knows("2018-11-09")
    assert "2018-11-09" in serialize._SUPPORTED_API_VERSIONS
    assert serialize.get_api_version({}) == default
    assert serialize.get_api_version({"api_version": "2018-11-09"}) == "2018-11-09"
    remote._sdk_knows("2019-07-07")
    assert serialize._SUPPORTED_API_VERSIONS.count("2019-07-07") == 1
