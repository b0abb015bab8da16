#!/usr/bin/env bash
# Installs what the MCP tests run: the official Python MCP SDK (for
# tests/tools/mcp_test_server.py) in a virtual environment, and the MCP
# project's filesystem server from npm. Prints the folder; a second run
# reuses it.
#
#   tests/tools/mcp-servers.sh
#
# Inside: py/bin/python (with the `mcp` package) and
# node_modules/.bin/mcp-server-filesystem.
set -euo pipefail

python_sdk="${MCP_PYTHON_SDK_VERSION:-1.30.0}"
filesystem="${MCP_FILESYSTEM_SERVER_VERSION:-2026.8.31}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}"
target="$cache/letta-daemon-tests/mcp-servers-$python_sdk-$filesystem"

mkdir -p "$(dirname "$target")"
# Tests run in parallel: one installs, the others wait for it.
exec 9> "$target.lock"
flock 9
# The marker is written last, so a cancelled install is never mistaken
# for a finished one. (A venv cannot be moved, so it is built in place.)
if [ ! -f "$target/.installed" ]; then
  command -v npm >/dev/null || { echo "npm not found: Node 20 is needed for the MCP tests" >&2; exit 1; }
  rm -rf "$target"
  mkdir -p "$target"
  python3 -m venv "$target/py"
  "$target/py/bin/pip" install --quiet --disable-pip-version-check "mcp==$python_sdk" >&2
  (
    cd "$target"
    printf '{"private":true}\n' > package.json
    npm install --silent --no-audit --no-fund --no-save "@modelcontextprotocol/server-filesystem@$filesystem" >&2
  )
  touch "$target/.installed"
fi
echo "$target"
