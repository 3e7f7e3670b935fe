"""azuredeploy.json (Stack Hub ARM template, hybrid API profile): checked structurally offline; it could
only be deployed on a Stack Hub stamp. No inbound rule, outbound HTTPS to an allowlist only (GitHub's ranges,
the storage endpoint, the package mirrors, each a parameter), both containers as configured."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO_ROOT

from edgetrain.config.edge import load_edge_config

TEMPLATE = json.loads((REPO_ROOT / "deploy" / "edge-runner" / "azuredeploy.json").read_text())


def _resources(kind: str) -> list[dict]:
    return [r for r in TEMPLATE["resources"] if r["type"] == kind]


def test_hybrid_profile_and_every_reference_defined() -> None:
    assert TEMPLATE["apiProfile"].endswith("-hybrid")
    text = json.dumps(TEMPLATE)
    assert set(re.findall(r"parameters\('(\w+)'\)", text)) <= set(TEMPLATE["parameters"])
    assert set(re.findall(r"variables\('(\w+)'\)", text)) <= set(TEMPLATE["variables"])
    for resource in TEMPLATE["resources"]:
        # resources without apiVersion take it from the profile; those outside it must name one
        assert "apiVersion" in resource or resource["type"].count("/") == 1


def test_containers_default_to_the_configured_names() -> None:
    storage = load_edge_config(REPO_ROOT / "config" / "edge.yaml").storage
    params = TEMPLATE["parameters"]
    assert params["rawContainer"]["defaultValue"] == storage.raw_container
    assert params["dvcContainer"]["defaultValue"] == storage.dvc_container
    assert params["prContainer"]["defaultValue"] == storage.pr_container
    names = [c["name"] for c in _resources("Microsoft.Storage/storageAccounts/blobServices/containers")]
    assert sorted(names) == sorted(
        f"[concat(parameters('storageAccountName'), '/default/', parameters('{p}'))]"
        for p in ("rawContainer", "dvcContainer", "prContainer")
    )


def test_no_inbound_port_and_outbound_https_to_the_allowlist_only() -> None:
    [nsg] = _resources("Microsoft.Network/networkSecurityGroups")
    rules = [r["properties"] for r in nsg["properties"]["securityRules"]]
    assert not [r for r in rules if r["direction"] == "Inbound" and r["access"] == "Allow"]
    allowed_out = [r for r in rules if r["direction"] == "Outbound" and r["access"] == "Allow"]
    assert {(r["protocol"], r["destinationPortRange"]) for r in allowed_out} == {("Tcp", "443")}
    # Never "443 to any": each allow rule names a parameter holding the allowlisted prefixes.
    assert sorted(r["destinationAddressPrefixes"] for r in allowed_out) == sorted(
        f"[parameters('{name}')]"
        for name in ("githubAddressPrefixes", "storageAddressPrefixes", "packageMirrorAddressPrefixes")
    )
    assert not [r for r in allowed_out if "destinationAddressPrefix" in r]
    for name in ("githubAddressPrefixes", "storageAddressPrefixes", "packageMirrorAddressPrefixes"):
        assert TEMPLATE["parameters"][name]["type"] == "array"
        assert "defaultValue" not in TEMPLATE["parameters"][name]  # the operator fills it in, no open default
    deny_out = [r for r in rules if r["direction"] == "Outbound" and r["access"] == "Deny"]
    assert deny_out
    assert all(r["destinationPortRange"] == "*" and r["destinationAddressPrefix"] == "*" for r in deny_out)
    assert max(r["priority"] for r in allowed_out) < min(r["priority"] for r in deny_out)
    nsg_id = "[resourceId('Microsoft.Network/networkSecurityGroups', variables('nsgName'))]"
    [nic] = _resources("Microsoft.Network/networkInterfaces")
    assert nic["properties"]["networkSecurityGroup"]["id"] == nsg_id
    [vnet] = _resources("Microsoft.Network/virtualNetworks")
    assert all(s["properties"]["networkSecurityGroup"]["id"] == nsg_id for s in vnet["properties"]["subnets"])


def test_vm_takes_user_data_as_a_secret_and_no_password() -> None:
    assert TEMPLATE["parameters"]["customData"]["type"] == "secureString"
    assert "defaultValue" not in TEMPLATE["parameters"]["customData"]
    [vm] = _resources("Microsoft.Compute/virtualMachines")
    profile = vm["properties"]["osProfile"]
    assert profile["customData"] == "[parameters('customData')]"
    assert profile["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert "adminPassword" not in profile
