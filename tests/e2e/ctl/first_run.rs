//! `letta-ctl run "hi"` on a fresh machine: it starts the daemon, creates
//! an agent on a model the server offers, and continues there next time.

use super::shell_for_own_daemon;
use crate::support::backend::{Backend, on_both_backends};
use crate::support::letta_server::MODEL;

on_both_backends!(a_first_run_starts_everything_and_the_next_continues);

async fn a_first_run_starts_everything_and_the_next_continues(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let mut shell = shell_for_own_daemon(root.path(), &backend);
    let default_model = match backend {
        // The real server lists a hosted model first, which this machine
        // cannot reach: pick the scripted one the way a user would.
        Backend::Real => {
            shell = shell.env("LETTA_MODEL", MODEL);
            MODEL
        }
        Backend::Mock(_) => "mock/default-model",
        // The daemon picks a local agent's model itself.
        Backend::Local(_) => "the daemon's default model",
    };

    let refused = shell.run(&["run", "--no-start", "hi"]).await;
    assert_eq!(refused.code, 3, "--no-start does not start it: {refused:?}");

    let first = shell
        .run(&["run", "--output-format", "json", "hi there"])
        .await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stderr.contains("starting it in the background"),
        "{first:?}"
    );
    assert!(
        first
            .stderr
            .contains(&format!("creating one on {default_model}")),
        "says which model: {first:?}"
    );
    let first = first.json();
    assert!(
        first["result"].as_str().unwrap().contains("hi there"),
        "{first}"
    );
    let agent = first["agent_id"].as_str().unwrap().to_owned();
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();

    let second = shell
        .run(&[
            "run",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits",
            "again",
        ])
        .await;
    assert_eq!(second.code, 0, "{second:?}");
    assert!(!second.stderr.contains("creating"), "{second:?}");
    assert!(!second.stderr.contains("starting it"), "{second:?}");
    let second = second.json();
    assert_eq!(second["agent_id"], agent.as_str(), "continues the agent");
    assert_eq!(second["conversation_id"], conversation.as_str());

    // A run without --permission-mode leaves the conversation's mode alone.
    let third = shell
        .run(&["run", "--output-format", "json", "once more"])
        .await;
    assert_eq!(third.code, 0, "{third:?}");
    let status = shell.run(&["--json", "daemon", "status"]).await.json();
    let runtime = status["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|summary| summary["runtime"]["conversation_id"] == conversation.as_str())
        .unwrap()
        .clone();
    assert_eq!(runtime["permission_mode"], "acceptEdits", "{runtime}");

    let fresh = shell
        .run(&[
            "run",
            "--new",
            "--output-format",
            "json",
            "new conversation",
        ])
        .await;
    assert_eq!(fresh.code, 0, "{fresh:?}");
    let fresh = fresh.json();
    assert_eq!(fresh["agent_id"], agent.as_str());
    assert_ne!(fresh["conversation_id"], conversation.as_str());

    let unknown = shell
        .run(&["run", "--new-agent", "--model", "nobody/offers-this", "hi"])
        .await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("is not offered") && unknown.stderr.contains("fake-model"),
        "names what the backends offer: {unknown:?}"
    );
    let stopped = shell.run(&["daemon", "stop"]).await;
    assert_eq!(stopped.code, 0, "{stopped:?}");
}
