#!/usr/bin/env bash
# release.yml's deploy jobs (docs/deploy.md): roll the production version's image, by digest, out to one
# target of config/edge.yaml. Usage: release-deploy.sh azureml|edge TARGET [rollback]
# Needs: an Azure login (azure/login, OIDC), GITHUB_STEP_SUMMARY and RUNNER_TEMP (set by Actions).
# On an edge host the command runs under `sudo -n` (it writes systemd units and runs systemctl): the
# runner's user needs exactly that sudoers rule (docs/deploy.md, "edge-host").
set -euo pipefail

mode=${1:?azureml or edge} target=${2:?target name} action=${3:-deploy}
edgetrain=("$PWD/.venv/bin/edgetrain")
if [ "$mode" = edge ]; then edgetrain=(sudo -n --preserve-env=AZURE_CONFIG_DIR "$PWD/.venv/bin/edgetrain"); fi

refused() {
  cat deploy.err >&2
  { echo "### Deploy refused: $target"; echo; sed 's/^edgetrain: error: //' deploy.err; } >> "$GITHUB_STEP_SUMMARY"
  exit 1
}

if [ "$action" = rollback ]; then
  "${edgetrain[@]}" deploy rollback --backend azureml --target "$target" --summary "$GITHUB_STEP_SUMMARY" 2> deploy.err || refused
  exit 0
fi

version=$(.venv/bin/edgetrain models show --production --backend azureml --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
read -r server repository < <(.venv/bin/python -c '
from edgetrain.config.edge import load_edge_config
c = load_edge_config("config/edge.yaml").acr
print(c.login_server, c.repository)')

# An ACR refresh token from the OIDC login, as registry credentials for skopeo (no secret stored).
token=$(az acr login --name "${server%%.*}" --expose-token --output tsv --query accessToken)
echo "::add-mask::$token"
authfile="$RUNNER_TEMP/acr-auth.json"
(umask 077 && ACR_TOKEN="$token" ACR_SERVER="$server" python3 -c '
import base64, json, os
auth = base64.b64encode(("00000000-0000-0000-0000-000000000000:" + os.environ["ACR_TOKEN"]).encode()).decode()
print(json.dumps({"auths": {os.environ["ACR_SERVER"]: {"auth": auth}}}))' > "$authfile")

# The tag ship pushed names the version; from here on the image is pinned by its digest.
digest=$(skopeo inspect --authfile "$authfile" --format '{{.Digest}}' "docker://$server/$repository:$version")
image="$server/$repository@$digest"
if [ "$mode" = edge ]; then sudo -n podman pull --quiet --authfile "$authfile" "$image" > /dev/null; fi

"${edgetrain[@]}" deploy --backend azureml --target "$target" --version "$version" --image "$image" \
  --authfile "$authfile" --summary "$GITHUB_STEP_SUMMARY" 2> deploy.err || refused
rm -f "$authfile"
