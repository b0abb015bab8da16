//! Subagents launched in the foreground (`run_in_background: false`): the
//! `Agent` call waits and its result is the report, once, also across a
//! daemon crash; no `<task-notification>` follows.

use std::time::Duration;

use serde_json::{Value, json};

use super::{assert_ran_once_each, command, notices, scripted_call, slow_mock, subagent_state};
use crate::local_tools::project;
use crate::support::Daemon;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime, user_input};

on_both_backends!(an_agent_waits_for_its_explorers_report,);

fn foreground(kind: &str, description: &str, prompt: &str) -> String {
    scripted_call(json!({
        "description": description,
        "prompt": prompt,
        "subagent_type": kind,
        "run_in_background": false,
    }))
}

/// What the parent's `Agent` calls returned, as its frontend saw them.
fn reports(frontend: &Frontend) -> Vec<String> {
    frontend
        .deltas("tool_return_message")
        .iter()
        .filter_map(|delta| delta["tool_return"].as_str())
        .filter(|text| text.starts_with("Subagent subagent-"))
        .map(str::to_owned)
        .collect()
}

/// Runs one more turn and waits for its end: an input queued before it
/// (a notice) would have run first.
async fn one_more_turn(frontend: &mut Frontend, runtime: &Value, id: &str) {
    let marker = cm(id);
    frontend
        .send(user_input(runtime, &format!("and now? {marker}"), &marker))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        frontend.wait_for_type("turn_finished").await;
        let stored = frontend.stored_messages(runtime).await;
        if stored.iter().any(|message| {
            message["message_type"] == "user_message"
                && message["content"].to_string().contains(&marker)
        }) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the extra turn never ran"
        );
    }
}

async fn an_agent_waits_for_its_explorers_report(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-subagent-fg", project.path(), "standard").await;
    let marker = cm("fg-report");
    let script = foreground(
        "explore",
        "look first",
        &format!("explorer report {marker}"),
    );
    frontend
        .send(user_input(&runtime, &script, &cm("fg-delegate")))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let reports = reports(&frontend);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("(explore \"look first\")"),
        "{reports:?}"
    );
    assert!(reports[0].contains("completed. Its report:"), "{reports:?}");
    assert!(reports[0].contains(&marker), "{reports:?}");
    let done = subagent_state(&mut frontend, 1, "completed").await;
    assert_eq!(done["subagents"][0]["is_background"], false, "{done}");

    one_more_turn(&mut frontend, &runtime, "fg-after").await;
    let notices = notices(&frontend, &runtime).await;
    assert!(
        notices.is_empty(),
        "the report came as the result only: {notices:?}"
    );
}

/// Two foreground subagents work at once, each running a command; the
/// daemon is killed while the parent waits on both: after the restart the
/// parent's call returns both reports, once each, and no command ran twice.
#[tokio::test]
async fn a_parent_waiting_on_two_subagents_survives_a_crash() {
    let backend = slow_mock().await;
    let project = project();
    let home = tempfile::tempdir().unwrap();
    let options = || backend.options().home(home.path());
    let mut daemon = Daemon::start_with(options());
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-fg-crash", project.path(), "unrestricted").await;
    // Both calls in one step.
    let script = format!(
        "[[parallel]] {} {}",
        foreground("general-purpose", "first", &command("first")),
        foreground("general-purpose", "second", &command("second")),
    );
    frontend
        .send(user_input(&runtime, &script, &cm("fg-two")))
        .await;
    // Both work at the same time, while the parent waits.
    subagent_state(&mut frontend, 2, "running").await;
    assert!(reports(&frontend).is_empty());
    daemon.kill();

    let (_restarted, mut after) = Backend::restart_with(options(), &daemon, &runtime).await;
    let finished = after.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let mut found = reports(&after);
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("first report"), "{found:?}");
    assert!(found[1].contains("second report"), "{found:?}");
    // The server was sent the two results once, together.
    let sent: Vec<Value> = backend
        .model_requests()
        .await
        .into_iter()
        .filter(|request| request.to_string().contains("completed. Its report:"))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_ran_once_each(project.path());

    one_more_turn(&mut after, &runtime, "fg-crash-after").await;
    assert!(notices(&after, &runtime).await.is_empty());
}

/// Interrupting the parent while it waits stops the subagent's task too.
#[tokio::test]
async fn cancelling_the_parent_cancels_its_foreground_subagent() {
    let backend = slow_mock().await;
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-fg-cancel", project.path(), "standard").await;
    frontend
        .send(user_input(
            &runtime,
            &foreground("explore", "long look", "[[repeat=20]] looking"),
            &cm("fg-cancel"),
        ))
        .await;
    subagent_state(&mut frontend, 1, "running").await;
    let aborted = frontend
        .request(json!({"type": "abort_message", "runtime": runtime}))
        .await;
    assert_eq!(aborted["aborted"], true, "{aborted}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "cancelled", "{finished}");
    let ended = subagent_state(&mut frontend, 1, "error").await;
    assert_eq!(
        ended["subagents"][0]["error"], "its task was cancelled",
        "{ended}"
    );
}
