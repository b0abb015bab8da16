//! Crashes, closed connections and reconnects: nothing lost, repeated or
//! left behind.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, TURN_TIMEOUT, start_runtime, user_input};
use crate::support::{Daemon, Options};

on_both_backends!(
    an_input_without_an_id_reaches_the_server_once_across_a_crash,
    a_turn_ending_as_the_daemon_crashes_is_reported_once,
    tools_of_a_closed_connection_are_withdrawn,
);

fn tool(description: &str) -> Value {
    json!([{
        "name": "Ext",
        "description": description,
        "parameters": { "type": "object", "properties": { "x": { "type": "integer" } } },
    }])
}

fn loaded_tools(frame: &Value) -> Vec<String> {
    frame["device_status"]["current_loaded_tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|tool| tool.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A frontend's external tools go with its connection: reconnecting three
/// times leaves one registration, the newest, and it is the one offered.
async fn tools_of_a_closed_connection_are_withdrawn(backend: Backend) {
    let daemon = backend.daemon();
    let mut observer = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &observer,
        "e2e-withdrawn-tools",
        Path::new("/tmp"),
        "standard",
    )
    .await;
    for round in 0..3 {
        let frontend = Frontend::connect(&daemon).await;
        let registered = frontend
            .request(json!({
                "type": "runtime_start",
                "agent_id": runtime["agent_id"],
                "conversation_id": runtime["conversation_id"],
                "external_tools": [{ "tools": tool(&format!("version {round}")) }],
            }))
            .await;
        assert_eq!(registered["success"], true, "{registered}");
        observer
            .wait_for("Ext offered", |frame| {
                frame["type"] == "update_device_status"
                    && loaded_tools(frame)
                        .iter()
                        .filter(|name| *name == "Ext")
                        .count()
                        == 1
            })
            .await;
        drop(frontend);
        observer
            .wait_for("Ext withdrawn", |frame| {
                frame["type"] == "update_device_status"
                    && !loaded_tools(frame).iter().any(|name| name == "Ext")
            })
            .await;
    }
    let mut last = Frontend::connect(&daemon).await;
    last.request(json!({
        "type": "runtime_start",
        "agent_id": runtime["agent_id"],
        "conversation_id": runtime["conversation_id"],
        "external_tools": [{ "tools": tool("the newest") }],
    }))
    .await;
    let status = daemon_status(&last).await;
    let registered: usize = status["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|summary| summary["external_tools"].as_u64().unwrap_or(0) as usize)
        .sum();
    assert_eq!(registered, 1, "{status}");
    last.send(crate::support::frontend::user_input(
        &runtime,
        r#"[[call:Ext {"x": 1}]]"#,
        &crate::support::backend::cm("withdrawn-tools"),
    ))
    .await;
    let call = last.wait_for_type("external_tool_call_request").await;
    last.send(json!({
        "type": "external_tool_call_response",
        "request_id": call["request_id"],
        "result": { "content": [{ "type": "text", "text": "from the newest" }] },
    }))
    .await;
    let finished = last.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

async fn daemon_status(frontend: &Frontend) -> Value {
    frontend.request(json!({"type": "daemon_status"})).await
}

/// The daemon crashes right after the server took the message and before
/// anything about its run was stored; the frontend sent no
/// `client_message_id`. After the restart the turn finishes and the
/// conversation holds the message once.
async fn an_input_without_an_id_reaches_the_server_once_across_a_crash(backend: Backend) {
    let (mut crashed, mut before, runtime) =
        crashing_at(&backend, "message-sent", "e2e-no-id-crash").await;
    let text = format!("no id here {}", std::process::id());
    let accepted = before
        .request(json!({
            "type": "input",
            "runtime": runtime,
            "payload": {
                "kind": "create_message",
                "messages": [{ "role": "user", "content": text }],
            },
        }))
        .await;
    assert_eq!(accepted["accepted"], true, "{accepted}");
    let (restarted, mut after) = after_the_crash(&backend, &mut crashed, &mut before).await;
    let synced = after
        .request(json!({"type": "sync", "request_id": "sync", "runtime": runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let finished = after
        .seen_or_wait_for("turn_finished", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(
        finished["stop_reason"],
        "end_turn",
        "{finished}\n{}",
        restarted.stderr()
    );
    let copies = after
        .stored_messages(&runtime)
        .await
        .into_iter()
        .filter(|message| {
            message["message_type"] == "user_message" && content_text(message).contains(&text)
        })
        .count();
    assert_eq!(copies, 1, "the user message is stored exactly once");
}

/// The daemon crashes as it records the end of a turn. After the restart
/// the turn's end is reported, once: a turn marked done without its
/// `turn_finished` would leave every frontend waiting for it.
async fn a_turn_ending_as_the_daemon_crashes_is_reported_once(backend: Backend) {
    let (mut crashed, mut before, runtime) =
        crashing_at(&backend, "turn-ending", "e2e-end-crash").await;
    before
        .send(user_input(
            &runtime,
            "[[notool]] a short one",
            &cm("ending"),
        ))
        .await;
    let (_restarted, mut after) = after_the_crash(&backend, &mut crashed, &mut before).await;
    let synced = after
        .request(json!({"type": "sync", "runtime": runtime, "after_event_seq": 0}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let finished = after
        .seen_or_wait_for("turn_finished", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    // Up to the runtime's last event, no second end of the same turn.
    let status = daemon_status(&after).await;
    assert_eq!(status["runtimes"][0]["is_processing"], false, "{status}");
    let last = status["runtimes"][0]["last_event_seq"].clone();
    after
        .seen_or_wait_for("the last event", |frame| frame["event_seq"] == last)
        .await;
    let ends = after
        .seen
        .iter()
        .filter(|frame| frame["type"] == "turn_finished")
        .count();
    assert_eq!(ends, 1, "{:?}", after.types());
    // The run's last events go out with the turn's end: streamed again
    // after the restart, and exactly once.
    assert_eq!(after.deltas("stop_reason").len(), 1, "{:?}", after.types());
    assert_eq!(
        after.deltas("usage_statistics").len(),
        1,
        "{:?}",
        after.types()
    );
}

/// A daemon that aborts at crash point `point`, a frontend on it and a new
/// runtime (`name`) working in /tmp.
async fn crashing_at(backend: &Backend, point: &str, name: &str) -> (Daemon, Frontend, Value) {
    let daemon = Daemon::start_with(backend.options().env("LETTA_DAEMON_CRASH_AT", point));
    let frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, name, Path::new("/tmp"), "standard").await;
    (daemon, frontend, runtime)
}

/// Reads `before` until the daemon has crashed on purpose; starts another
/// on its data and connects to it.
async fn after_the_crash(
    backend: &Backend,
    crashed: &mut Daemon,
    before: &mut Frontend,
) -> (Daemon, Frontend) {
    while let Ok(frame) = before.client.next_unsolicited(TURN_TIMEOUT).await {
        before.seen.push(frame);
    }
    let status = crashed.wait();
    assert!(!status.success(), "the daemon crashed on purpose: {status}");
    let restarted = Daemon::start_with(Options {
        data_dir: Some(crashed.data_dir.clone()),
        ..backend.options()
    });
    let after = Frontend::connect(&restarted).await;
    (restarted, after)
}

fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A command the agent ran in the background does not outlive the daemon.
#[tokio::test]
async fn background_commands_end_when_the_daemon_stops() {
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "background", project.path(), "unrestricted").await;
    let script = r#"[[call:Bash {"command": "echo $$ > bg.pid; exec sleep 300", "description": "wait", "run_in_background": true}]]"#;
    frontend
        .send(crate::support::frontend::user_input(
            &runtime,
            script,
            &crate::support::backend::cm("background-stop"),
        ))
        .await;
    frontend.wait_for_type("turn_finished").await;
    let pid = written_pid(&project.path().join("bg.pid")).await;
    assert!(alive(pid), "the background command runs");
    let status = daemon.stop();
    assert!(status.success(), "{status}");
    assert!(!alive(pid), "the background command ended with the daemon");
}

/// Commands a crashed daemon left running (a background job, the command
/// a turn was waiting on, and one that left the job's process group) are
/// killed when a daemon starts again on the same data directory: the
/// journal reports them interrupted, so nothing may still be acting.
#[tokio::test]
async fn commands_a_killed_daemon_left_running_end_when_it_restarts() {
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let mut daemon = backend.daemon();
    let frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "orphans", project.path(), "unrestricted").await;
    let background = r#"[[call:Bash {"command": "setsid sh -c 'echo $$ > escaped.pid; exec sleep 300' & echo $$ > bg.pid; exec sleep 300", "description": "wait", "run_in_background": true}]]"#;
    let foreground =
        r#"[[call:Bash {"command": "echo $$ > fg.pid; exec sleep 300", "description": "wait"}]]"#;
    for (script, otid) in [(background, "orphans-bg"), (foreground, "orphans-fg")] {
        frontend
            .send(crate::support::frontend::user_input(
                &runtime,
                script,
                &crate::support::backend::cm(otid),
            ))
            .await;
    }
    let mut pids = Vec::new();
    for name in ["bg.pid", "escaped.pid", "fg.pid"] {
        pids.push(written_pid(&project.path().join(name)).await);
    }
    daemon.kill();
    assert!(
        pids.iter().all(|pid| alive(*pid)),
        "a crash leaves them running"
    );

    let (_daemon, _frontend) = backend.restart(&daemon, &runtime).await;
    crate::support::within(async {
        while pids.iter().any(|pid| alive(*pid)) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The pid a command wrote to `path`, once it has.
async fn written_pid(path: &Path) -> u32 {
    crate::support::within(async {
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse::<u32>()
            {
                return pid;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Whether a process exists and is not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().to_owned())
        })
        .is_some_and(|state| !state.starts_with('Z'))
}

/// An input whose connection closes while the daemon is still taking it
/// (a terminal closed right after sending) runs all the same: it is stored
/// and queued, so it must not wait for a wake-up that only the closed
/// request would have given.
#[tokio::test]
async fn an_input_whose_connection_closes_midway_still_runs() {
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with(
        backend
            .options()
            .env("LETTA_DAEMON_STALL_AT", "input-queued"),
    );
    // A busy runtime, whose events keep writing to the connection that
    // closes, so the daemon notices it is gone while the input is taken.
    let mut busy = Frontend::connect(&daemon).await;
    let busy_runtime = start_runtime(&busy, "busy", project.path(), "standard").await;
    let long = "[[notool]] [[delay=0.05]] [[repeat=200]] busy";
    busy.send(user_input(&busy_runtime, long, &cm("busy")))
        .await;
    busy.wait_for("the busy runtime's stream", |frame| {
        frame["delta"]["message_type"] == "assistant_message"
    })
    .await;
    let mut watcher = Frontend::connect(&daemon).await;
    let idle_runtime = start_runtime(&watcher, "idle", project.path(), "standard").await;

    let closing = Frontend::connect(&daemon).await;
    let synced = closing
        .request(json!({"type": "sync", "runtime": busy_runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let orphan = user_input(&idle_runtime, "[[notool]] after the close", &cm("orphan"));
    closing.send(orphan).await;
    drop(closing);

    let finished = watcher.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}
