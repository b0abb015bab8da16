// An editor session with `letta-ctl acp`, driven by the Agent Client
// Protocol's TypeScript SDK (its client side), and every line the bridge
// writes checked against the JSON Schema the SDK ships.
//
//   node acp-editor.mjs LETTA_CTL SDK_DIR AGENT_ID PROJECT_DIR
//
// Prints one JSON object: what the session saw and any frame the schema
// refused. The daemon is the one LETTA_DAEMON_DATA_DIR names.
import { spawn } from "node:child_process";
import path from "node:path";
import { Writable } from "node:stream";

import { schemaChecker } from "./acp-schema.mjs";

const [ctl, sdkDir, agent, project] = process.argv.slice(2);
const modules = path.join(sdkDir, "node_modules");
const acp = await import(path.join(modules, "@agentclientprotocol/sdk/dist/v1/stable/acp.js"));
const checker = await schemaChecker(sdkDir);

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
        if (line.trim()) checker.received(line);
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
      if (line.trim()) checker.sent(line);
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
    written: checker.checked(),
    refused: checker.refused,
  }),
);
process.exit(0);
