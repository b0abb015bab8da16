#!/usr/bin/env bash
# Installs Letta Code's published npm package (its official app-server client
# and protocol declarations) with Node's `ws`, for the compatibility tests.
# Prints the folder it installed into; a second run reuses it.
#
#   tests/tools/letta-code-client.sh
#
# The folder holds package/dist/app-server-client.js (AppServerClient),
# package/dist/types/types/protocol_v2.d.ts and node_modules/ws.
# LETTA_CODE_VERSION picks the version; LETTA_CODE_CLIENT_DIR the folder.
set -euo pipefail

version="${LETTA_CODE_VERSION:-0.32.18}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}"
target="${LETTA_CODE_CLIENT_DIR:-$cache/letta-daemon-tests/letta-code-$version}"

installed() {
  [ -f "$target/package/dist/app-server-client.js" ] && [ -f "$target/node_modules/ws/package.json" ]
}

mkdir -p "$(dirname "$target")"
# Tests run in parallel: one installs, the others wait for it.
exec 9> "$target.lock"
flock 9
if ! installed; then
  command -v npm >/dev/null || { echo "npm not found: Node 20 is needed for the compatibility tests" >&2; exit 1; }
  staging="$(mktemp -d "$(dirname "$target")/.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  (
    cd "$staging"
    tarball="$(npm pack --silent "@letta-ai/letta-code@$version" | tail -n 1)"
    tar -xzf "$tarball"
    rm -f "$tarball"
    printf '{"private":true,"type":"module"}\n' > package.json
    npm install --silent --no-audit --no-fund --no-save ws@8 >&2
  )
  # Publish whole or not at all, so a cancelled install is never mistaken for a finished one.
  rm -rf "$target"
  mv "$staging" "$target"
  trap - EXIT
fi
echo "$target"
