"""Azure/login stand-in: the OIDC federated exchange, then an `az` that hands out the access token."""

import json
import os
import stat
import sys
import urllib.parse
import urllib.request
from pathlib import Path

AZ = """#!/usr/bin/env python3
# az stand-in left by the rehearsal's azure/login: only what azure-identity's AzureCliCredential runs.
import json, os, sys, time, urllib.parse, urllib.request
state = json.load(open({state!r}))
args = sys.argv[1:]
if args[:2] == ["account", "get-access-token"]:
    print(json.dumps({{"accessToken": state["access_token"], "expiresOn": "",
                      "expires_on": int(time.time()) + 3000, "subscription": state["subscription"],
                      "tenant": state["tenant"], "tokenType": "Bearer"}}))
elif args[:2] == ["acr", "login"] and "--expose-token" in args:
    # ACR's token exchange: the Azure access token buys a registry refresh token (the registry's login)
    form = urllib.parse.urlencode({{"grant_type": "access_token", "access_token": state["access_token"]}})
    with urllib.request.urlopen(os.environ["EDGETRAIN_REHEARSAL_ACR_EXCHANGE_URL"], data=form.encode(),
                                timeout=30) as resp:
        print(json.load(resp)["refresh_token"])
elif args[:2] == ["account", "show"]:
    print(json.dumps({{"id": state["subscription"], "tenantId": state["tenant"],
                      "user": {{"type": "servicePrincipal"}}}}))
else:
    sys.exit("az (rehearsal stand-in): only `account get-access-token|show`, `acr login --expose-token`")
"""


def main() -> int:
    env = os.environ
    if env.get("INPUT_CREDS", "").strip():
        print("::error::creds (a client secret) given: this project logs in with OIDC only")
        return 1
    client, tenant, sub = (
        env.get(f"INPUT_{k}", "").strip() for k in ("CLIENT_ID", "TENANT_ID", "SUBSCRIPTION_ID")
    )
    if not (client and tenant):
        print("::error::Using OIDC authentication requires client-id and tenant-id")
        return 1
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not (url and bearer):
        print(
            "::error::Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable (the job needs id-token: write)"
        )
        return 1
    audience = urllib.parse.quote(env.get("INPUT_AUDIENCE") or "api://AzureADTokenExchange", safe="")
    req = urllib.request.Request(f"{url}&audience={audience}", headers={"Authorization": f"Bearer {bearer}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        id_token = json.load(resp)["value"]
    form = urllib.parse.urlencode(
        {
            "client_id": client,
            "scope": "https://management.azure.com/.default",
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": id_token,
        }
    ).encode()
    token_url = f"{env['EDGETRAIN_REHEARSAL_ENTRA_URL'].rstrip('/')}/{tenant}/oauth2/v2.0/token"
    try:
        with urllib.request.urlopen(token_url, data=form, timeout=30) as resp:
            access = json.load(resp)["access_token"]
    except urllib.error.HTTPError as err:
        print(f"::error::Login failed: {err.read().decode(errors='replace')[:300]}")
        return 1
    folder = Path(env["RUNNER_TEMP"]) / "azure-login-standin"
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    state = folder / "token.json"
    state.write_text(json.dumps({"access_token": access, "tenant": tenant, "subscription": sub}))
    state.chmod(0o600)
    az = folder / "bin" / "az"
    az.write_text(AZ.format(state=str(state)))
    az.chmod(az.stat().st_mode | stat.S_IXUSR)
    with open(env["GITHUB_PATH"], "a", encoding="utf-8") as out:
        out.write(f"{folder / 'bin'}\n")
    print(f"Login successful (rehearsal: federated credential of client {client} in tenant {tenant})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
