// An editor session with `letta-ctl acp`, driven by the Agent Client
// Protocol's TypeScript SDK (its client side), and every line the bridge
// writes checked against the JSON Schema the SDK ships.
//
//   node acp-editor.mjs LETTA_CTL SDK_DIR AGENT_ID PROJECT_DIR
//
// Prints one JSON object: what the session saw and any frame the schema
// refused. The daemon is the one LETTA_DAEMON_DATA_DIR names.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Readable, Writable } from "node:stream";

const [ctl, sdkDir, agent, project] = process.argv.slice(2);
const modules = path.join(sdkDir, "node_modules");
const acp = await import(path.join(modules, "@agentclientprotocol/sdk/dist/v1/stable/acp.js"));
const Ajv2020 = (await import(path.join(modules, "ajv/dist/2020.js"))).default;
const schema = JSON.parse(
  fs.readFileSync(path.join(modules, "@agentclientprotocol/sdk/schema/v1/schema.json"), "utf8"),
);
// Number formats (int64, uint32, ...) are not JSON Schema formats: not checked.
const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addSchema(schema, "acp");
const check = (name) => ajv.getSchema(`acp#/$defs/${name}`);
const anyAgentMessage = ajv.compile({ $ref: "acp#/anyOf/0" });

// What each of our requests answers with, to check responses by kind.
const responseOf = {
  initialize: "InitializeResponse",
  "session/new": "NewSessionResponse",
  "session/prompt": "PromptResponse",
  "session/set_mode": "SetSessionModeResponse",
};
const sentMethods = new Map();
const refused = [];
const written = [];

function validate(line) {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    refused.push({ line, why: "not JSON" });
    return;
  }
  written.push(message);
  const problems = [];
  if (!anyAgentMessage(message)) problems.push(ajv.errorsText(anyAgentMessage.errors));
  let specific = null;
  if (message.method === "session/update") specific = "SessionNotification";
  else if (message.method === "session/request_permission") specific = "RequestPermissionRequest";
  else if ("result" in message) specific = responseOf[sentMethods.get(message.id)];
  if (specific) {
    const validator = check(specific);
    const params = message.method ? message.params : message.result;
    if (!validator(params)) problems.push(`${specific}: ${ajv.errorsText(validator.errors)}`);
  }
  if (problems.length) refused.push({ message, problems });
}

const bridge = spawn(ctl, ["acp", "--agent", agent], { stdio: ["pipe", "pipe", "inherit"] });
// The bridge's output, checked line by line on its way to the SDK.
let pending = "";
const tapped = new ReadableStream({
  start(controller) {
    bridge.stdout.on("data", (chunk) => {
      pending += chunk.toString("utf8");
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim()) validate(line);
        controller.enqueue(new TextEncoder().encode(line + "\n"));
      }
    });
    bridge.stdout.on("end", () => controller.close());
  },
});
// What the SDK writes, noted for matching responses to their requests.
const input = Writable.toWeb(bridge.stdin);
const noting = new WritableStream({
  async write(chunk) {
    for (const line of new TextDecoder().decode(chunk).split("\n")) {
      if (!line.trim()) continue;
      const message = JSON.parse(line);
      if (message.method && message.id !== undefined) sentMethods.set(message.id, message.method);
    }
    const writer = input.getWriter();
    await writer.write(chunk);
    writer.releaseLock();
  },
});

const updates = [];
const asked = [];
const answers = ["allow_once", "reject_once"];
const app = acp
  .client({ name: "acp-editor test" })
  .onNotification(acp.methods.client.session.update, ({ params }) => {
    updates.push(params.update);
  })
  .onRequest(acp.methods.client.session.requestPermission, ({ params }) => {
    asked.push(params);
    return { outcome: { outcome: "selected", optionId: answers.shift() } };
  });

const prompt = (sessionId, text) =>
  ({ sessionId, prompt: [{ type: "text", text }] });

const result = await app.connectWith(acp.ndJsonStream(noting, tapped), async (ctx) => {
  const init = await ctx.request(acp.methods.agent.initialize, {
    protocolVersion: acp.PROTOCOL_VERSION,
    clientCapabilities: {},
  });
  const session = await ctx.request(acp.methods.agent.session.new, { cwd: project, mcpServers: [] });
  const id = session.sessionId;
  const hello = await ctx.request(acp.methods.agent.session.prompt, prompt(id, "hello from node"));
  const allowed = await ctx.request(
    acp.methods.agent.session.prompt,
    prompt(id, '[[call:Write {"file_path": "node-allowed.txt", "content": "yes\\n"}]]'),
  );
  const rejected = await ctx.request(
    acp.methods.agent.session.prompt,
    prompt(id, '[[call:Write {"file_path": "node-rejected.txt", "content": "no\\n"}]]'),
  );
  await ctx.request(acp.methods.agent.session.setMode, { sessionId: id, modeId: "acceptEdits" });
  return {
    loadSession: init.agentCapabilities?.loadSession === true,
    sessionId: id,
    modes: session.modes?.availableModes?.map((mode) => mode.id),
    stopReasons: [hello.stopReason, allowed.stopReason, rejected.stopReason],
  };
});
bridge.kill();
console.log(
  JSON.stringify({
    ...result,
    agentText: updates
      .filter((update) => update.sessionUpdate === "agent_message_chunk")
      .map((update) => update.content.text)
      .join(""),
    updateKinds: [...new Set(updates.map((update) => update.sessionUpdate))],
    statuses: updates.filter((update) => update.status).map((update) => update.status),
    asked: asked.length,
    written: written.length,
    refused,
  }),
);
process.exit(0);
