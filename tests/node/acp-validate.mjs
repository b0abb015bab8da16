// Checks a recorded ACP session against the protocol's JSON Schema.
//
//   node acp-validate.mjs SDK_DIR TRANSCRIPT
//
// TRANSCRIPT holds one JSON object per line, {"from": "agent" | "editor",
// "line": "<the JSON-RPC message as written>"}, in the order they were
// written. Prints {"checked": N, "refused": [...]}.
import fs from "node:fs";

import { schemaChecker } from "./acp-schema.mjs";

const [sdkDir, transcript] = process.argv.slice(2);
const checker = await schemaChecker(sdkDir);
for (const entry of fs.readFileSync(transcript, "utf8").split("\n")) {
  if (!entry.trim()) continue;
  const { from, line } = JSON.parse(entry);
  if (from === "editor") checker.sent(line);
  else checker.received(line);
}
console.log(JSON.stringify({ checked: checker.checked(), refused: checker.refused }));
