// Watches a runtime with Letta Code's own AppServerClient, unmodified: syncs
// from an event_seq and prints every runtime event it receives, one JSON
// line each, until it is killed or the connection ends.
// Usage: node watch-events.mjs <app-server URL> <reference dir> <runtime JSON> <after event_seq>
import { writeSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [url, referenceDir, runtime, after] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(`${referenceDir}/${path}`).href);
const { AppServerClient } = await load("package/dist/app-server-client.js");
const { default: WebSocket } = await load("node_modules/ws/wrapper.mjs");

const client = new AppServerClient({ url, WebSocket, requestTimeoutMs: 20000 });
client.onMessage((message) => {
  // Written straight to the file: a SIGKILL loses no line already seen.
  if (message && typeof message.event_seq === "number") writeSync(1, `${JSON.stringify(message)}\n`);
});
const ended = new Promise((resolve) => client.onDisconnect(resolve));
await client.connect();
await client.sync({ runtime: JSON.parse(runtime), after_event_seq: Number(after) });
await ended;
