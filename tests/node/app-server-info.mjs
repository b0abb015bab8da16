// Drives letta-daemon with Letta Code's own AppServerClient, unmodified.
// Usage: node app-server-info.mjs <app-server URL> <reference dir> [auth token]
// Prints one JSON object with what the client received.
import { pathToFileURL } from "node:url";

const [url, referenceDir, authToken] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(`${referenceDir}/${path}`).href);
const { AppServerClient, isAppServerInfoResponseMessage } = await load("package/dist/app-server-client.js");
const { default: WebSocket } = await load("node_modules/ws/wrapper.mjs");

const client = new AppServerClient({ url, WebSocket, authToken, requestTimeoutMs: 5000 });
await client.connect();
const info = await client.info();
const unknown = await client.request({ type: "no_such_command", request_id: "no_such_command-1" });
const unsynced = await client.sync({ runtime: { agent_id: "agent-x", conversation_id: "conv-x" } });
client.close();
console.log(JSON.stringify({ info, accepted: isAppServerInfoResponseMessage(info), unknown, unsynced }));
