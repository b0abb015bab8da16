// Checks frames the daemon sent against Letta Code's declarations of what
// its app-server sends (tests/tools/letta-code-frames-schema.sh).
//
//   node validate-frames.mjs SCHEMA_DIR FRAMES
//
// FRAMES holds one frame per line. A frame is checked against the
// declarations whose `type` it carries; one with a type Letta Code does not
// declare is counted under `undeclared`. Prints
// {"checked": N, "refused": [{type, errors, frame}], "undeclared": {type: count}}.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [schemaDir, framesFile] = process.argv.slice(2);
const require = createRequire(path.join(schemaDir, "package.json"));
const Ajv = require("ajv");
const schema = JSON.parse(fs.readFileSync(path.join(schemaDir, "frames.schema.json"), "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(schema, "frames");

// Which declarations carry each `type`.
const byType = new Map();
schema.anyOf.forEach((member, index) => {
  // A member is a reference to a declaration, or one written in place.
  const declared = member.$ref ? schema.definitions[member.$ref.split("/").pop()] : member;
  const type = declared?.properties?.type;
  for (const value of type?.const !== undefined ? [type.const] : (type?.enum ?? [])) {
    if (!byType.has(value)) byType.set(value, []);
    byType.get(value).push(ajv.getSchema(`frames#/anyOf/${index}`));
  }
});

let checked = 0;
const refused = [];
const undeclared = {};
for (const line of fs.readFileSync(framesFile, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const frame = JSON.parse(line);
  const validators = byType.get(frame.type);
  if (!validators) {
    undeclared[frame.type] = (undeclared[frame.type] ?? 0) + 1;
    continue;
  }
  checked += 1;
  const errors = [];
  if (!validators.some((validate) => validate(frame) || (errors.push(validate.errors), false))) {
    refused.push({ type: frame.type, errors: errors.flat().slice(0, 5), frame });
  }
}
console.log(JSON.stringify({ checked, refused, undeclared }));
