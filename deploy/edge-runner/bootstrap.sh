#!/usr/bin/env bash
# Turn an Ubuntu 22.04/24.04 VM on Azure Stack Hub into edgetrain's edge runner host: a root-only systemd
# service (runner_host.py) that registers one just-in-time GitHub Actions runner at a time and runs its one job
# in a fresh bubblewrap sandbox (job_sandbox.py) that is deleted after the job. See docs/edge-vm.md.
#
#   bootstrap.sh      as root, idempotent: run by cloud-init at first boot, safe to run again
#
# Settings: /etc/edgetrain/runner.conf (KEY=VALUE lines, parsed, never executed; runner_host.py reads it too):
#   GITHUB_REPOSITORY_URL  https://github.com/<owner>/<repo>                       (required)
#   RUNNER_LABELS          comma list = runner.labels in config/edge.yaml          (required)
#   ROOTFS_IMAGE           the jobs' root file system: an image pinned by digest   (required)
#                          <registry>/<name>@sha256:<64 hex>, unpacked root-owned into /var/lib/edgetrain/rootfs
#   TEMPLATE_COMMIT        the reviewed default-branch commit (40 hex) the credential broker is installed
#                          from: its code (uv.lock, --no-dev), policy and config/edge.yaml     (required)
#   TEMPLATE_URL           where that commit is fetched from (git; default GITHUB_REPOSITORY_URL)
#   RUNNER_NAME, GITHUB_API_URL, GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID, RUNNER_POOL, RUNNER_GROUP_ID
# Secrets, root only (0600 in the 0700 /etc/edgetrain), written by cloud-init, never moved anywhere a job reads:
#   github-app.pem (with GITHUB_APP_ID, preferred) or github-token   mints just-in-time runner configurations
#   storage-account.key    the storage account's key (one line): read only by the credential broker
#
# Root never writes into a directory the runner user can write: the runner install, its version stamp and
# every secret are written into root-owned directories, through a temporary file and a rename that refuses
# symlinks. A runner install left by an older bootstrap (owned by the runner user) is discarded and replaced.
#
# For tests: EDGETRAIN_ROOT installs into another root (no apt, no image pull, no service start; no broker venv
# unless EDGETRAIN_BROKER_VENV=build) and
# EDGETRAIN_RUNNER_URL / EDGETRAIN_RUNNER_SHA256 name another tarball (the checksum is always verified).
set -euo pipefail

RUNNER_VERSION="2.337.0"
RUNNER_SHA256_PINNED="70920811a4f8ad4328818682bca5c6469c1c942fab52448868071d0063816613"
RUNNER_USER="edgetrain-runner"

ROOT="${EDGETRAIN_ROOT:-}"
ETC="$ROOT/etc/edgetrain"
LIB="$ROOT/usr/local/lib/edgetrain-runner"
RUNNER_HOME="$ROOT/opt/edgetrain-runner"
STATE="$ROOT/var/lib/edgetrain"
CACHE="$ROOT/var/cache/edgetrain"
UNIT_NAME="edgetrain-runner.service"
BROKER_UNIT="edgetrain-broker.service"
BROKER_HOME="$ROOT/opt/edgetrain-broker"  # venv/bin/edgetrain is the broker unit's ExecStart
HOST_FILES=(runner_host.py job_sandbox.py)
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

# root_dir PATH MODE: PATH is a directory owned by root, writable by root only, and not a symlink.
root_dir() {
  local path="$1" mode="$2"
  [[ ! -L "$path" ]] || die "$path is a symlink: remove it (root does not follow links here)"
  install -d -m "$mode" -o 0 -g 0 "$path"
  chown 0:0 "$path"; chmod "$mode" "$path"
}

# safe_write DEST MODE < content: a temporary file in DEST's root-owned directory, then an atomic rename
# (rename replaces a symlink instead of following it; one at DEST is refused all the same).
safe_write() {
  local dest="$1" mode="$2" dir tmp
  dir="$(dirname "$dest")"
  [[ -d "$dir" && ! -L "$dir" && "$(stat -c %u "$dir")" == 0 ]] || die "$dir must be a root-owned directory"
  [[ "$(stat -c %a "$dir")" =~ ^[0-7]?[0-7][0145][0145]$ ]] || die "$dir is writable by others: refusing to write in it"
  [[ ! -L "$dest" ]] || die "$dest is a symlink: refusing to write through it"
  tmp="$(mktemp "$dir/.edgetrain.XXXXXX")"
  cat > "$tmp"
  chown 0:0 "$tmp"; chmod "$mode" "$tmp"
  mv -fT "$tmp" "$dest"
}

install_packages() {
  if [[ -n "$ROOT" ]]; then log "packages: skipped (alternate root $ROOT)"; return; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # The host needs python3 (runner_host.py), bubblewrap (the job sandbox), buildah (the pinned rootfs) and
  # openssl (GitHub App tokens); what jobs run comes from the rootfs image, not from the host.
  # git and python3-venv install the credential broker from the pinned template commit.
  apt-get install -y -q --no-install-recommends ca-certificates curl tar python3 python3-venv git bubblewrap \
    buildah openssl
}

create_user() {
  if grep -q "^$RUNNER_USER:" "$ROOT/etc/passwd"; then log "user $RUNNER_USER: exists"; return; fi
  # No home directory: every job gets a fresh HOME inside its sandbox.
  useradd ${ROOT:+--root "$ROOT"} --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$RUNNER_USER"
  log "user $RUNNER_USER: created (unprivileged, no sudo, no home)"
}

# The installed runner is good when its stamp matches and every file in it is root-owned and not writable by
# group or others (an install from an older bootstrap was the runner user's, so a job may have edited it).
runner_intact() {
  [[ -d "$RUNNER_HOME" && ! -L "$RUNNER_HOME" && -f "$RUNNER_HOME/.edgetrain-runner-version" ]] || return 1
  [[ "$(cat "$RUNNER_HOME/.edgetrain-runner-version")" == "$RUNNER_VERSION" ]] || return 1
  [[ -z "$(find "$RUNNER_HOME" \( ! -uid 0 -o -perm /022 \) ! -type l -print -quit)" ]]
}

install_runner() {
  if runner_intact; then log "runner $RUNNER_VERSION: installed (root-owned)"; return; fi
  root_dir "$ROOT/opt" 0755
  local tmp; tmp="$(mktemp -d "$ROOT/opt/.edgetrain-runner.XXXXXX")"  # root-owned 0700 until it is complete
  # shellcheck disable=SC2064  # expand now: $tmp is local
  trap "rm -rf '$tmp'" EXIT
  "${CURL[@]}" --output "$tmp/runner.tar.gz" "$RUNNER_URL" || die "cannot download $RUNNER_URL"
  echo "$RUNNER_SHA256  $tmp/runner.tar.gz" | sha256sum --check --status \
    || die "checksum mismatch for $RUNNER_URL (want sha256 $RUNNER_SHA256): refusing to install it"
  mkdir "$tmp/runner"
  tar -xzf "$tmp/runner.tar.gz" -C "$tmp/runner" --no-same-owner --no-same-permissions
  rm "$tmp/runner.tar.gz"
  mkdir "$tmp/runner/_work" "$tmp/runner/_diag"  # mount points for the job's fresh directories
  chown -R 0:0 "$tmp/runner"; chmod -R go-w "$tmp/runner"; chmod 0755 "$tmp/runner"
  printf '%s\n' "$RUNNER_VERSION" | safe_write "$tmp/runner/.edgetrain-runner-version" 0644
  if [[ -e "$RUNNER_HOME" || -L "$RUNNER_HOME" ]]; then
    mv -T "$RUNNER_HOME" "$tmp/old"  # an old or tampered install, with whatever a job planted in it
  fi
  mv -T "$tmp/runner" "$RUNNER_HOME"
  rm -rf "$tmp"
  trap - EXIT
  log "runner $RUNNER_VERSION: installed in $RUNNER_HOME (sha256 verified, root-owned, read-only to jobs)"
}

# secure_secret NAME: an existing regular file in $ETC becomes root-owned 0600 (a symlink is refused).
secure_secret() {
  local path="$ETC/$1"
  [[ ! -L "$path" ]] || die "$path is a symlink: replace it with the file itself"
  [[ -f "$path" ]] || return 1
  chown 0:0 "$path"; chmod 0600 "$path"
}

install_secrets() {
  root_dir "$ETC" 0700
  if [[ -n "$(conf GITHUB_APP_ID '')" ]]; then
    secure_secret github-app.pem || die "$ETC/github-app.pem is missing (the private key of the GitHub App in GITHUB_APP_ID)"
  else
    secure_secret github-token \
      || die "$ETC/github-token is missing (a fine-grained token with Administration: read and write; or set GITHUB_APP_ID and github-app.pem)"
  fi
  # Older user data wrote a connection string (which older bootstraps put in the runner's .env, so every job
  # had it; no job environment holds it now): keep only its key, for the broker.
  local old="$ETC/storage-connection-string"
  if [[ -f "$old" && ! -L "$old" && ! -e "$ETC/storage-account.key" ]]; then
    local key; key="$(tr -d '\r\n' < "$old" | sed -n 's/.*AccountKey=\([^;]*\).*/\1/p')"
    [[ -n "$key" ]] || die "$old holds no AccountKey: put the storage account's key in $ETC/storage-account.key"
    printf '%s\n' "$key" | safe_write "$ETC/storage-account.key" 0600
    rm -f "$old"
  fi
  secure_secret storage-account.key \
    || die "$ETC/storage-account.key is missing (the storage account's key, for the credential broker)"
  log "secrets: root-only in $ETC (0600); no job environment holds them"
}

# The credential broker from TEMPLATE_COMMIT (a reviewed commit of the default branch; git checks that what it
# fetched is that commit): a root-owned venv with the locked dependencies (uv sync --frozen --no-dev, uv
# itself pip-installed by hash from the commit's requirements-uv.txt), and root-owned copies of its policy and
# of config/edge.yaml in /etc/edgetrain. The venv is rebuilt only when the commit changes.
install_broker() {
  local commit url src
  commit="$(conf TEMPLATE_COMMIT)"
  [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || die "$ETC/runner.conf: TEMPLATE_COMMIT $commit is not a full commit id (40 hex)"
  url="$(conf TEMPLATE_URL "$(conf GITHUB_REPOSITORY_URL)")"
  root_dir "$ROOT/opt" 0755; root_dir "$BROKER_HOME" 0755
  src="$(mktemp -d "$BROKER_HOME/.src.XXXXXX")"  # root-owned 0700
  # shellcheck disable=SC2064  # expand now: $src is local
  trap "rm -rf '$src'" EXIT
  git -C "$src" init -q
  git -C "$src" fetch -q --depth 1 "$url" "$commit" \
    || die "cannot fetch commit $commit from $url: check TEMPLATE_URL / TEMPLATE_COMMIT and the egress allowlist"
  git -C "$src" -c advice.detachedHead=false checkout -q FETCH_HEAD
  [[ "$(git -C "$src" rev-parse HEAD)" == "$commit" ]] || die "$url did not serve commit $commit"
  local file
  for file in deploy/edge-runner/broker-policy.yaml config/edge.yaml uv.lock requirements-uv.txt; do
    [[ -f "$src/$file" && ! -L "$src/$file" ]] || die "commit $commit has no $file: is TEMPLATE_COMMIT a commit of this template?"
  done
  safe_write "$ETC/broker-policy.yaml" 0644 < "$src/deploy/edge-runner/broker-policy.yaml"
  safe_write "$ETC/edge.yaml" 0644 < "$src/config/edge.yaml"
  if [[ -n "$ROOT" && "${EDGETRAIN_BROKER_VENV:-}" != build ]]; then
    log "broker: policy and config from $commit in $ETC; venv skipped (alternate root $ROOT)"
  elif [[ -x "$BROKER_HOME/venv/bin/edgetrain" && "$(cat "$BROKER_HOME/venv/.edgetrain-commit" 2>/dev/null)" == "$commit" ]]; then
    log "broker: venv from $commit installed"
  else
    python3 -m venv "$src/.uv"
    "$src/.uv/bin/pip" install -q --require-hashes --no-deps -r "$src/requirements-uv.txt"
    rm -rf "$BROKER_HOME/venv"
    (cd "$src" && UV_PROJECT_ENVIRONMENT="$BROKER_HOME/venv" UV_CACHE_DIR="$src/.cache" \
      UV_PYTHON_INSTALL_DIR="$BROKER_HOME/python" "$src/.uv/bin/uv" sync -q --frozen --no-dev --no-editable) \
      || die "cannot install the broker's locked dependencies from $commit (uv sync --frozen --no-dev)"
    printf '%s\n' "$commit" | safe_write "$BROKER_HOME/venv/.edgetrain-commit" 0644
    chown -R 0:0 "$BROKER_HOME"; chmod -R go-w "$BROKER_HOME"
    log "broker: venv from $commit in $BROKER_HOME/venv (uv.lock, no dev dependencies, root-owned)"
  fi
  rm -rf "$src"
  trap - EXIT
}

install_rootfs() {
  local image digest target
  image="$(conf ROOTFS_IMAGE)"
  [[ "$image" =~ @sha256:([0-9a-f]{64})$ ]] || die "$ETC/runner.conf: ROOTFS_IMAGE $image is not pinned by digest (<image>@sha256:<64 hex>)"
  digest="${BASH_REMATCH[1]}"
  root_dir "$STATE" 0711; root_dir "$STATE/rootfs" 0755; root_dir "$STATE/jobs" 0711
  root_dir "$ROOT/var/cache" 0755; root_dir "$CACHE" 0755; root_dir "$CACHE/seed" 0755
  target="$STATE/rootfs/$digest"
  if [[ -n "$ROOT" ]]; then log "rootfs: skipped (alternate root $ROOT)"; return; fi
  if [[ ! -f "$target/.edgetrain-image" ]]; then
    local tmp ctr mnt
    tmp="$(mktemp -d "$STATE/rootfs/.unpack.XXXXXX")"
    ctr="$(buildah --storage-driver vfs from --pull-always "$image")" || die "cannot pull $image: check the egress allowlist and ROOTFS_IMAGE"
    mnt="$(buildah --storage-driver vfs mount "$ctr")"
    cp -a "$mnt/." "$tmp/"
    buildah --storage-driver vfs rm "$ctr" > /dev/null
    [[ -x "$tmp/usr/bin/sh" && -d "$tmp/etc" ]] || die "$image has no /usr/bin/sh or /etc: choose a merged-/usr Linux image"
    chown 0:0 "$tmp"; chmod 0755 "$tmp"; chmod -R go-w "$tmp"
    printf '%s\n' "$image" | safe_write "$tmp/.edgetrain-image" 0644
    mv -T "$tmp" "$target"
  fi
  ln -sfn "$digest" "$STATE/rootfs/.current.new" && mv -T "$STATE/rootfs/.current.new" "$STATE/rootfs/current"
  log "rootfs: $image in $target (root-owned, read-only to jobs)"
}

install_service() {
  local here file; here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  root_dir "$LIB" 0755
  if [[ "$here" != "$(cd "$LIB" && pwd)" ]]; then
    for file in bootstrap.sh "${HOST_FILES[@]}" "$UNIT_NAME" "$BROKER_UNIT"; do
      safe_write "$LIB/$file" 0644 < "$here/$file"
    done
    chmod 0755 "$LIB/bootstrap.sh"
  fi
  root_dir "$ROOT/etc/systemd" 0755; root_dir "$ROOT/etc/systemd/system" 0755
  # The broker first: the runner unit Wants= and is After= it (jobs reach it via /run/edgetrain-broker).
  safe_write "$ROOT/etc/systemd/system/$BROKER_UNIT" 0644 < "$here/$BROKER_UNIT"
  safe_write "$ROOT/etc/systemd/system/$UNIT_NAME" 0644 < "$here/$UNIT_NAME"
  rm -f "$ROOT/usr/local/sbin/edgetrain-runner"  # the registration step of older bootstraps
  if [[ -n "$ROOT" ]]; then
    systemctl --root="$ROOT" enable "$BROKER_UNIT" "$UNIT_NAME"
    log "service: enabled in $ROOT (not started)"
    return
  fi
  systemctl daemon-reload
  systemctl enable "$BROKER_UNIT" "$UNIT_NAME"
  systemctl restart "$BROKER_UNIT"  # a new key, policy or venv takes effect
  systemctl restart "$UNIT_NAME"
  log "services: broker and runner enabled and started (come back after a reboot)"
}

main() {
  [[ "$(id -u)" == 0 ]] || die "run as root"
  case "${1:-bootstrap}" in
    bootstrap)
      check_os
      conf GITHUB_REPOSITORY_URL > /dev/null
      conf RUNNER_LABELS > /dev/null
      conf ROOTFS_IMAGE > /dev/null
      conf TEMPLATE_COMMIT > /dev/null
      install_packages
      create_user
      install_secrets
      install_runner
      install_broker
      install_rootfs
      install_service
      ;;
    *) die "usage: $0 [bootstrap]" ;;
  esac
}

main "$@"
