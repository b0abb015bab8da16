#!/usr/bin/env bash
# Installs Letta Code's official app-server client (AppServerClient) and its
# protocol declarations, with Node's `ws`, for the compatibility tests.
# Prints the folder it installed into; a second run reuses it.
#
#   tests/tools/letta-code-client.sh
#
# Letta Code 0.34 is published on PyPI (the `letta` wheel carries the built
# app); npm stops at 0.32.18. Only the wheel's app/dist is kept (about 7 MB).
# The folder holds package/dist/app-server-client.js,
# package/dist/types/types/protocol_v2.d.ts and node_modules/ws.
# LETTA_CODE_VERSION picks the version; LETTA_CODE_CLIENT_DIR the folder.
set -euo pipefail

version="${LETTA_CODE_VERSION:-0.34.12}"
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
  command -v python3 >/dev/null || { echo "python3 not found: it fetches Letta Code from PyPI" >&2; exit 1; }
  staging="$(mktemp -d "$(dirname "$target")/.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  (
    cd "$staging"
    python3 -m pip download --quiet --no-deps --dest wheel "letta==$version" >&2
    python3 - wheel/letta-*.whl <<'PY'
import sys, zipfile
prefix = "letta_code/_payload/app/dist/"
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for entry in wheel.infolist():
        name = entry.filename
        if name.startswith(prefix) and not name.endswith((".map", "/")):
            entry.filename = "package/dist/" + name[len(prefix):]
            wheel.extract(entry, ".")
PY
    rm -rf wheel
    printf '{"private":true,"type":"module"}\n' > package.json
    npm install --silent --no-audit --no-fund --no-save ws@8 >&2
  )
  # Publish whole or not at all, so a cancelled install is never mistaken for a finished one.
  rm -rf "$target"
  mv "$staging" "$target"
  trap - EXIT
fi
echo "$target"
