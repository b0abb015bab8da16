//! The tool-call journal across crashes: the daemon is killed (or crashes
//! on purpose with `LETTA_DAEMON_CRASH_AT`) at each step of a call.

use std::path::Path;

use serde_json::{Value, json};

use super::{approval, project, start_runtime, tool_returns};
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, TURN_TIMEOUT, user_input};
use crate::support::{Daemon, Options};

on_both_backends!(
    a_pending_approval_survives_a_daemon_crash,
    a_decided_call_runs_once_after_a_crash,
    a_stored_result_is_resent_not_recomputed,
    an_interrupted_write_is_reported_not_repeated,
    an_interrupted_read_runs_again,
    a_command_that_kills_the_daemon_is_not_run_twice,
    a_tool_call_cut_between_its_pieces_is_rebuilt_whole,
    results_sent_before_a_crash_are_not_sent_again,
);

/// The daemon dies after the first piece of a tool call's arguments was
/// committed and before the rest arrived: after the restart the call is
/// rebuilt whole and runs with exactly the arguments the agent sent.
async fn a_tool_call_cut_between_its_pieces_is_rebuilt_whole(backend: Backend) {
    let project = project();
    let script = r#"[[delay=0.2]] [[call:Write {"file_path": "whole.txt", "content": "rebuilt from every piece\n"}]]"#;
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-pieces-crash",
        project.path(),
        "acceptEdits",
        script,
        Some("tool-call-piece-committed"),
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    assert_eq!(
        std::fs::read_to_string(project.path().join("whole.txt")).unwrap_or_default(),
        "rebuilt from every piece\n"
    );
    let returns = tool_returns(&after, &runtime).await;
    assert_eq!(returns.len(), 1, "{returns:?}");
}

/// The daemon dies after the server took a call's result and answered it,
/// before the daemon noted the result as delivered: after the restart the
/// turn ends, and the next turn does not send that result again (the
/// server would refuse a result for a call that waits for none).
async fn results_sent_before_a_crash_are_not_sent_again(backend: Backend) {
    let project = project();
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-results-sent",
        project.path(),
        "unrestricted",
        APPEND,
        Some("tool-results-answered"),
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    after
        .send(user_input(&runtime, "[[notool]] and then", &cm("and-then")))
        .await;
    turn_finished(&mut after, &daemons).await;
    assert_eq!(count_lines(&project.path().join("count.txt")), 1);
    let returns = tool_returns(&after, &runtime).await;
    assert_eq!(returns.len(), 1, "{returns:?}");
}

/// Starts a daemon, runs `script` until `until` is seen (or the daemon
/// dies), kills it, restarts it on the same data and follows the turn to
/// its end. Returns the frontend after the restart and the runtime.
async fn across_a_crash(
    backend: &Backend,
    name: &str,
    project: &Path,
    mode: &str,
    script: &str,
    crash_at: Option<&str>,
) -> (Crashed, Frontend, Value) {
    let mut options = backend.options();
    if let Some(point) = crash_at {
        options = options.env("LETTA_DAEMON_CRASH_AT", point);
    }
    let mut crashed = Daemon::start_with(options);
    let mut before = Frontend::connect(&crashed).await;
    let runtime = start_runtime(&before, name, project, mode).await;
    before.send(user_input(&runtime, script, &cm(name))).await;
    if crash_at.is_some() || script.contains("kill -9") {
        // The daemon dies by itself; the connection closes.
        while let Ok(frame) = before.client.next_unsolicited(TURN_TIMEOUT).await {
            before.seen.push(frame);
        }
        let status = crashed.wait();
        assert!(!status.success(), "the daemon crashed: {status}");
    } else {
        before.wait_for_type("control_request").await;
        crashed.kill();
    }
    let last_seen = before.event_seqs().into_iter().max().unwrap_or(0);
    let restarted = Daemon::start_with(Options {
        data_dir: Some(crashed.data_dir.clone()),
        ..backend.options()
    });
    let after = Frontend::connect(&restarted).await;
    let synced = after
        .request(json!({"type": "sync", "request_id": "sync-after", "runtime": runtime, "after_event_seq": last_seen}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    (
        Crashed {
            _before: crashed,
            after: restarted,
        },
        after,
        runtime,
    )
}

/// Both daemons of a crash test: the first one's directory holds the data
/// the second one runs on.
struct Crashed {
    _before: Daemon,
    after: Daemon,
}

/// Waits for the turn to end well after the restart.
async fn turn_finished(after: &mut Frontend, daemons: &Crashed) -> Value {
    let finished = after.wait_for_type("turn_finished").await;
    assert_eq!(
        finished["stop_reason"],
        "end_turn",
        "{finished}\n{}",
        daemons.after.stderr()
    );
    finished
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

async fn a_pending_approval_survives_a_daemon_crash(backend: Backend) {
    let project = project();
    let script = r#"[[call:Write {"file_path": "kept.txt", "content": "kept\n"}]]"#;
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-approval-crash",
        project.path(),
        "standard",
        script,
        None,
    )
    .await;
    // Re-presented, not auto-denied.
    let status = after
        .seen_or_wait_for("device status", |frame| {
            frame["type"] == "update_device_status"
        })
        .await;
    let pending = status["device_status"]["pending_control_requests"].clone();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{status}");
    assert_eq!(pending[0]["request"]["tool_name"], "Write");
    let accepted = after
        .request(approval(
            &runtime,
            &pending[0]["request_id"],
            json!({"behavior": "allow"}),
            "allow",
        ))
        .await;
    assert_eq!(accepted["accepted"], true, "{accepted}");
    turn_finished(&mut after, &daemons).await;
    assert_eq!(
        std::fs::read_to_string(project.path().join("kept.txt")).unwrap(),
        "kept\n"
    );
}

const APPEND: &str = r#"[[call:Bash {"command": "echo run >> count.txt && echo appended", "description": "count"}]]"#;

async fn a_decided_call_runs_once_after_a_crash(backend: Backend) {
    let project = project();
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-crash-decided",
        project.path(),
        "unrestricted",
        APPEND,
        Some("tool-decided"),
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    assert_eq!(count_lines(&project.path().join("count.txt")), 1);
    let returns = tool_returns(&after, &runtime).await;
    assert_eq!(returns.len(), 1, "{returns:?}");
    assert!(returns[0].contains("appended"), "{returns:?}");
}

async fn a_stored_result_is_resent_not_recomputed(backend: Backend) {
    let project = project();
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-crash-stored",
        project.path(),
        "unrestricted",
        APPEND,
        Some("tool-stored"),
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    assert_eq!(
        count_lines(&project.path().join("count.txt")),
        1,
        "ran once"
    );
    let returns = tool_returns(&after, &runtime).await;
    assert_eq!(returns.len(), 1, "{returns:?}");
    assert!(returns[0].contains("appended"), "{returns:?}");
    // The call's end and result were told with the result stored.
    let replayed = replay_from_the_start(&daemons.after, &runtime).await;
    for kind in ["client_tool_end", "tool_return_message"] {
        assert_eq!(
            replayed.deltas(kind).len(),
            1,
            "{kind}: {:?}",
            replayed.types()
        );
    }
}

/// A new frontend given every event of the runtime, up to its turn's end.
async fn replay_from_the_start(daemon: &Daemon, runtime: &Value) -> Frontend {
    let mut frontend = Frontend::connect(daemon).await;
    let synced = frontend
        .request(json!({"type": "sync", "request_id": "sync-all", "runtime": runtime, "after_event_seq": 0}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    frontend.wait_for_type("turn_finished").await;
    frontend
}

async fn an_interrupted_write_is_reported_not_repeated(backend: Backend) {
    let project = project();
    let script = r#"[[call:Write {"file_path": "w.txt", "content": "w\n"}]]"#;
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-crash-write",
        project.path(),
        "acceptEdits",
        script,
        Some("tool-executing"),
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    assert!(!project.path().join("w.txt").exists(), "not run again");
    let returns = tool_returns(&after, &runtime).await;
    assert!(returns[0].contains("Interrupted"), "{returns:?}");
}

async fn an_interrupted_read_runs_again(backend: Backend) {
    let project = project();
    let script = r#"[[call:Read {"file_path": "a.txt"}]]"#;
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-crash-read",
        project.path(),
        "standard",
        script,
        Some("tool-executing"),
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    let returns = tool_returns(&after, &runtime).await;
    assert!(returns[0].contains("alpha"), "{returns:?}");
}

async fn a_command_that_kills_the_daemon_is_not_run_twice(backend: Backend) {
    let project = project();
    // `$PPID` of `bash -c` is the daemon: a kill -9 mid-command.
    let script = r#"[[call:Bash {"command": "echo run >> count.txt; kill -9 $PPID; sleep 1", "description": "crash"}]]"#;
    let (daemons, mut after, runtime) = across_a_crash(
        &backend,
        "e2e-crash-bash",
        project.path(),
        "unrestricted",
        script,
        None,
    )
    .await;
    turn_finished(&mut after, &daemons).await;
    assert_eq!(
        count_lines(&project.path().join("count.txt")),
        1,
        "not run again"
    );
    let returns = tool_returns(&after, &runtime).await;
    assert!(returns[0].contains("Interrupted"), "{returns:?}");
}
