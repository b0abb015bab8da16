// Whole turns driven by Letta Code's official AppServerClient, one client and
// one runtime per server, for `letta-bench turn`.
// Usage: node node-turn.mjs <client dir> <model handle> <cwd> <url>...
// Every runtime gets the `default` toolset (Read, Write, ...), whatever the
// model. Prints {"runtimes": [...]} once every runtime has started, then reads one
// command per line, {"server": INDEX, "text": "..."}, runs that turn
// (approving every permission request) and prints one result per line:
// {"elapsed_ms", "approvals", "tool_errors", "stop_reason"} or {"error"}.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const [clientDir, model, cwd, ...urls] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(`${clientDir}/${path}`).href);
const { AppServerClient } = await load("package/dist/app-server-client.js");
const { default: WebSocket } = await load("node_modules/ws/wrapper.mjs");

const TURN_TIMEOUT_MS = 120000;
let messageNumber = 0;

async function start(url) {
  const client = new AppServerClient({ url, WebSocket, requestTimeoutMs: 60000 });
  await client.connect();
  const started = await client.runtimeStart({
    create_agent: { body: { name: "letta-bench-turn", model } },
    create_conversation: {},
    cwd,
    mode: "standard",
  });
  if (started.success === false) throw new Error(`runtime_start failed: ${JSON.stringify(started)}`);
  // The same tools on every server, whichever the model would pick.
  const toolset = await client.request("update_toolset", {
    runtime: started.runtime,
    toolset_preference: "default",
  });
  if (toolset.success === false) throw new Error(`update_toolset failed: ${JSON.stringify(toolset)}`);
  const session = { client, runtime: started.runtime, current: null };
  client.onMessage((message) => {
    const turn = session.current;
    if (!turn || !message) return;
    if (message.type === "control_request") {
      turn.approvals += 1;
      client.input({
        runtime: session.runtime,
        payload: {
          kind: "approval_response",
          request_id: message.request_id,
          decision: { behavior: "allow" },
        },
      });
    } else if (message.type === "stream_delta" && message.delta?.message_type === "tool_return_message") {
      const returns = message.delta.tool_returns ?? [message.delta];
      turn.tool_errors.push(...returns.filter((r) => r.status === "error").map((r) => String(r.tool_return).slice(0, 300)));
    } else if (message.type === "turn_finished") {
      turn.finish(message);
    }
  });
  return session;
}

function turn(session, text) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no turn_finished within 120 s")), TURN_TIMEOUT_MS);
    const began = performance.now();
    session.current = {
      approvals: 0,
      tool_errors: [],
      finish: (message) => {
        clearTimeout(timer);
        const { approvals, tool_errors } = session.current;
        session.current = null;
        resolve({
          elapsed_ms: performance.now() - began,
          approvals,
          tool_errors,
          stop_reason: message.stop_reason,
        });
      },
    };
    messageNumber += 1;
    session.client
      .submitInput({
        runtime: session.runtime,
        payload: {
          kind: "create_message",
          messages: [
            { role: "user", content: text, client_message_id: `bench-${process.pid}-${messageNumber}` },
          ],
        },
      })
      .catch(reject);
  });
}

const sessions = [];
for (const url of urls) sessions.push(await start(url));
console.log(JSON.stringify({ runtimes: sessions.map((session) => session.runtime) }));

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const command = JSON.parse(line);
    console.log(JSON.stringify(await turn(sessions[command.server], command.text)));
  } catch (error) {
    console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
  }
}
for (const session of sessions) session.client.close();
