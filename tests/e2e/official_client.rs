//! Letta Code's official `AppServerClient`, run with Node, against the daemon.

use std::time::Duration;

use serde_json::Value;

use crate::support::backend::Backend;
use crate::support::letta_server::MODEL;
use crate::support::node;
use crate::support::{Daemon, Options, TIMEOUT};

/// Runs a script of `tests/node/` with Node: the daemon's URL, the client's
/// folder, then `args`; returns the one JSON object it prints.
async fn run_node_script(script: &str, url: &str, args: &[&str], timeout: Duration) -> Value {
    let client = node::official_client_dir();
    let mut all: Vec<&std::ffi::OsStr> = vec![url.as_ref(), client.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    node::run_json(script, &all, timeout).await
}

async fn run_official_client(url: &str, token: Option<&str>) -> Value {
    let args: Vec<&str> = token.into_iter().collect();
    run_node_script("app-server-info.mjs", url, &args, TIMEOUT * 3).await
}

#[tokio::test]
async fn official_client_accepts_the_daemon() {
    let daemon = Daemon::start();
    // The client turns a bare base URL into .../ws, as users will pass it.
    let seen = run_official_client(&daemon.info.ws_url, None).await;
    assert_eq!(
        seen["accepted"], true,
        "isAppServerInfoResponseMessage rejected {}",
        seen["info"]
    );
    assert_eq!(seen["info"]["type"], "app_server_info_response");
    assert_eq!(seen["info"]["backend"], "api");
    // An unknown command is answered instead of timing out.
    assert_eq!(seen["unknown"]["type"], "error");
    assert_eq!(seen["unknown"]["command"], "no_such_command");
    // A failing command answers in its own reply type.
    assert_eq!(seen["unsynced"]["type"], "sync_response");
    assert_eq!(seen["unsynced"]["success"], false);
}

#[tokio::test]
async fn official_client_sends_the_auth_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "official-client-token").unwrap();
    let daemon = Daemon::start_with(
        Options::default()
            .arg("--auth-token-file")
            .arg(token.to_str().unwrap()),
    );
    let seen = run_official_client(&daemon.ws_url("/ws"), Some("official-client-token")).await;
    assert_eq!(seen["accepted"], true);
}

/// A whole turn on the local backend, driven by the official client: the
/// agent calls the client's external tool and answers with its result.
#[tokio::test]
async fn official_client_drives_a_local_turn() {
    let backend = Backend::local().await;
    let daemon = backend.daemon();
    let script = r#"[[call:Ext {"x": 7}]]"#;
    let seen = run_node_script(
        "local-turn.mjs",
        &daemon.info.ws_url,
        &[MODEL, script],
        TIMEOUT * 6,
    )
    .await;
    assert_eq!(seen["backend"], "local", "{seen}");
    assert_eq!(seen["started"]["success"], true, "{seen}");
    assert_eq!(seen["accepted"]["accepted"], true, "{seen}");
    assert_eq!(seen["calls"][0]["tool_name"], "Ext", "{seen}");
    assert_eq!(seen["calls"][0]["input"]["x"], 7, "{seen}");
    assert_eq!(seen["finished"]["stop_reason"], "end_turn", "{seen}");
    let deltas = seen["deltas"].to_string();
    assert!(
        deltas.contains("approval_request_message") && deltas.contains("assistant_message"),
        "{seen}"
    );
    assert_eq!(
        seen["forked"]["type"], "conversation_fork_response",
        "{seen}"
    );
    assert!(seen["forked"]["conversation"]["id"].is_string(), "{seen}");
    assert_ne!(
        seen["forked"]["conversation"]["id"],
        seen["started"]["runtime"]["conversation_id"]
    );
    assert_eq!(seen["recompiled"]["success"], true, "{seen}");
    assert!(
        seen["recompiled"]["result"]
            .as_str()
            .is_some_and(|prompt| prompt.contains("<base_instructions>")),
        "{seen}"
    );
}

/// A turn that calls an MCP server's tool, driven by the official client:
/// the servers go with its `runtime_start`, the read-only tool runs without
/// asking, and the client sees the result and the server's status.
#[tokio::test]
async fn official_client_runs_a_turn_with_an_mcp_tool() {
    let backend = Backend::local().await;
    let daemon = backend.daemon();
    let servers = serde_json::json!([{
        "name": "tests",
        "command": crate::mcp::python(),
        "args": [crate::mcp::test_server_script()],
    }]);
    let seen = run_node_script(
        "mcp-turn.mjs",
        &daemon.info.ws_url,
        &[
            MODEL,
            r#"[[call:mcp__tests__echo {"text": "official"}]]"#,
            &servers.to_string(),
        ],
        TIMEOUT * 6,
    )
    .await;
    assert_eq!(seen["started"]["success"], true, "{seen}");
    assert_eq!(seen["finished"]["stop_reason"], "end_turn", "{seen}");
    assert_eq!(seen["returns"][0]["text"], "echo: official", "{seen}");
    assert_eq!(seen["returns"][0]["status"], "success", "{seen}");
    let ready = seen["statuses"].as_array().unwrap().iter().any(|servers| {
        servers[0]["name"] == "tests"
            && servers[0]["status"] == "ready"
            && servers[0]["tools"]
                .as_array()
                .is_some_and(|tools| tools.contains(&"mcp__tests__echo".into()))
    });
    assert!(ready, "{seen}");
}

/// A subagent launched by the official client (`launch_subagent` with
/// `notify: "caller"`): the report comes in `update_subagent_state`.
#[tokio::test]
async fn official_client_launches_a_subagent() {
    let backend = Backend::local().await;
    let daemon = backend.daemon();
    let seen = run_node_script(
        "subagent-launch.mjs",
        &daemon.info.ws_url,
        &[MODEL, "the official explorer"],
        TIMEOUT * 6,
    )
    .await;
    assert_eq!(seen["capabilities"]["launch_subagent"], true, "{seen}");
    assert_eq!(seen["launched"]["success"], true, "{seen}");
    let task_id = seen["launched"]["task_id"].as_str().unwrap();
    assert_eq!(seen["subagent"]["subagent_id"], task_id, "{seen}");
    assert_eq!(seen["subagent"]["subagent_type"], "explore", "{seen}");
    assert!(
        seen["subagent"]["result"]
            .as_str()
            .unwrap()
            .contains("the official explorer"),
        "{seen}"
    );
    let report = seen["launched"]["output_file"].as_str().unwrap();
    let kept = std::fs::read_to_string(report).unwrap();
    assert!(kept.contains("the official explorer"), "{kept}");
}

/// The workspace commands of a desktop frontend, through the official
/// client's generic `request`: browse, search, edit, an escape refused, and
/// a command the daemon does not serve refused by name.
#[tokio::test]
async fn official_client_browses_and_edits_the_workspace() {
    let daemon = Daemon::start();
    let workspace = daemon.dir.path().join("ws");
    std::fs::create_dir_all(workspace.join("src")).unwrap();
    std::fs::write(
        workspace.join("src/main.rs"),
        "fn main() {\n    needle();\n}\n",
    )
    .unwrap();
    crate::support::git(&workspace, &["init", "-q", "-b", "main"]);
    crate::support::git(
        &workspace,
        &["commit", "-q", "--allow-empty", "-m", "first"],
    );
    let outside = daemon.dir.path().join("outside/secret.txt");
    std::fs::create_dir_all(outside.parent().unwrap()).unwrap();
    std::fs::write(&outside, "secret").unwrap();
    let seen = run_node_script(
        "workspace.mjs",
        &daemon.ws_url("/ws"),
        &[workspace.to_str().unwrap(), outside.to_str().unwrap()],
        TIMEOUT * 3,
    )
    .await;
    let root = std::fs::canonicalize(&workspace)
        .unwrap()
        .display()
        .to_string();
    assert_eq!(seen["boot"]["success"], true, "{seen}");
    assert_eq!(seen["boot"]["boot_working_directory"], root.as_str());
    assert_eq!(seen["cwdMap"]["boot_working_directory"], root.as_str());
    assert_eq!(seen["listing"]["type"], "list_in_directory_response");
    assert_eq!(seen["listing"]["folders"], serde_json::json!(["src"]));
    assert_eq!(seen["listing"]["hasMore"], false);
    assert_eq!(seen["tree"]["entries"][1]["path"], "src/main.rs", "{seen}");
    assert_eq!(seen["search"]["files"][0]["path"], "src/main.rs");
    let found = &seen["grep"]["matches"][0];
    assert_eq!(
        (found["line"].as_u64(), found["column"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(found["before"], serde_json::json!(["fn main() {"]));
    assert_eq!(seen["watched"]["type"], "file_changed", "{seen}");
    assert_eq!(
        seen["watched"]["path"],
        format!("{}/src/main.rs", workspace.display())
    );
    assert_eq!(seen["write"]["success"], true);
    assert_eq!(seen["edit"]["replacements"], 1);
    assert_eq!(seen["read"]["content"], "one\nthree\n");
    assert_eq!(seen["escape"]["type"], "read_file_response");
    assert_eq!(seen["escape"]["success"], false);
    assert_eq!(seen["escape"]["error_code"], -32012);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret");
    assert_eq!(seen["branches"]["branches"][0]["name"], "main", "{seen}");
    assert_eq!(seen["branches"]["branches"][0]["is_current"], true);
    assert_eq!(seen["checkout"]["branch"], "topic", "{seen}");
    assert_eq!(seen["unsupported"]["type"], "error");
    assert_eq!(seen["unsupported"]["command"], "channels_list");
    let why = seen["unsupported"]["error"].as_str().unwrap();
    assert!(why.contains("not supported by letta-daemon"), "{why}");
}

/// A terminal through the official client: spawned, typed into, killed.
#[tokio::test]
async fn official_client_opens_a_terminal() {
    let daemon = Daemon::start_with(Options::default().env("SHELL", "/bin/sh"));
    let cwd = daemon.dir.path().display().to_string();
    let seen = run_node_script("terminal.mjs", &daemon.ws_url("/ws"), &[&cwd], TIMEOUT * 3).await;
    assert_eq!(seen["spawned"]["terminal_id"], "official", "{seen}");
    assert!(seen["spawned"]["pid"].as_u64().is_some_and(|pid| pid > 1));
    assert!(seen["output"].as_str().unwrap().contains("from-42"));
    assert_eq!(seen["exited"]["terminal_id"], "official");
    assert!(seen["exited"]["exitCode"].is_i64(), "{seen}");
}

/// Schedules added, paused, resumed, changed, listed and deleted through the
/// official client; every change is announced with `crons_updated`.
#[tokio::test]
async fn official_client_manages_schedules() {
    let daemon = Daemon::start();
    let soon =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(3600))
            .to_string();
    let seen = run_node_script(
        "crons.mjs",
        &daemon.ws_url("/ws"),
        &["agent-official-crons", &soon],
        TIMEOUT * 3,
    )
    .await;
    let added = &seen["added"];
    assert_eq!(added["type"], "cron_add_response", "{seen}");
    assert_eq!(added["success"], true, "{seen}");
    assert_eq!(added["task"]["status"], "active");
    assert_eq!(added["task"]["timezone"], "Europe/Berlin");
    assert!(added["task"]["next_run_at"].is_string(), "{seen}");
    assert_eq!(seen["oneOff"]["task"]["conversation_id"], "new", "{seen}");
    assert_eq!(seen["oneOff"]["task"]["scheduled_for"], soon.as_str());
    assert_eq!(seen["oneOff"]["task"]["next_run_at"], soon.as_str());
    assert_eq!(seen["invalid"]["success"], false, "{seen}");
    assert!(
        seen["invalid"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("five fields")),
        "{seen}"
    );
    assert_eq!(seen["list"]["tasks"].as_array().map(Vec::len), Some(2));
    assert_eq!(seen["paused"]["task"]["status"], "paused", "{seen}");
    assert!(seen["paused"]["task"]["next_run_at"].is_null());
    assert_eq!(seen["resumed"]["task"]["status"], "active", "{seen}");
    assert_eq!(seen["updated"]["task"]["name"], "standup", "{seen}");
    assert_eq!(seen["updated"]["task"]["cron"], "0 10 * * 1-5");
    assert_ne!(
        seen["updated"]["task"]["next_run_at"],
        added["task"]["next_run_at"]
    );
    assert_eq!(seen["got"]["found"], true, "{seen}");
    assert_eq!(seen["got"]["task"]["name"], "standup");
    assert_eq!(seen["missing"]["success"], true, "{seen}");
    assert_eq!(seen["missing"]["found"], false);
    assert!(seen["missing"]["task"].is_null());
    assert_eq!(seen["runs"]["page"]["total"], 0, "{seen}");
    assert_eq!(seen["runs"]["page"]["hasMore"], false);
    assert_eq!(seen["deleted"]["found"], true, "{seen}");
    assert_eq!(seen["deletedAll"]["deleted"], 1, "{seen}");
    assert_eq!(seen["after"]["tasks"], serde_json::json!([]), "{seen}");
    // add, add, pause, resume, update, delete, delete_all.
    let updates = seen["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 7, "{seen}");
    assert!(
        updates
            .iter()
            .all(|update| update["agent_id"] == "agent-official-crons"),
        "{seen}"
    );
}

/// Providers connected and disconnected through the official client.
#[tokio::test]
async fn official_client_connects_a_provider() {
    let backend = Backend::local().await;
    let Backend::Local(local) = &backend else {
        unreachable!()
    };
    let daemon = backend.daemon();
    let seen = run_node_script(
        "providers.mjs",
        &daemon.info.ws_url,
        &[&local.model.url],
        TIMEOUT * 3,
    )
    .await;
    assert_eq!(seen["listed"]["success"], true, "{seen}");
    assert_eq!(seen["listed"]["providers"][0]["id"], "openai", "{seen}");
    assert_eq!(seen["refused"]["type"], "connect_provider_response");
    assert_eq!(seen["refused"]["success"], false, "{seen}");
    assert_eq!(seen["connected"]["success"], true, "{seen}");
    assert_eq!(
        seen["connected"]["providers"][0]["connected"]["is_connected"],
        true
    );
    assert!(!seen.to_string().contains("sk-official"), "{seen}");
    assert!(
        seen["models"]["entries"]
            .to_string()
            .contains("openai/fake-model"),
        "{seen}"
    );
    assert_eq!(
        seen["disconnected"]["providers"][0]["connected"]["is_connected"], false,
        "{seen}"
    );
}
