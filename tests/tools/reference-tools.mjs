// Reads Letta Code's bundled app (letta.js) and prints, as JSON, what its
// toolsets offer: each preset's tool names, in order, and each tool's
// argument schema with the descriptions left out (our tools carry their own
// wording; names, types, enums and required fields must match).
//
//   node tests/tools/reference-tools.mjs path/to/letta.js
import { readFileSync } from "node:fs";
import vm from "node:vm";

const source = readFileSync(process.argv[2], "utf8");

// The object literal that starts right after `marker`, read up to its
// matching closing brace.
function literalAfter(marker) {
  const at = source.indexOf(marker);
  if (at < 0) throw new Error(`not found in the bundle: ${marker}`);
  let start = source.indexOf("{", at + marker.length - 1);
  let depth = 0;
  let quote = null;
  for (let i = start; i < source.length; i++) {
    const c = source[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      return vm.runInNewContext(`(${source.slice(start, i + 1)})`);
    }
  }
  throw new Error(`unterminated literal after ${marker}`);
}

function withoutDescriptions(value) {
  if (Array.isArray(value)) return value.map(withoutDescriptions);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== "description" && key !== "$schema")
        .map(([key, inner]) =>
          // `properties` maps argument names to schemas: a property may be
          // called "description" and must stay.
          key === "properties"
            ? [key, Object.fromEntries(Object.entries(inner).map(([name, schema]) => [name, withoutDescriptions(schema)]))]
            : [key, withoutDescriptions(inner)],
        ),
    );
  }
  return value;
}

// Tool name -> the schema module it is defined with.
const definitions = source.slice(source.indexOf("  toolDefinitions = {"));
const schemaModules = new Map();
for (const match of definitions.slice(0, definitions.indexOf("\n  };")).matchAll(/\n    (\w+): defineTool\(\{\n      schema: (\w+)_default2,/g)) {
  schemaModules.set(match[1], match[2]);
}

// Some tools are known to the model by another name than inside the app.
const modelNames = literalAfter("  TOOL_NAME_MAPPINGS = {");
const modelName = (tool) => modelNames[tool] ?? tool;

const catalog = literalAfter("  TOOLSET_CATALOG = {");
const toolsets = Object.fromEntries(Object.entries(catalog).map(([name, set]) => [name, set.tools]));
for (const tool of Object.values(toolsets).flat()) {
  if (!schemaModules.has(tool)) throw new Error(`no schema module for ${tool}`);
}
// Every defined tool, including those a toolset only offers when a turn
// includes them by name (Glob, Grep, LS, ...).
const schemas = Object.fromEntries(
  [...schemaModules.keys()]
    .map((tool) => [modelName(tool), withoutDescriptions(literalAfter(`  ${schemaModules.get(tool)}_default2 = {`))])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
const offered = Object.fromEntries(Object.entries(toolsets).map(([name, tools]) => [name, tools.map(modelName)]));
process.stdout.write(`${JSON.stringify({ toolsets: offered, schemas }, null, 2)}\n`);
