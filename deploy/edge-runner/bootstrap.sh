#!/usr/bin/env bash
# Turn an Ubuntu 22.04/24.04 VM on Azure Stack Hub into edgetrain's ephemeral GitHub Actions runner.
#
#   bootstrap.sh            as root, idempotent: run by cloud-init at first boot, safe to run again
#   edgetrain-runner register   (installed copy) systemd's root-only pre-start step: register one runner
#
# Settings: /etc/edgetrain/runner.conf (KEY=VALUE lines, parsed, never executed):
#   GITHUB_REPOSITORY_URL  https://github.com/<owner>/<repo>            (required)
#   RUNNER_LABELS          comma list = runner.labels in config/edge.yaml (required)
#   RUNNER_NAME            default: the host name
#   GITHUB_API_URL         default https://api.github.com (GitHub Enterprise Server: https://<host>/api/v3)
# Secrets, root only (0600), written by cloud-init:
#   /etc/edgetrain/github-token               token allowed to create runner registration tokens
#                                             (fine-grained PAT or app token: Administration read/write)
#   /etc/edgetrain/storage-connection-string  moved into the runner's .env (0600, runner user only)
#
# For tests: EDGETRAIN_ROOT installs into another root (no apt, no service start, no user switch) and
# EDGETRAIN_RUNNER_URL / EDGETRAIN_RUNNER_SHA256 name another tarball (the checksum is always verified).
set -euo pipefail

RUNNER_VERSION="2.337.0"
RUNNER_SHA256_PINNED="70920811a4f8ad4328818682bca5c6469c1c942fab52448868071d0063816613"
RUNNER_USER="edgetrain-runner"

ROOT="${EDGETRAIN_ROOT:-}"
ETC="$ROOT/etc/edgetrain"
RUNNER_HOME="$ROOT/opt/edgetrain-runner"
UNIT_NAME="edgetrain-runner.service"
SELF_INSTALLED="$ROOT/usr/local/sbin/edgetrain-runner"
RUNNER_URL="${EDGETRAIN_RUNNER_URL:-https://github.com/actions/runner/releases/download/v$RUNNER_VERSION/actions-runner-linux-x64-$RUNNER_VERSION.tar.gz}"
RUNNER_SHA256="${EDGETRAIN_RUNNER_SHA256:-$RUNNER_SHA256_PINNED}"
CURL=(curl --fail --silent --show-error --location --retry 3 --max-time 300)

log() { printf 'edgetrain-runner: %s\n' "$*"; }
die() { printf 'edgetrain-runner: error: %s\n' "$*" >&2; exit 1; }

# conf KEY [DEFAULT]: the value of KEY in runner.conf (last one wins), else DEFAULT, else fail.
conf() {
  local key="$1" value=""
  if [[ -f "$ETC/runner.conf" ]]; then
    value="$(sed -n "s/^[[:space:]]*${key}[[:space:]]*=[[:space:]]*//p" "$ETC/runner.conf" | tail -n 1)"
    value="${value%\"}"; value="${value#\"}"
  fi
  if [[ -z "$value" ]]; then
    [[ $# -ge 2 ]] || die "$ETC/runner.conf: $key is not set"
    value="$2"
  fi
  printf '%s' "$value"
}

check_os() {
  [[ -r "$ROOT/etc/os-release" ]] || die "$ROOT/etc/os-release not found"
  local id version
  id="$(sed -n 's/^ID=//p' "$ROOT/etc/os-release" | tr -d '"')"
  version="$(sed -n 's/^VERSION_ID=//p' "$ROOT/etc/os-release" | tr -d '"')"
  [[ "$id" == ubuntu && ( "$version" == 22.04 || "$version" == 24.04 ) ]] \
    || die "Ubuntu 22.04 or 24.04 expected, found $id $version"
  [[ -n "$ROOT" || "$(uname -m)" == x86_64 ]] || die "the pinned runner is linux-x64; this machine is $(uname -m)"
}

install_packages() {
  if [[ -n "$ROOT" ]]; then log "packages: skipped (alternate root $ROOT)"; return; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # What the workflows call: git, make, Python 3 with venv (uv brings the pinned interpreter's packages).
  local python=(python3 python3-venv)
  # The project needs Python 3.11+ (uv never downloads one here); 22.04's python3 is 3.10.
  if grep -q '^VERSION_ID="\?22.04' /etc/os-release; then python+=(python3.11 python3.11-venv); fi
  apt-get install -y -q --no-install-recommends ca-certificates curl git make tar "${python[@]}"
}

install_runner_dependencies() {
  if [[ -n "$ROOT" ]]; then log "runner dependencies: skipped (alternate root $ROOT)"; return; fi
  "$RUNNER_HOME/bin/installdependencies.sh" > /dev/null  # the runner's own list (ICU, Kerberos, ...)
  log "runner dependencies: installed"
}

create_user() {
  if grep -q "^$RUNNER_USER:" "$ROOT/etc/passwd"; then log "user $RUNNER_USER: exists"; return; fi
  useradd ${ROOT:+--root "$ROOT"} --system --user-group --create-home --home-dir "/var/lib/$RUNNER_USER" \
    --shell /bin/bash "$RUNNER_USER"
  log "user $RUNNER_USER: created (unprivileged, no sudo)"
}

# uid:gid of the runner user, numeric (also right inside an alternate root).
owner() { awk -F: -v u="$RUNNER_USER" '$1 == u { print $3 ":" $4 }' "$ROOT/etc/passwd"; }

install_runner() {
  if [[ -f "$RUNNER_HOME/.edgetrain-runner-version" \
        && "$(cat "$RUNNER_HOME/.edgetrain-runner-version")" == "$RUNNER_VERSION" ]]; then
    log "runner $RUNNER_VERSION: installed"; return
  fi
  local tmp; tmp="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: $tmp is local
  trap "rm -rf '$tmp'" EXIT
  "${CURL[@]}" --output "$tmp/runner.tar.gz" "$RUNNER_URL" || die "cannot download $RUNNER_URL"
  echo "$RUNNER_SHA256  $tmp/runner.tar.gz" | sha256sum --check --status \
    || die "checksum mismatch for $RUNNER_URL (want sha256 $RUNNER_SHA256): refusing to install it"
  install -d -m 0750 "$RUNNER_HOME"
  tar -xzf "$tmp/runner.tar.gz" -C "$RUNNER_HOME"
  echo "$RUNNER_VERSION" > "$RUNNER_HOME/.edgetrain-runner-version"
  chown -R "$(owner)" "$RUNNER_HOME"
  log "runner $RUNNER_VERSION: installed in $RUNNER_HOME (sha256 verified)"
}

install_secrets() {
  install -d -m 0700 -o 0 -g 0 "$ETC"
  [[ -f "$ETC/github-token" ]] || die "$ETC/github-token is missing (a token that may create runner registration tokens)"
  chown 0:0 "$ETC/github-token"; chmod 0600 "$ETC/github-token"
  local env_file="$RUNNER_HOME/.env" source="$ETC/storage-connection-string"
  if [[ -f "$source" ]]; then
    local value; value="$(tr -d '\r\n' < "$source")"
    [[ -n "$value" ]] || die "$source is empty"
    touch "$env_file"; chmod 0600 "$env_file"; chown "$(owner)" "$env_file"
    { grep -v '^AZURE_STORAGE_CONNECTION_STRING=' "$env_file" || true; printf 'AZURE_STORAGE_CONNECTION_STRING=%s\n' "$value"; } \
      > "$env_file.new"
    chmod 0600 "$env_file.new"; chown "$(owner)" "$env_file.new"; mv "$env_file.new" "$env_file"
    rm -f "$source"
    log "storage connection string: in $env_file (0600, $RUNNER_USER only)"
  elif grep -q '^AZURE_STORAGE_CONNECTION_STRING=' "$env_file" 2>/dev/null; then
    log "storage connection string: kept"
  else
    die "$source is missing (the Stack Hub storage connection string)"
  fi
}

install_service() {
  local here; here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  install -D -m 0755 "${BASH_SOURCE[0]}" "$SELF_INSTALLED"
  install -D -m 0644 "$here/$UNIT_NAME" "$ROOT/etc/systemd/system/$UNIT_NAME"
  if [[ -n "$ROOT" ]]; then
    systemctl --root="$ROOT" enable "$UNIT_NAME"
    log "service: enabled in $ROOT (not started)"
    return
  fi
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME"
  systemctl restart "$UNIT_NAME"
  log "service: enabled and started (comes back after a reboot)"
}

register() {
  local url api labels name token owner_repo reg
  url="$(conf GITHUB_REPOSITORY_URL)"; url="${url%/}"
  api="$(conf GITHUB_API_URL https://api.github.com)"; api="${api%/}"
  labels="$(conf RUNNER_LABELS)"
  name="$(conf RUNNER_NAME "$(hostname)")"
  owner_repo="$(printf '%s' "$url" | sed -E 's#^https?://[^/]+/##')"
  [[ "$owner_repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "GITHUB_REPOSITORY_URL $url is not https://<host>/<owner>/<repo>"
  token="$(tr -d '\r\n' < "$ETC/github-token")"
  reg="$("${CURL[@]}" --max-time 30 -X POST \
      -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" \
      -H "Authorization: Bearer $token" \
      "$api/repos/$owner_repo/actions/runners/registration-token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')" \
    || die "could not get a registration token from $api for $owner_repo (check $ETC/github-token)"
  # A previous ephemeral registration that never ran a job is replaced (--replace); drop its local files.
  rm -f "$RUNNER_HOME/.runner" "$RUNNER_HOME/.credentials" "$RUNNER_HOME/.credentials_rsaparams"
  local as_user=(runuser -u "$RUNNER_USER" --)
  [[ -z "$ROOT" ]] || as_user=()
  (cd "$RUNNER_HOME" && "${as_user[@]}" ./config.sh --unattended --ephemeral --replace --disableupdate \
      --url "$url" --token "$reg" --name "$name" --labels "$labels" --work _work)
  log "registered ephemeral runner $name with labels $labels"
}

main() {
  [[ "$(id -u)" == 0 ]] || die "run as root"
  case "${1:-bootstrap}" in
    bootstrap)
      check_os
      conf GITHUB_REPOSITORY_URL > /dev/null
      conf RUNNER_LABELS > /dev/null
      install_packages
      create_user
      install_runner
      install_runner_dependencies
      install_secrets
      install_service
      ;;
    register) register ;;
    *) die "usage: $0 [bootstrap|register]" ;;
  esac
}

main "$@"
