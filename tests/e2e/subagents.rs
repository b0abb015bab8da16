//! Subagents: an agent hands a task to another conversation with its
//! `Agent` tool and gets the report back as a message of its own, once,
//! also across a daemon crash.

use std::time::Duration;

use serde_json::{Value, json};

use crate::local_tools::project;
use crate::support::Daemon;
use crate::support::backend::{Backend, cm, on_both_backends, tool_names};
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::mock_letta::{Faults, MockLetta};

mod foreground;

on_both_backends!(
    an_agent_delegates_to_an_explorer_and_gets_its_report,
    a_subagents_approval_is_answered_on_the_parents_frontend,
);

/// The mock Letta server with every run streaming slowly, so subagents are
/// still working when a test kills, steers or interrupts.
async fn slow_mock() -> Backend {
    Backend::Mock(
        MockLetta::start(Faults {
            chunk_delay: Duration::from_millis(200),
            ..Faults::default()
        })
        .await,
    )
}

/// A subagent's script: a command that appends `word` to `runs.txt` and
/// reports it.
fn command(word: &str) -> String {
    let args = json!({"command": format!("echo {word} >> runs.txt && echo {word} report")});
    format!("[[call:Bash {args}]] {word}")
}

/// The commands of [`command`] `first` and `second` each ran once.
fn assert_ran_once_each(project: &std::path::Path) {
    let runs = std::fs::read_to_string(project.join("runs.txt")).unwrap();
    let mut lines: Vec<&str> = runs.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["first", "second"], "each command ran once");
}

fn launch(kind: &str, description: &str, prompt: &str) -> String {
    let args = json!({"description": description, "prompt": prompt, "subagent_type": kind});
    format!("[[call:Agent {args}]]")
}

/// The `update_subagent_state` frame that shows `subagent` in `status`.
async fn subagent_state(frontend: &mut Frontend, count: usize, status: &str) -> Value {
    frontend
        .seen_or_wait_for(&format!("{count} subagents {status}"), |frame| {
            frame["type"] == "update_subagent_state"
                && frame["subagents"].as_array().is_some_and(|subagents| {
                    subagents.len() == count
                        && subagents
                            .iter()
                            .all(|subagent| subagent["status"] == status)
                })
        })
        .await
}

/// The parent's turns that carried a `<task-notification>`, by the text
/// the agent was sent.
async fn notices(frontend: &Frontend, runtime: &Value) -> Vec<String> {
    frontend
        .stored_messages(runtime)
        .await
        .iter()
        .filter(|message| message["message_type"] == "user_message")
        .map(|message| message["content"].to_string())
        .filter(|text| text.contains("<task-notification>"))
        .collect()
}

async fn an_agent_delegates_to_an_explorer_and_gets_its_report(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-subagent", project.path(), "standard").await;
    let marker = cm("explorer-report");
    let script = launch(
        "explore",
        "look around",
        &format!("explorer report {marker}"),
    );
    frontend
        .send(user_input(&runtime, &script, &cm("delegate")))
        .await;
    let first = frontend.wait_for_type("turn_finished").await;
    assert_eq!(first["stop_reason"], "end_turn", "{first}");
    let launched = frontend.deltas("tool_return_message");
    let text = launched[0]["tool_return"].as_str().unwrap();
    assert!(
        text.starts_with("Task running in background with task ID: subagent-"),
        "{text}"
    );
    assert!(!frontend.asked_anyone(), "launching asks nobody");

    // The report comes back as a turn of its own.
    let done = subagent_state(&mut frontend, 1, "completed").await;
    let subagent = &done["subagents"][0];
    assert_eq!(subagent["subagent_type"], "explore");
    assert_eq!(subagent["description"], "look around");
    assert!(
        subagent["result"]
            .as_str()
            .unwrap()
            .contains(&format!("explorer report {marker}")),
        "{subagent}"
    );
    let second = frontend.wait_for_type("turn_finished").await;
    assert_eq!(second["stop_reason"], "end_turn", "{second}");
    let notices = notices(&frontend, &runtime).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains(&marker), "{notices:?}");

    // The explorer got the read-only tools of its type, nothing else: its
    // own first request is the one with the task and no notice.
    let request = backend
        .model_requests()
        .await
        .into_iter()
        .rev()
        .find(|request| {
            let text = request.to_string();
            text.contains("You are an exploring subagent")
                && text.contains(&marker)
                && !text.contains("task-notification")
        })
        .expect("the explorer's request");
    let offered = tool_names(&request);
    let mut builtin: Vec<&str> = offered
        .iter()
        .map(String::as_str)
        .filter(|name| {
            [
                "Read", "Glob", "Grep", "LS", "Bash", "Write", "Edit", "Agent",
            ]
            .contains(name)
        })
        .collect();
    builtin.sort_unstable();
    assert_eq!(builtin, ["Glob", "Grep", "LS", "Read"]);
}

/// Two subagents at once, each running a command; the daemon is killed
/// while both work: after the restart both finish, each report reaches the
/// parent exactly once, and neither command ran twice.
#[tokio::test]
async fn two_subagents_survive_a_crash_and_report_once_each() {
    let backend = slow_mock().await;
    let project = project();
    let home = tempfile::tempdir().unwrap();
    let options = || backend.options().home(home.path());
    let mut daemon = Daemon::start_with(options());
    let mut frontend = Frontend::connect(&daemon).await;
    // Unrestricted: the commands append to a file without asking.
    let runtime = start_runtime(
        &frontend,
        "e2e-subagents-crash",
        project.path(),
        "unrestricted",
    )
    .await;
    let script = format!(
        "{} {}",
        launch_scripted("general-purpose", "first", &command("first")),
        launch_scripted("general-purpose", "second", &command("second")),
    );
    frontend
        .send(user_input(&runtime, &script, &cm("two")))
        .await;
    subagent_state(&mut frontend, 2, "running").await;
    daemon.kill();

    let (_restarted, mut after) = Backend::restart_with(options(), &daemon, &runtime).await;
    subagent_state(&mut after, 2, "completed").await;
    // Both notices were taken in: wait for the parent to be idle with
    // both in its conversation.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = notices(&after, &runtime).await;
        if found.len() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reports never came: {found:?}"
        );
        after.wait_for_type("turn_finished").await;
    }
    let found = notices(&after, &runtime).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.iter().any(|text| text.contains("first report")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|text| text.contains("second report")),
        "{found:?}"
    );
    assert_ran_once_each(project.path());
}

/// `prompt` as it can ride inside a scripted call's arguments: the
/// scripts' `[[`/`]]` escaped in the JSON, so the parent's script ends
/// where it should and the subagent gets the directives.
fn launch_scripted(kind: &str, description: &str, prompt: &str) -> String {
    scripted_call(json!({"description": description, "prompt": prompt, "subagent_type": kind}))
}

/// An `Agent` call with these arguments, escaped as [`launch_scripted`]
/// says.
pub(crate) fn scripted_call(args: Value) -> String {
    let args = args
        .to_string()
        .replace("[[", "\\u005b\\u005b")
        .replace("]]", "\\u005d\\u005d");
    format!("[[call:Agent {args}]]")
}

/// A subagent's approval reaches the parent's frontends, marked with the
/// subagent's conversation, and is answered from a second frontend that
/// only watches the parent.
async fn a_subagents_approval_is_answered_on_the_parents_frontend(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-subagent-ask", project.path(), "standard").await;
    let task = r#"[[call:Write {"file_path": "sub.txt", "content": "by the subagent\n"}]] written"#;
    frontend
        .send(user_input(
            &runtime,
            &launch_scripted("general-purpose", "write it", task),
            &cm("subagent-ask"),
        ))
        .await;
    let asked = frontend
        .wait_for("the subagent's approval", |frame| {
            frame["type"] == "control_request" && frame["request"]["tool_name"] == "Write"
        })
        .await;
    assert_ne!(
        asked["conversation_id"], runtime["conversation_id"],
        "marked as the subagent's: {asked}"
    );

    let mut second = Frontend::connect(&daemon).await;
    let synced = second
        .request(json!({"type": "sync", "runtime": runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    second
        .seen_or_wait_for(
            "the subagent's request among the parent's pending",
            |frame| {
                frame["type"] == "update_device_status"
                    && frame["device_status"]["pending_control_requests"]
                        .as_array()
                        .is_some_and(|pending| {
                            pending
                                .iter()
                                .any(|request| request["request_id"] == asked["request_id"])
                        })
            },
        )
        .await;
    assert!(!project.path().join("sub.txt").exists());
    let answered = second
        .request(crate::local_tools::approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "allow"}),
            "allow-sub",
        ))
        .await;
    assert_eq!(answered["accepted"], true, "{answered}");

    let done = subagent_state(&mut second, 1, "completed").await;
    assert!(
        done["subagents"][0]["result"]
            .as_str()
            .unwrap()
            .contains("The tool said"),
        "{done}"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("sub.txt")).unwrap(),
        "by the subagent\n"
    );
    // Its pending list is empty again once answered.
    second
        .seen_or_wait_for("no pending approvals", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["pending_control_requests"] == json!([])
        })
        .await;
}

/// `SendAgentMessage` steers a subagent while it works: it deals with the
/// message before it reports, and its one report answers both.
#[tokio::test]
async fn a_message_steers_a_working_subagent_before_it_reports() {
    let backend = slow_mock().await;
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-subagent-steer", project.path(), "standard").await;
    frontend
        .send(user_input(
            &runtime,
            // A long answer (40 slow chunks): still working when the
            // message comes.
            &launch_scripted("explore", "slow look", "[[repeat=4]] first look"),
            &cm("steer-launch"),
        ))
        .await;
    let launched = frontend.wait_for_type("turn_finished").await;
    assert_eq!(launched["stop_reason"], "end_turn", "{launched}");
    let running = subagent_state(&mut frontend, 1, "running").await;
    let conversation = running["subagents"][0]["conversation_id"].clone();
    let steer = json!({"conversation_id": conversation, "message": "also look at b.txt"});
    frontend
        .send(user_input(
            &runtime,
            &format!("[[call:SendAgentMessage {steer}]]"),
            &cm("steer-send"),
        ))
        .await;
    let sent = frontend
        .wait_for("the send's result", |frame| {
            frame["delta"]["message_type"] == "tool_return_message"
                && frame["delta"]["tool_return"]
                    .as_str()
                    .is_some_and(|text| text.starts_with("Sent to conversation"))
        })
        .await;
    assert!(
        sent["delta"]["tool_return"]
            .as_str()
            .unwrap()
            .contains("queued behind the turn running there"),
        "{sent}"
    );

    let done = subagent_state(&mut frontend, 1, "completed").await;
    let report = done["subagents"][0]["result"].as_str().unwrap();
    assert!(report.contains("also look at b.txt"), "{report}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while notices(&frontend, &runtime).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no report came");
        frontend.wait_for_type("turn_finished").await;
    }
    let found = notices(&frontend, &runtime).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("also look at b.txt"), "{found:?}");
}

/// The daemon dies in the middle of a launch (the subagent's conversation
/// exists, its task was not given yet): after the restart the launching
/// call runs again, finishes that same launch, and the one report comes.
#[tokio::test]
async fn a_launch_cut_by_a_crash_is_finished_once() {
    let backend = Backend::mock().await;
    let project = project();
    let home = tempfile::tempdir().unwrap();
    let options = || backend.options().home(home.path());
    let mut crashed = Daemon::start_with(options().crash_at("subagent-conversation-noted"));
    let before = Frontend::connect(&crashed).await;
    let runtime = start_runtime(&before, "e2e-subagent-cut", project.path(), "standard").await;
    before
        .send(user_input(
            &runtime,
            &launch("explore", "cut short", "after the cut"),
            &cm("subagent-cut"),
        ))
        .await;
    before.until_crashed(&mut crashed).await;

    let (_restarted, mut after) = Backend::restart_with(options(), &crashed, &runtime).await;
    let done = subagent_state(&mut after, 1, "completed").await;
    assert!(
        done["subagents"][0]["result"]
            .as_str()
            .unwrap()
            .contains("after the cut"),
        "{done}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while notices(&after, &runtime).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no report came");
        after.wait_for_type("turn_finished").await;
    }
    assert_eq!(notices(&after, &runtime).await.len(), 1);
}

/// A subagent uses its parent's MCP servers (the same running server).
#[tokio::test]
async fn a_subagent_uses_its_parents_mcp_servers() {
    let backend = Backend::mock().await;
    let project = project();
    let log = project.path().join("calls.jsonl");
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-subagent-mcp", project.path(), "standard").await;
    crate::mcp::configure(
        daemon.dir.path(),
        &runtime,
        json!([crate::mcp::stdio_server(&log)]),
    );
    let task = r#"[[call:mcp__tests__echo {"text": "from the subagent"}]] done"#;
    frontend
        .send(user_input(
            &runtime,
            &launch_scripted("general-purpose", "use mcp", task),
            &cm("subagent-mcp"),
        ))
        .await;
    let done = subagent_state(&mut frontend, 1, "completed").await;
    let report = done["subagents"][0]["result"].as_str().unwrap();
    assert!(report.contains("echo: from the subagent"), "{report}");
    let calls = crate::mcp::calls(&log);
    assert_eq!(calls.len(), 1, "{calls:?}");
}

/// Launches made in one step run together; the bound still holds: with
/// room for one subagent, two launched at once give one subagent and one
/// refusal that says why.
#[tokio::test]
async fn launches_made_at_once_keep_the_bound() {
    let backend = Backend::mock().await;
    let project = project();
    let daemon = Daemon::start_with(backend.options().env("LETTA_DAEMON_MAX_SUBAGENTS", "1"));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-subagent-bound", project.path(), "standard").await;
    let script = format!(
        "[[parallel]] {} {}",
        launch_scripted("explore", "one", "[[repeat=4]] looking"),
        launch_scripted("explore", "two", "[[repeat=4]] looking"),
    );
    frontend
        .send(user_input(&runtime, &script, &cm("bound")))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returns: Vec<String> = frontend
        .deltas("tool_return_message")
        .iter()
        .filter_map(|delta| delta["tool_return"].as_str().map(str::to_owned))
        .collect();
    let launched = returns
        .iter()
        .filter(|text| text.starts_with("Task running in background"))
        .count();
    let refused = returns
        .iter()
        .filter(|text| text.contains("the most this daemon runs at once (1)"))
        .count();
    assert_eq!((launched, refused), (1, 1), "{returns:#?}");
}
