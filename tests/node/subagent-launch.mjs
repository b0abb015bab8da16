// A subagent launched by Letta Code's own AppServerClient, unmodified:
// start a runtime on a new agent, launch an explore subagent for it with
// `notify: "caller"`, and wait for update_subagent_state to bring the
// report.
// Usage: node subagent-launch.mjs <app-server URL> <reference dir> <model handle> <prompt>
// Prints one JSON object with what the client received.
import { connect } from "./official-client.mjs";

const [url, referenceDir, model, prompt] = process.argv.slice(2);
const client = await connect(url, referenceDir);
const info = await client.info();
const started = await client.runtimeStart({
  create_agent: { body: { name: "official-client-subagents", model } },
  create_conversation: {},
  cwd: "/tmp",
  mode: "standard",
});
const runtime = started.runtime;

const states = [];
const done = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no completed subagent within 60 s")), 60000);
  client.onMessage((message) => {
    if (message?.type !== "update_subagent_state") return;
    states.push(message.subagents.map((subagent) => subagent.status));
    const finished = message.subagents.find((subagent) => subagent.status === "completed");
    if (finished) {
      clearTimeout(timer);
      resolve(finished);
    }
  });
});
const launched = await client.launchSubagent({
  runtime,
  args: { subagent_type: "explore", description: "look around", prompt },
  notify: "caller",
});
const subagent = await done;
client.close();
console.log(JSON.stringify({ capabilities: info.capabilities, launched, states, subagent }));
