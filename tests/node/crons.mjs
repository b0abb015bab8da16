// Schedules managed with Letta Code's own AppServerClient (its generic
// `request`), unmodified, and the crons_updated it is sent.
// Usage: node crons.mjs <app-server URL> <reference dir> <agent id> <time>
// Prints one JSON object with every reply, by command.
import { connect } from "./official-client.mjs";

const [url, referenceDir, agentId, scheduledFor] = process.argv.slice(2);
const client = await connect(url, referenceDir);
const updates = [];
client.onMessage((message) => {
  if (message?.type === "crons_updated") updates.push(message);
});
let counter = 0;
const send = (type, fields) => client.request({ type, request_id: `${type}-${++counter}`, ...fields });

const added = await send("cron_add", {
  agent_id: agentId,
  conversation_id: "default",
  name: "standup notes",
  description: "every weekday",
  cron: "30 9 * * 1-5",
  timezone: "Europe/Berlin",
  recurring: true,
  prompt: "Summarise yesterday's commits.",
});
const id = added.task?.id;
const replies = {
  added,
  oneOff: await send("cron_add", {
    agent_id: agentId,
    name: "once",
    description: "",
    cron: "0 0 1 1 *",
    recurring: false,
    prompt: "Once.",
    scheduled_for: scheduledFor,
  }),
  invalid: await send("cron_add", {
    agent_id: agentId,
    name: "bad",
    description: "",
    cron: "every morning",
    recurring: true,
    prompt: "p",
  }),
  list: await send("cron_list", { agent_id: agentId }),
  paused: await send("cron_pause", { task_id: id }),
  resumed: await send("cron_resume", { task_id: id }),
  updated: await send("cron_update", { task_id: id, name: "standup", cron: "0 10 * * 1-5" }),
  got: await send("cron_get", { task_id: id }),
  missing: await send("cron_get", { task_id: "no-such-schedule" }),
  runs: await send("cron_runs", { task_id: id, limit: 10 }),
  deleted: await send("cron_delete", { task_id: id }),
  deletedAll: await send("cron_delete_all", { agent_id: agentId }),
  after: await send("cron_list", { agent_id: agentId }),
};
client.close();
console.log(JSON.stringify({ ...replies, updates }));
