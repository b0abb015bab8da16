// A terminal opened, typed into and killed by Letta Code's own
// AppServerClient, unmodified (terminal commands have no reply frames:
// what comes back are terminal_spawned, terminal_output, terminal_exited).
// Usage: node terminal.mjs <app-server URL> <reference dir> <cwd>
// Prints one JSON object with what the client received.
import { connect } from "./official-client.mjs";

const [url, referenceDir, cwd] = process.argv.slice(2);
const client = await connect(url, referenceDir);
const frames = [];
let output = "";
const waitFor = (what, test) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 20 s: ${JSON.stringify(frames)}`)), 20000);
    const check = () => {
      const found = frames.find(test);
      if (found) {
        clearTimeout(timer);
        resolve(found);
        return true;
      }
      return false;
    };
    if (!check()) client.onMessage(() => check());
  });
client.onMessage((message) => {
  if (!message?.type?.startsWith("terminal_")) return;
  frames.push(message);
  if (message.type === "terminal_output") output += message.data;
});

client.send({ type: "terminal_spawn", terminal_id: "official", cols: 80, rows: 24, cwd });
const spawned = await waitFor("terminal_spawned", (frame) => frame.type === "terminal_spawned");
client.send({ type: "terminal_input", terminal_id: "official", data: "echo from-$((40+2))\n" });
await waitFor("the echo", () => output.includes("from-42"));
client.send({ type: "terminal_kill", terminal_id: "official" });
const exited = await waitFor("terminal_exited", (frame) => frame.type === "terminal_exited");
client.close();
console.log(JSON.stringify({ spawned, exited, output }));
