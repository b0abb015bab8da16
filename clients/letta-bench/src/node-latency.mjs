// app_server_info round trips through Letta Code's official AppServerClient.
// Usage: node node-latency.mjs <url> <reference dir> <requests> <warmup>
import { pathToFileURL } from "node:url";

const [url, referenceDir, requests, warmup] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(`${referenceDir}/${path}`).href);
const { AppServerClient } = await load("package/dist/app-server-client.js");
const { default: WebSocket } = await load("node_modules/ws/wrapper.mjs");

const client = new AppServerClient({ url, WebSocket, requestTimeoutMs: 10000 });
await client.connect();
const samples = [];
for (let i = 0; i < Number(warmup) + Number(requests); i++) {
  const started = process.hrtime.bigint();
  await client.info();
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (i >= Number(warmup)) samples.push(elapsed);
}
client.close();
samples.sort((a, b) => a - b);
const at = (q) => samples[Math.max(1, Math.ceil(q * samples.length)) - 1];
console.log(JSON.stringify({ p50_ms: at(0.5), p99_ms: at(0.99), count: samples.length }));
