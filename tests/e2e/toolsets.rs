//! Which built-in tools a turn offers: Letta Code's toolsets (checked against
//! the names in `tests/fixtures/letta-code-tools.json`), a turn's own base,
//! and the runtime's preference set with `update_toolset`, kept across a
//! restart.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime, user_input};

/// Letta Code's toolsets and tool schemas, as its package declares them.
fn reference() -> Value {
    serde_json::from_str(include_str!("../fixtures/letta-code-tools.json")).unwrap()
}

/// What the daemon serves of each toolset today; the rest of each list is
/// left out rather than offered broken. `AskUserQuestion` comes with every
/// toolset but `none` unless a turn excludes interactive tools.
const SERVED: &[(&str, &[&str])] = &[
    (
        "default",
        &[
            "Agent",
            "AskUserQuestion",
            "Bash",
            "Edit",
            "EnterWorktree",
            "ExitWorktree",
            "Monitor",
            "Read",
            "SendAgentMessage",
            "SetWorkingDirectory",
            "Skill",
            "TaskCreate",
            "TaskGet",
            "TaskList",
            "TaskStop",
            "TaskUpdate",
            "Wake",
            "Write",
        ],
    ),
    (
        "codex",
        &[
            "Agent",
            "ApplyPatch",
            "AskUserQuestion",
            "EnterWorktree",
            "ExitWorktree",
            "Monitor",
            "SendAgentMessage",
            "SetWorkingDirectory",
            "Skill",
            "TaskStop",
            "UpdatePlan",
            "ViewImage",
            "Wake",
            "exec_command",
            "write_stdin",
        ],
    ),
    (
        "letta",
        &[
            "Agent",
            "AskUserQuestion",
            "Edit",
            "EnterWorktree",
            "ExitWorktree",
            "Monitor",
            "Read",
            "SendAgentMessage",
            "SetWorkingDirectory",
            "Skill",
            "TaskStop",
            "UpdatePlan",
            "ViewImage",
            "Wake",
            "Write",
            "exec_command",
            "write_stdin",
        ],
    ),
    ("none", &[]),
];

/// What `toolset` offers on `backend`: `ViewImage` needs a backend that
/// takes images in tool results, which the local backend does not.
fn served(toolset: &str, backend: &Backend) -> Vec<String> {
    let (_, tools) = SERVED.iter().find(|(name, _)| *name == toolset).unwrap();
    let mut tools: Vec<String> = tools
        .iter()
        .filter(|tool| **tool != "ViewImage" || !matches!(backend, Backend::Local(_)))
        .map(|tool| (*tool).to_owned())
        .collect();
    tools.sort();
    tools
}

/// The Letta Code tools among those the model was offered with `marker`
/// (a Letta server adds tools of its own).
async fn offered(backend: &Backend, marker: &str) -> Vec<String> {
    let reference = reference();
    let known = reference["schemas"].as_object().unwrap();
    let mut tools: Vec<String> = backend
        .offered_tools(marker)
        .await
        .into_iter()
        .filter(|tool| known.contains_key(tool))
        .collect();
    tools.sort();
    tools
}

async fn turn_with_base(frontend: &mut Frontend, runtime: &Value, base: &str, text: &str) {
    let mut input = user_input(runtime, text, &cm(&format!("toolset-{base}")));
    input["payload"]["client_toolset"] = json!({ "base": base });
    frontend.send(input).await;
    let finished = frontend
        .wait_for("the turn's end", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

async fn each_toolset_offers_its_tools(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-toolsets", cwd.path(), "standard").await;
    let reference = reference();
    for (base, _) in SERVED {
        let marker = format!("offer the {base} toolset {}", cm("toolsets"));
        turn_with_base(&mut frontend, &runtime, base, &marker).await;
        let tools = offered(&backend, &marker).await;
        assert_eq!(tools, served(base, &backend), "toolset {base}");
        let listed = reference["toolsets"][*base].as_array().unwrap();
        assert!(
            tools
                .iter()
                .all(|tool| tool == "AskUserQuestion" || listed.contains(&json!(tool))),
            "{base}: {tools:?}"
        );
    }
}

async fn the_runtime_preference_holds_across_a_restart(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-toolset-pref", cwd.path(), "standard").await;

    let refused = frontend
        .request(
            json!({ "type": "update_toolset", "runtime": runtime, "toolset_preference": "gemini" }),
        )
        .await;
    assert_eq!(refused["success"], false, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("codex"),
        "{refused}"
    );

    let updated = frontend
        .request(
            json!({ "type": "update_toolset", "runtime": runtime, "toolset_preference": "codex" }),
        )
        .await;
    assert_eq!(updated["success"], true, "{updated}");
    assert_eq!(updated["current_toolset"], "codex", "{updated}");
    let status = frontend
        .wait_for("device status with the new toolset", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["current_toolset_preference"] == "codex"
        })
        .await;
    assert_eq!(status["device_status"]["current_toolset"], "codex");

    daemon.stop();
    let (_restarted, mut after) = backend.restart(&daemon, &runtime).await;
    let marker = format!("after the restart {}", cm("toolset-pref"));
    let finished = turn(&mut after, &runtime, &marker, "toolset-pref").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(offered(&backend, &marker).await, served("codex", &backend));
}

on_both_backends!(
    each_toolset_offers_its_tools,
    the_runtime_preference_holds_across_a_restart,
);
