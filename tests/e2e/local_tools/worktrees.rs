//! Worktrees: the agent creates one, works in it, leaves it kept, enters it
//! again and removes it; every move shows in device status.

use std::path::Path;

use serde_json::{Value, json};

use super::start_runtime;
use crate::local_agents::turn;
use crate::support::backend::{Backend, on_both_backends};
use crate::support::frontend::Frontend;
use crate::support::git;

async fn cwd_becomes(frontend: &mut Frontend, dir: &Path) {
    let dir = dir.display().to_string();
    frontend
        .seen_or_wait_for(&format!("the working directory {dir}"), |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["current_working_directory"] == dir.as_str()
        })
        .await;
}

fn call(tool: &str, input: Value) -> String {
    format!("[[call:{tool} {input}]]")
}

async fn a_worktree_is_entered_edited_and_exited(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let repo = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(repo.path()).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "first"]);
    let runtime = start_runtime(&frontend, "e2e-worktree", &root, "unrestricted").await;

    let script = call("EnterWorktree", json!({"name": "feature one"}))
        + &call(
            "Write",
            json!({"file_path": "feature.txt", "content": "new\n"}),
        );
    let finished = turn(&mut frontend, &runtime, &script, "worktree-enter").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let tree = root.join(".letta/worktrees/feature-one");
    cwd_becomes(&mut frontend, &tree).await;
    assert!(
        tree.join("feature.txt").is_file(),
        "the edit went to the worktree"
    );
    assert!(!root.join("feature.txt").exists());
    let branch = git(&tree, &["branch", "--show-current"]);
    assert!(branch.starts_with("letta/feature-one-"), "{branch}");

    let keep = call("ExitWorktree", json!({"action": "keep"}));
    let finished = turn(&mut frontend, &runtime, &keep, "worktree-keep").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    cwd_becomes(&mut frontend, &root).await;
    assert!(tree.join("feature.txt").is_file(), "kept");

    // Back in, and out again removing it: the uncommitted file is work that
    // would be lost, so it is refused until discarding is asked for.
    let path = tree.display().to_string();
    let script = call("EnterWorktree", json!({ "path": path }))
        + &call("ExitWorktree", json!({"action": "remove"}));
    let finished = turn(&mut frontend, &runtime, &script, "worktree-remove").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let refused = frontend.deltas("tool_return_message");
    let refused = refused.last().unwrap();
    assert_eq!(refused["status"], "error", "{refused}");
    assert!(
        refused["tool_return"]
            .as_str()
            .unwrap()
            .contains("uncommitted"),
        "{refused}"
    );
    assert!(tree.join("feature.txt").is_file());

    let script = call("EnterWorktree", json!({ "path": path }))
        + &call(
            "ExitWorktree",
            json!({"action": "remove", "discard_changes": true}),
        );
    let finished = turn(&mut frontend, &runtime, &script, "worktree-discard").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let removed = frontend.last_tool_return();
    assert!(removed.contains("Removed the worktree"), "{removed}");
    cwd_becomes(&mut frontend, &root).await;
    assert!(!tree.exists());
    assert_eq!(git(&root, &["branch", "--list", &branch]), "");
}

on_both_backends!(a_worktree_is_entered_edited_and_exited);
