// One whole turn driven by Letta Code's own AppServerClient, unmodified:
// start a runtime on a new agent with an external tool, send a message that
// makes the agent call it, answer the call, and wait for the turn's end;
// then fork the conversation and compile its system prompt again.
// Usage: node local-turn.mjs <app-server URL> <reference dir> <model handle> <text>
// Prints one JSON object with what the client received.
import { connect } from "./official-client.mjs";

const [url, referenceDir, model, text] = process.argv.slice(2);
const client = await connect(url, referenceDir);
const info = await client.info();

const tool = {
  name: "Ext",
  description: "Answers with a number.",
  parameters: { type: "object", properties: { x: { type: "integer" } }, required: ["x"] },
};
const started = await client.runtimeStart({
  create_agent: { body: { name: "official-client-local", model } },
  create_conversation: {},
  cwd: "/tmp",
  mode: "standard",
  external_tools: [{ tools: [tool] }],
});
const runtime = started.runtime;

const calls = [];
client.onExternalToolCall((request) => {
  calls.push({ tool_name: request.tool_name, input: request.input });
  return { content: [{ type: "text", text: "forty-two" }] };
});
const deltas = [];
const finished = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no turn_finished within 30 s")), 30000);
  client.onMessage((message) => {
    if (message?.type === "stream_delta") deltas.push(message.delta?.message_type);
    if (message?.type === "turn_finished") {
      clearTimeout(timer);
      resolve(message);
    }
  });
});
const accepted = await client.submitInput({
  runtime,
  payload: { kind: "create_message", messages: [{ role: "user", content: text }] },
});
const end = await finished;
const forked = await client.request({
  type: "conversation_fork",
  request_id: "fork-1",
  conversation_id: runtime.conversation_id,
});
const recompiled = await client.request({
  type: "conversation_recompile",
  request_id: "recompile-1",
  conversation_id: runtime.conversation_id,
});
client.close();
console.log(
  JSON.stringify({ backend: info.backend, started, accepted, calls, deltas, finished: end, forked, recompiled }),
);
