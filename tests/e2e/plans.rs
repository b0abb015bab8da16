//! The conversation's plan: built by the agent with the plan tools without
//! asking anyone, shown to every frontend as `update_plan`, and kept across
//! a daemon restart.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime};

fn tasks(plan_event: &Value) -> Vec<(String, String)> {
    plan_event["plan"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            (
                task["subject"].as_str().unwrap().to_owned(),
                task["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn a_plan_reaches_every_frontend_and_survives_a_restart(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut first = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&first, "e2e-plan", cwd.path(), "strict").await;
    let mut second = Frontend::connect(&daemon).await;
    let synced = second
        .request(json!({ "type": "sync", "runtime": runtime }))
        .await;
    assert_eq!(synced["success"], true, "{synced}");

    let script = r#"[[call:TaskCreate {"subject": "Run tests", "description": "cargo test", "activeForm": "Running tests"}]] [[call:TaskCreate {"subject": "Fix the bug", "description": "in auth"}]] [[call:TaskUpdate {"taskId": "task_1", "status": "in_progress"}]]"#;
    let finished = turn(&mut first, &runtime, script, "plan-1").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(
        !first.asked_anyone(),
        "plan tools never ask, even in strict mode: {:?}",
        first.types()
    );
    let returns = first.deltas("tool_return_message");
    assert_eq!(returns.len(), 3, "{:?}", first.types());
    assert!(
        returns.iter().all(|ret| ret["status"] == "success"),
        "{returns:?}"
    );
    assert!(
        returns[0]["tool_return"]
            .as_str()
            .unwrap()
            .contains("task_1")
    );

    let expected = vec![
        ("Run tests".to_owned(), "in_progress".to_owned()),
        ("Fix the bug".to_owned(), "pending".to_owned()),
    ];
    let seen = second
        .wait_for("the whole plan on the other frontend", |frame| {
            frame["type"] == "update_plan" && tasks(frame) == expected
        })
        .await;
    assert_eq!(seen["plan"]["tasks"][0]["activeForm"], "Running tests");

    daemon.stop();
    let (_restarted, mut after) = backend.restart(&daemon, &runtime).await;
    after
        .seen_or_wait_for("the plan replayed after the restart", |frame| {
            frame["type"] == "update_plan" && tasks(frame) == expected
        })
        .await;

    // The agent reads it back; a new task does not reuse an id.
    let script =
        r#"[[call:TaskList {}]] [[call:TaskCreate {"subject": "Ship", "description": "release"}]]"#;
    let finished = turn(&mut after, &runtime, script, "plan-2").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returns = after.deltas("tool_return_message");
    let listed = returns[returns.len() - 2]["tool_return"].as_str().unwrap();
    assert!(listed.contains("Fix the bug"), "{listed}");
    let created = returns[returns.len() - 1]["tool_return"].as_str().unwrap();
    assert!(created.contains("task_3"), "{created}");
}

async fn a_bad_plan_call_is_an_error_for_the_agent(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-plan-bad", cwd.path(), "standard").await;
    let script = r#"[[call:TaskUpdate {"taskId": "task_7", "status": "completed"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "plan-bad").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returns = frontend.deltas("tool_return_message");
    assert_eq!(returns[0]["status"], "error", "{:?}", returns[0]);
    assert!(
        returns[0]["tool_return"]
            .as_str()
            .unwrap()
            .contains("task_7")
    );
    assert!(!frontend.types().iter().any(|kind| kind == "update_plan"));
}

on_both_backends!(
    a_plan_reaches_every_frontend_and_survives_a_restart,
    a_bad_plan_call_is_an_error_for_the_agent,
);
