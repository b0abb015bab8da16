#!/usr/bin/env bash
# Builds a JSON Schema of every frame Letta Code's app-server sends
# (`WsProtocolMessage` of its protocol_v2.d.ts) from the declarations of the
# official client (tests/tools/letta-code-client.sh), with Ajv to check
# frames against it. Prints the folder; a second run reuses it.
#
#   tests/tools/letta-code-frames-schema.sh
#
# The folder holds frames.schema.json and node_modules/ajv. The
# declarations import @letta-ai/letta-client's types, installed at the
# version Letta Code depends on; typescript-json-schema turns them into
# JSON Schema with null kept (strict null checks).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
client="$("$here/letta-code-client.sh")"
version="$(basename "$client")"
target="${LETTA_CODE_SCHEMA_DIR:-$(dirname "$client")/$version-frames-schema}"

installed() {
  [ -f "$target/frames.schema.json" ] && [ -f "$target/node_modules/ajv/package.json" ]
}

exec 9> "$target.lock"
flock 9
if ! installed; then
  command -v npm >/dev/null || { echo "npm not found: Node 20 is needed for the compatibility tests" >&2; exit 1; }
  staging="$(mktemp -d "$(dirname "$target")/.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  (
    cd "$staging"
    # CommonJS, as the declarations were written for (an ES module package
    # resolves their imports differently and the schema comes out empty).
    printf '{"private":true}\n' > package.json
    npm install --silent --no-audit --no-fund --no-save \
      typescript@5.9.3 typescript-json-schema@0.65.1 @letta-ai/letta-client@1.10.2 ajv@8.20.0 >&2
    cp -r "$client/package/dist/types" types
    cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "skipLibCheck": true,
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "target": "es2022"
  },
  "include": ["types/types/protocol_v2.d.ts"]
}
JSON
    npx --no-install typescript-json-schema tsconfig.json WsProtocolMessage \
      --ignoreErrors --required --strictNullChecks -o frames.schema.json >&2
    grep -q '"anyOf"' frames.schema.json || { echo "the frames schema came out empty" >&2; exit 1; }
    rm -rf types
  )
  rm -rf "$target"
  mv "$staging" "$target"
  trap - EXIT
fi
echo "$target"
