#!/usr/bin/env bash
# Regenerates tests/fixtures/letta-code-tools.json: the tool names of each of
# Letta Code's toolsets and every tool's argument schema (descriptions left
# out), read from its published package. The daemon's toolsets are tested
# against this file; run this when moving to a newer Letta Code.
#
#   tests/tools/reference-tools.sh            # LETTA_CODE_VERSION=0.34.12
#
# Needs python3 (pip) and node. The package (~80 MB) is cached.
set -euo pipefail

version="${LETTA_CODE_VERSION:-0.34.12}"
here="$(cd "$(dirname "$0")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/letta-daemon-tests/letta-code-wheel-$version"
bundle="$cache/letta.js"

if [ ! -f "$bundle" ]; then
  mkdir -p "$cache"
  python3 -m pip download --quiet --no-deps "letta==$version" -d "$cache/wheel"
  python3 - "$cache/wheel" "$bundle" <<'PY'
import glob, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(f"{sys.argv[1]}/letta-*.whl")[0])
app = next(name for name in wheel.namelist() if name.endswith("/app/letta.js"))
open(sys.argv[2] + ".partial", "wb").write(wheel.read(app))
PY
  mv "$bundle.partial" "$bundle"
  rm -rf "$cache/wheel"
fi

out="$here/../fixtures/letta-code-tools.json"
node "$here/reference-tools.mjs" "$bundle" > "$out.partial"
python3 - "$out.partial" "$version" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
json.dump({"letta_code_version": sys.argv[2], **data}, open(sys.argv[1], "w"), indent=2)
open(sys.argv[1], "a").write("\n")
PY
mv "$out.partial" "$out"
echo "$out"
