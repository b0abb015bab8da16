// Letta Code's own AppServerClient, loaded from the folder
// tests/tools/letta-code-client.sh installed, for the scripts beside this one.
import { pathToFileURL } from "node:url";

/// The client module and the WebSocket implementation it is given.
export async function load(referenceDir) {
  const from = (path) => import(pathToFileURL(`${referenceDir}/${path}`).href);
  const client = await from("package/dist/app-server-client.js");
  const { default: WebSocket } = await from("node_modules/ws/wrapper.mjs");
  return { ...client, WebSocket };
}

/// A connected client with a 20 s request timeout.
export async function connect(url, referenceDir) {
  const { AppServerClient, WebSocket } = await load(referenceDir);
  const client = new AppServerClient({ url, WebSocket, requestTimeoutMs: 20000 });
  await client.connect();
  return client;
}
