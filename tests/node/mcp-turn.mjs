// A turn that uses an MCP server's tool, driven by Letta Code's own
// AppServerClient, unmodified: start a runtime on a new agent with the MCP
// servers given (the daemon's `mcp_servers` field of runtime_start), send a
// message that makes the agent call one of their tools, and wait for the
// turn's end.
// Usage: node mcp-turn.mjs <app-server URL> <reference dir> <model handle> <text> <servers JSON>
// Prints one JSON object with what the client received.
import { connect } from "./official-client.mjs";

const [url, referenceDir, model, text, servers] = process.argv.slice(2);
const client = await connect(url, referenceDir);
const started = await client.runtimeStart({
  create_agent: { body: { name: "official-client-mcp", model } },
  create_conversation: {},
  cwd: "/tmp",
  mode: "standard",
  mcp_servers: JSON.parse(servers),
});
const runtime = started.runtime;

const returns = [];
const statuses = [];
const finished = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no turn_finished within 60 s")), 60000);
  client.onMessage((message) => {
    if (message?.type === "stream_delta" && message.delta?.message_type === "tool_return_message") {
      returns.push({ status: message.delta.status, text: message.delta.tool_return });
    }
    if (message?.type === "update_device_status") {
      statuses.push(message.device_status?.mcp_servers ?? []);
    }
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
client.close();
console.log(JSON.stringify({ started, accepted, returns, statuses, finished: end }));
