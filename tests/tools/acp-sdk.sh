#!/usr/bin/env bash
# Installs the Agent Client Protocol's TypeScript SDK (written by the
# protocol's authors; it ships the protocol's JSON Schema) and Ajv, a JSON
# Schema validator, for the editor tests of `letta-ctl acp`. Prints the
# folder; a second run reuses it.
#
#   tests/tools/acp-sdk.sh
#
# The folder holds node_modules/@agentclientprotocol/sdk (schema/v1/schema.json
# inside) and node_modules/ajv. ACP_SDK_VERSION picks the SDK's version.
set -euo pipefail

version="${ACP_SDK_VERSION:-2.4.0}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}"
target="$cache/letta-daemon-tests/acp-sdk-$version"

installed() {
  [ -f "$target/node_modules/@agentclientprotocol/sdk/schema/v1/schema.json" ] &&
    [ -f "$target/node_modules/ajv/package.json" ]
}

mkdir -p "$(dirname "$target")"
# Tests run in parallel: one installs, the others wait for it.
exec 9> "$target.lock"
flock 9
if ! installed; then
  command -v npm >/dev/null || { echo "npm not found: Node 20 is needed for the editor tests" >&2; exit 1; }
  staging="$(mktemp -d "$(dirname "$target")/.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  (
    cd "$staging"
    printf '{"private":true,"type":"module"}\n' > package.json
    npm install --silent --no-audit --no-fund --no-save "@agentclientprotocol/sdk@$version" ajv@8 >&2
  )
  # Publish whole or not at all, so a cancelled install is never mistaken for a finished one.
  rm -rf "$target"
  mv "$staging" "$target"
  trap - EXIT
fi
echo "$target"
