// Model providers listed, connected and disconnected with Letta Code's own
// AppServerClient (its generic `request`), unmodified.
// Usage: node providers.mjs <app-server URL> <reference dir> <model base URL>
// Prints one JSON object with every reply, by command.
import { connect } from "./official-client.mjs";

const [url, referenceDir, modelUrl] = process.argv.slice(2);
const client = await connect(url, referenceDir);
let counter = 0;
const send = (type, fields) => client.request({ type, request_id: `${type}-${++counter}`, target: "local", ...fields });

const replies = {
  listed: await send("list_connect_providers", {}),
  refused: await send("connect_provider", { provider_id: "anthropic", fields: {} }),
  connected: await send("connect_provider", {
    provider_id: "openai",
    fields: { apiKey: "sk-official", baseUrl: modelUrl },
  }),
  models: await client.request({ type: "list_models", request_id: "models-1" }),
  disconnected: await send("disconnect_provider", { provider_id: "openai" }),
};
client.close();
console.log(JSON.stringify(replies));
