#!/usr/bin/env bash
# release.yml's and rollback.yml's deploy steps (docs/deploy.md). Actions sets GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY and RUNNER_TEMP.
#   release-deploy.sh plan                  hosted, Azure login: targets by kind, production version, its
#                                           image by digest (outputs), its model files -> build/deploy/
#   release-deploy.sh azureml TARGET        hosted, Azure login, VERSION and IMAGE from the plan
#   release-deploy.sh edge TARGET           on the host, no Azure: VERSION, IMAGE, build/deploy/metadata.json;
#                                           writes build/outcome.json for `edgetrain deploy record`
#   release-deploy.sh azureml|edge TARGET rollback
#   release-deploy.sh acr-login             hosted, Azure login: ACR login into ~/.docker/config.json
# On an edge host the command runs under `sudo -n` (it writes systemd units and runs systemctl) and the
# registry credential is the host's own pull-only one, /etc/edgetrain/registry-auth.json (docs/deploy.md).
set -euo pipefail

mode=${1:?plan, azureml or edge} target=${2:-} action=${3:-deploy}
venv="$PWD/.venv/bin"
edge_auth=/etc/edgetrain/registry-auth.json

refused() {
  cat deploy.err >&2
  { echo "### Deploy refused: $target"; echo; sed 's/^edgetrain: error: //' deploy.err; } >> "$GITHUB_STEP_SUMMARY"
  exit 1
}

docker_config="$HOME/.docker/config.json"

acr_login() {  # an ACR refresh token from the OIDC login (no secret stored), in the Docker config: where
  # skopeo and buildah (--authfile) and attest-build-provenance's push-to-registry (~/.docker/config.json
  # only) read registry logins. Hosted jobs start with an empty HOME; the job's last step removes it.
  local server token
  server=$("$venv/python" -c 'from edgetrain.config.edge import load_edge_config as c; print(c("config/edge.yaml").acr.login_server)')
  token=$(az acr login --name "${server%%.*}" --expose-token --output tsv --query accessToken)
  echo "::add-mask::$token"
  (umask 077 && mkdir -p "$HOME/.docker")
  (umask 077 && ACR_TOKEN="$token" ACR_SERVER="$server" python3 -c '
import base64, json, os
auth = base64.b64encode(("00000000-0000-0000-0000-000000000000:" + os.environ["ACR_TOKEN"]).encode()).decode()
print(json.dumps({"auths": {os.environ["ACR_SERVER"]: {"auth": auth}}}))' > "$docker_config")
}

case "$mode/$action" in
  acr-login/deploy)  # release.yml's ship job (the attestation reads the login there too)
    acr_login
    ;;
  plan/deploy)
    "$venv/python" - <<'PY' >> "$GITHUB_OUTPUT"
import json
from edgetrain.config.edge import load_edge_config
targets = load_edge_config("config/edge.yaml").deploy.targets
print("azureml=" + json.dumps([t.name for t in targets if t.kind.startswith("azureml-")]))
print("edge=" + json.dumps([t.name for t in targets if t.kind == "edge-host"]))
PY
    "$venv/edgetrain" models fetch-production --backend azureml --out build/deploy
    version=$("$venv/python" -c 'import json; print(json.load(open("build/deploy/production.json"))["version"])')
    read -r server repository < <("$venv/python" -c '
from edgetrain.config.edge import load_edge_config
c = load_edge_config("config/edge.yaml").acr
print(c.login_server, c.repository)')
    acr_login # not in $(...): its ::add-mask:: line must reach the runner before the token is used
    # The tag ship pushed names the version; from here on the image is pinned by its digest.
    tls=--tls-verify=true  # plain HTTP only for a loopback registry (the rehearsal's), as edge_runtime.py does
    case "$server" in 127.0.0.1:* | localhost:* | "[::1]:"*) tls=--tls-verify=false ;; esac
    digest=$(skopeo inspect "$tls" --authfile "$docker_config" --format '{{.Digest}}' "docker://$server/$repository:$version")
    rm -f "$docker_config"
    { echo "version=$version"; echo "image=$server/$repository@$digest"; } >> "$GITHUB_OUTPUT"
    ;;
  azureml/deploy)
    trap 'rm -f "$docker_config"' EXIT # the login goes with the step, refused or not
    acr_login # not in $(...): its ::add-mask:: line must reach the runner before the token is used
    "$venv/edgetrain" deploy --backend azureml --target "$target" --version "${VERSION:?}" --image "${IMAGE:?}" \
      --authfile "$docker_config" --summary "$GITHUB_STEP_SUMMARY" 2> deploy.err || refused
    ;;
  edge/deploy)
    sudo -n podman pull --quiet --authfile "$edge_auth" "${IMAGE:?}" > /dev/null
    sudo -n "$venv/edgetrain" deploy --target "$target" --version "${VERSION:?}" --image "$IMAGE" \
      --authfile "$edge_auth" --model-dir build/deploy --outcome build/outcome.json \
      --summary "$GITHUB_STEP_SUMMARY" 2> deploy.err || refused
    ;;
  azureml/rollback)
    "$venv/edgetrain" deploy rollback --backend azureml --target "$target" \
      --summary "$GITHUB_STEP_SUMMARY" 2> deploy.err || refused
    ;;
  edge/rollback)
    sudo -n "$venv/edgetrain" deploy rollback --target "$target" --outcome build/outcome.json \
      --summary "$GITHUB_STEP_SUMMARY" 2> deploy.err || refused
    ;;
  *)
    echo "release-deploy.sh: unknown mode $mode/$action" >&2
    exit 2
    ;;
esac
