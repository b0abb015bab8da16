// A desktop frontend's workspace commands, sent with Letta Code's own
// AppServerClient (its generic `request`), unmodified.
// Usage: node workspace.mjs <app-server URL> <reference dir> <workspace> <outside file>
// Prints one JSON object with every reply, by command.
import { connect } from "./official-client.mjs";

const [url, referenceDir, workspace, outsideFile] = process.argv.slice(2);
const client = await connect(url, referenceDir);
let counter = 0;
const send = (type, fields) => client.request({ type, request_id: `${type}-${++counter}`, ...fields });

const replies = {
  boot: await send("set_boot_working_directory", { cwd: workspace }),
  cwdMap: await send("get_cwd_map", {}),
  listing: await send("list_in_directory", { path: workspace, include_files: true }),
  tree: await send("get_tree", { path: workspace, depth: 3 }),
  search: await send("search_files", { query: "main", cwd: workspace, max_results: 5 }),
  grep: await send("grep_in_files", { query: "needle", cwd: workspace, context_lines: 1 }),
  watched: await (async () => {
    // watch_file has no reply; the change it reports is the answer.
    const main = `${workspace}/src/main.rs`;
    const changed = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no file_changed within 20 s")), 20000);
      client.onMessage((message) => {
        if (message?.type === "file_changed") {
          clearTimeout(timer);
          resolve(message);
        }
      });
    });
    client.send({ type: "watch_file", path: main, request_id: "watch-1" });
    await send("edit_file", { file_path: main, old_string: "needle", new_string: "pin" });
    return await changed;
  })(),
  write: await send("write_file", { path: `${workspace}/notes/today.md`, content: "one\ntwo\n" }),
  edit: await send("edit_file", { file_path: `${workspace}/notes/today.md`, old_string: "two", new_string: "three" }),
  read: await send("read_file", { path: `${workspace}/notes/today.md` }),
  escape: await send("read_file", { path: `${workspace}/../${outsideFile.split("/").slice(-2).join("/")}` }),
  branches: await send("search_branches", { query: "" }),
  checkout: await send("checkout_branch", { branch: "topic", create: true }),
  unsupported: await send("channels_list", {}),
};
client.close();
console.log(JSON.stringify(replies));
