#!/usr/bin/env bash
# Prints the ACP registry manifest (agent.json) of the editor bridge,
# `letta-ctl acp`, for release archives published under BASE_URL as
# letta-daemon-<version>-<platform>.tar.gz, each with letta-ctl and
# letta-daemon at its top (the bridge starts the daemon next to it).
#
#   tools/acp-registry-manifest.sh https://example.org/releases/v0.1.0 > agent.json
#
# The version and license are the workspace's (Cargo.toml).
set -euo pipefail

base="${1:?usage: $0 BASE_URL}"
root="$(cd "$(dirname "$0")/.." && pwd)"

python3 - "$base" "$root/Cargo.toml" <<'PY'
import json, sys, tomllib

base, cargo_toml = sys.argv[1].rstrip("/"), sys.argv[2]
with open(cargo_toml, "rb") as file:
    package = tomllib.load(file)["workspace"]["package"]
version = package["version"]
platforms = ["linux-x86_64", "linux-aarch64", "darwin-x86_64", "darwin-aarch64"]
manifest = {
    "id": "letta",
    "name": "Letta",
    "version": version,
    "description": "Stateful Letta agents in the editor, through letta-daemon: "
    "turns, approvals and history survive the editor closing.",
    "authors": ["letta-daemon contributors"],
    "license": package["license"],
    "distribution": {
        "binary": {
            platform: {
                "archive": f"{base}/letta-daemon-{version}-{platform}.tar.gz",
                "cmd": "./letta-ctl",
                "args": ["acp"],
            }
            for platform in platforms
        }
    },
}
json.dump(manifest, sys.stdout, indent=2)
print()
PY
