//! MCP servers as tool sources: a small server on the official Python SDK
//! (`tests/tools/mcp_test_server.py`, over stdio and streamable HTTP) and
//! the MCP project's filesystem server from npm, configured per agent in
//! `~/.letta/settings.json` as Letta Code keeps them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::local_tools::{approval, project, tool_returns};
use crate::support::Daemon;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::ctl::Shell;
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::node::{install, repo_root};

on_both_backends!(an_agent_gets_a_servers_tools_and_its_calls_are_decided_like_any_other,);

/// What `tests/tools/mcp-servers.sh` installed (once per test run).
fn installed() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| install("mcp-servers.sh")).clone()
}

pub(crate) fn python() -> String {
    installed().join("py/bin/python").display().to_string()
}

pub(crate) fn test_server_script() -> String {
    repo_root()
        .join("tests/tools/mcp_test_server.py")
        .display()
        .to_string()
}

/// The test server on stdio, named `tests`, logging its calls to `log`.
pub(crate) fn stdio_server(log: &Path) -> Value {
    json!({
        "name": "tests",
        "transport": "stdio",
        "command": python(),
        "args": [test_server_script()],
        "env": {"MCP_TEST_CALL_LOG": log.display().to_string()},
    })
}

/// Gives the agent of `runtime` these MCP servers, in the settings file of
/// the daemon's home.
pub(crate) fn configure(home: &Path, runtime: &Value, servers: Value) {
    let agent_id = runtime["agent_id"]
        .as_str()
        .expect("the runtime has an agent");
    let settings = json!({"agents": [{"agentId": agent_id, "mcpServers": servers}]});
    std::fs::create_dir_all(home.join(".letta")).unwrap();
    std::fs::write(home.join(".letta/settings.json"), settings.to_string()).unwrap();
}

/// Allows these rules in the project's settings.
fn allow(project: &Path, rules: &[&str]) {
    std::fs::create_dir_all(project.join(".letta")).unwrap();
    std::fs::write(
        project.join(".letta/settings.json"),
        json!({"permissions": {"allow": rules}}).to_string(),
    )
    .unwrap();
}

/// The calls the test server really ran, in order.
pub(crate) fn calls(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `daemon_status` until its MCP servers satisfy `done` (each server
/// starts in its own time).
async fn mcp_status_until(frontend: &Frontend, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = frontend.request(json!({"type": "daemon_status"})).await;
        let servers = status["mcp_servers"].clone();
        if done(&servers) {
            return servers;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "MCP servers never became {what}: {servers}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn server_named<'a>(servers: &'a Value, name: &str) -> &'a Value {
    servers
        .as_array()
        .and_then(|servers| servers.iter().find(|server| server["name"] == name))
        .unwrap_or(&Value::Null)
}

async fn an_agent_gets_a_servers_tools_and_its_calls_are_decided_like_any_other(backend: Backend) {
    let project = project();
    let log = project.path().join("calls.jsonl");
    let note = project.path().join("note.txt");
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-mcp-tools", project.path(), "standard").await;
    configure(daemon.dir.path(), &runtime, json!([stdio_server(&log)]));

    let script = format!(
        r#"offered-mcp-tools [[call:mcp__tests__echo {{"text": "hi"}}]] [[call:mcp__tests__write_note {{"path": "{}", "text": "n"}}]]"#,
        note.display()
    );
    frontend
        .send(user_input(&runtime, &script, &cm("mcp-tools")))
        .await;
    let asked = frontend.wait_for_type("control_request").await;
    assert_eq!(
        asked["request"]["tool_name"], "mcp__tests__write_note",
        "{asked}"
    );
    assert_eq!(
        asked["request"]["permission_suggestions"][0]["text"],
        "Yes, and allow mcp__tests__write_note for the rest of this session"
    );
    // The server marks echo read-only: it ran without asking.
    let returned = frontend.deltas("tool_return_message");
    assert_eq!(returned.len(), 1, "{:?}", frontend.types());
    assert_eq!(returned[0]["tool_return"], "echo: hi");
    let status = frontend
        .seen_or_wait_for("the server in device status", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["mcp_servers"][0]["status"] == "ready"
        })
        .await;
    let server = &status["device_status"]["mcp_servers"][0];
    assert_eq!(server["name"], "tests");
    assert_eq!(server["transport"], "stdio");
    assert!(
        status["device_status"]["current_loaded_tools"]
            .as_array()
            .unwrap()
            .contains(&json!("mcp__tests__grow")),
        "{status}"
    );

    let denied = frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "deny", "message": "not now"}),
            "deny-note",
        ))
        .await;
    assert_eq!(denied["accepted"], true, "{denied}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(!note.exists(), "a denied call does not run");
    let ran: Vec<Value> = calls(&log)
        .iter()
        .map(|call| call["tool"].clone())
        .collect();
    assert_eq!(ran, [json!("echo")]);
    let returns = tool_returns(&frontend, &runtime).await;
    assert!(
        returns.iter().any(|text| text.contains("not now")),
        "{returns:?}"
    );

    let mut offered = backend.offered_tools("offered-mcp-tools").await;
    offered.retain(|name| name.starts_with("mcp__"));
    offered.sort();
    assert_eq!(
        offered,
        [
            "mcp__tests__crash",
            "mcp__tests__echo",
            "mcp__tests__grow",
            "mcp__tests__write_note"
        ]
    );
}

/// A rule naming the server allows its tools; a server that dies in the
/// middle of a call fails that call clearly and is started again; tools it
/// adds reach the agent's next turn; `letta-ctl mcp list` shows it all.
#[tokio::test]
async fn a_server_is_allowed_by_rule_restarted_when_it_dies_and_its_new_tools_offered() {
    let backend = Backend::mock().await;
    let project = project();
    let log = project.path().join("calls.jsonl");
    let note = project.path().join("note.txt");
    allow(project.path(), &["mcp__tests"]);
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-mcp-restart", project.path(), "standard").await;
    let broken =
        json!({"name": "broken", "transport": "stdio", "command": "/nonexistent/mcp-server"});
    let unusable = json!({"name": "old", "transport": "sse", "url": "http://127.0.0.1:1/sse"});
    configure(
        daemon.dir.path(),
        &runtime,
        json!([stdio_server(&log), broken, unusable]),
    );

    let script = format!(
        r#"[[call:mcp__tests__write_note {{"path": "{}", "text": "by rule"}}]] [[call:mcp__tests__crash {{}}]] [[call:mcp__tests__grow {{"name": "fresh"}}]]"#,
        note.display()
    );
    frontend
        .send(user_input(&runtime, &script, &cm("mcp-restart")))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(
        !frontend.asked_anyone(),
        "the rule allows every tool of the server"
    );
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "by rule");
    let returns: Vec<&Value> = frontend.deltas("tool_return_message");
    assert_eq!(returns.len(), 3, "{:?}", frontend.types());
    assert_eq!(returns[1]["status"], "error", "{}", returns[1]);
    let crashed = returns[1]["tool_return"].as_str().unwrap();
    assert!(
        crashed.contains("MCP server tests failed during mcp__tests__crash"),
        "{crashed}"
    );
    // The call after the crash ran on the restarted server.
    assert_eq!(returns[2]["tool_return"], "added fresh", "{}", returns[2]);
    let ran = calls(&log);
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert_ne!(ran[1]["pid"], ran[2]["pid"], "a new process: {ran:?}");

    let servers = mcp_status_until(&frontend, "ready with the new tool", |servers| {
        server_named(servers, "tests")["tools"]
            .as_array()
            .is_some_and(|tools| tools.contains(&json!("mcp__tests__fresh")))
    })
    .await;
    assert_eq!(server_named(&servers, "tests")["status"], "ready");
    let broken = server_named(&servers, "broken");
    assert_eq!(broken["status"], "failed", "{servers}");
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("cannot start /nonexistent/mcp-server"),
        "{servers}"
    );
    assert!(
        server_named(&servers, "old")["error"]
            .as_str()
            .unwrap()
            .contains("SSE"),
        "{servers}"
    );

    frontend
        .send(user_input(
            &runtime,
            "[[call:mcp__tests__fresh {}]]",
            &cm("mcp-fresh"),
        ))
        .await;
    frontend
        .wait_for("the new tool's result", |frame| {
            frame["delta"]["message_type"] == "tool_return_message"
                && frame["delta"]["tool_return"] == "fresh ran"
        })
        .await;
    assert!(
        backend
            .offered_tools(&cm("mcp-fresh"))
            .await
            .contains(&"mcp__tests__fresh".to_owned())
    );

    let shell = Shell::new(project.path(), &daemon.data_dir);
    let listed = shell.run(&["mcp", "list"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains("tests"), "{}", listed.stdout);
    assert!(
        listed.stdout.contains("ready     5 tools"),
        "{}",
        listed.stdout
    );
    assert!(
        listed
            .stdout
            .contains("cannot start /nonexistent/mcp-server"),
        "{}",
        listed.stdout
    );
    let json = shell.run(&["--json", "mcp", "list"]).await.json();
    assert_eq!(json.as_array().unwrap().len(), 3, "{json}");
}

/// A server over streamable HTTP, its header taken from the environment.
#[tokio::test]
async fn a_server_over_http_is_used_like_a_local_one() {
    let backend = Backend::mock().await;
    let project = project();
    let log = project.path().join("calls.jsonl");
    let port = free_port();
    let mut server = tokio::process::Command::new(python())
        .args([&test_server_script(), "--http", &port.to_string()])
        .env("MCP_TEST_CALL_LOG", &log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    listening(port).await;
    let daemon = Daemon::start_with(backend.options().env("MCP_TEST_TOKEN", "secret"));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-mcp-http", project.path(), "standard").await;
    configure(
        daemon.dir.path(),
        &runtime,
        json!([{
            "name": "remote",
            "transport": "http",
            "url": format!("http://127.0.0.1:{port}/mcp"),
            "headers": {"Authorization": "Bearer ${MCP_TEST_TOKEN}"},
        }]),
    );
    frontend
        .send(user_input(
            &runtime,
            r#"[[call:mcp__remote__echo {"text": "over http"}]]"#,
            &cm("mcp-http"),
        ))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(
        frontend.last_tool_return(),
        "echo: over http",
        "{}",
        daemon.stderr()
    );
    assert_eq!(calls(&log).len(), 1);
    server.kill().await.unwrap();
}

/// The MCP project's own filesystem server, from npm: its read-only tools
/// run without asking, its writes ask, and an approved write is done.
#[tokio::test]
async fn the_reference_filesystem_server_reads_freely_and_asks_to_write() {
    let backend = Backend::mock().await;
    let project = project();
    let root = std::fs::canonicalize(project.path()).unwrap();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-mcp-files", project.path(), "standard").await;
    let command = installed().join("node_modules/.bin/mcp-server-filesystem");
    configure(
        daemon.dir.path(),
        &runtime,
        json!([{"name": "files", "command": command.display().to_string(), "args": [root.display().to_string()]}]),
    );
    let script = format!(
        r#"[[call:mcp__files__read_text_file {{"path": "{0}/a.txt"}}]] [[call:mcp__files__write_file {{"path": "{0}/made.txt", "content": "made by MCP"}}]]"#,
        root.display()
    );
    frontend
        .send(user_input(&runtime, &script, &cm("mcp-files")))
        .await;
    let asked = frontend.wait_for_type("control_request").await;
    assert_eq!(
        asked["request"]["tool_name"], "mcp__files__write_file",
        "{asked}"
    );
    let read = frontend.deltas("tool_return_message");
    assert_eq!(read.len(), 1, "{:?}", frontend.types());
    assert!(
        read[0]["tool_return"].as_str().unwrap().contains("alpha"),
        "{}",
        read[0]
    );
    let allowed = frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "allow"}),
            "allow-write",
        ))
        .await;
    assert_eq!(allowed["accepted"], true, "{allowed}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(
        std::fs::read_to_string(root.join("made.txt")).unwrap(),
        "made by MCP"
    );
}

/// The daemon dies after an allowed MCP call was marked as running: after
/// the restart the call is reported as interrupted, and the server never
/// runs it.
#[tokio::test]
async fn an_mcp_call_cut_by_a_crash_is_reported_not_repeated() {
    let backend = Backend::mock().await;
    let project = project();
    let log = project.path().join("calls.jsonl");
    let note = project.path().join("note.txt");
    allow(project.path(), &["mcp__tests__write_note"]);
    let home = tempfile::tempdir().unwrap();
    let options = || backend.options().home(home.path());
    let mut crashed = Daemon::start_with(options().crash_at("tool-executing"));
    let before = Frontend::connect(&crashed).await;
    let runtime = start_runtime(&before, "e2e-mcp-crash", project.path(), "standard").await;
    configure(home.path(), &runtime, json!([stdio_server(&log)]));
    let script = format!(
        r#"[[call:mcp__tests__write_note {{"path": "{}", "text": "once"}}]]"#,
        note.display()
    );
    before
        .send(user_input(&runtime, &script, &cm("mcp-crash")))
        .await;
    before.until_crashed(&mut crashed).await;

    let (_restarted, mut after) = Backend::restart_with(options(), &crashed, &runtime).await;
    let finished = after.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returns = tool_returns(&after, &runtime).await;
    assert_eq!(returns.len(), 1, "{returns:?}");
    assert!(returns[0].contains("Interrupted"), "{returns:?}");
    assert!(!note.exists());
    assert!(calls(&log).is_empty(), "{:?}", calls(&log));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
async fn listening(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server runs while its agent's configuration names it: taken out of
/// the configuration, it is stopped at the next turn; put back, it starts
/// again; and it stops with the daemon.
#[tokio::test]
async fn a_server_stops_when_no_longer_configured_and_with_the_daemon() {
    let backend = Backend::mock().await;
    let project = project();
    let log = project.path().join("calls.jsonl");
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-mcp-stop", project.path(), "standard").await;
    let echo = |n: usize| format!(r#"[[call:mcp__tests__echo {{"text": "{n}"}}]]"#);
    let turn = async |frontend: &mut Frontend, text: &str, name: &str| {
        frontend.send(user_input(&runtime, text, &cm(name))).await;
        let finished = frontend.wait_for_type("turn_finished").await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    };

    configure(daemon.dir.path(), &runtime, json!([stdio_server(&log)]));
    turn(&mut frontend, &echo(1), "mcp-stop-1").await;
    let first = calls(&log)[0]["pid"].as_u64().unwrap();
    assert!(running(first));

    configure(daemon.dir.path(), &runtime, json!([]));
    turn(&mut frontend, "[[notool]] no servers now", "mcp-stop-2").await;
    gone(first).await;

    configure(daemon.dir.path(), &runtime, json!([stdio_server(&log)]));
    turn(&mut frontend, &echo(2), "mcp-stop-3").await;
    let second = calls(&log)[1]["pid"].as_u64().unwrap();
    assert_ne!(first, second);
    assert!(running(second));

    let status = daemon.stop();
    assert!(status.success(), "{status}\n{}", daemon.stderr());
    assert!(!daemon.stderr().contains("panicked"), "{}", daemon.stderr());
    gone(second).await;
}

fn running(pid: u64) -> bool {
    // A zombie is not running: its parent has yet to reap it.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// Waits until process `pid` has ended.
async fn gone(pid: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while running(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
