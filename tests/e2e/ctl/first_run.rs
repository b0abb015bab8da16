//! `letta-ctl run "hi"` on a fresh machine: it starts the daemon, creates
//! an agent on a model the server offers, and continues there next time.

use super::shell_for_own_daemon;
use crate::support::backend::{Backend, on_both_backends};
use crate::support::ctl::Shell;
use crate::support::letta_server::MODEL;
use crate::support::scripted_model::ScriptedModel;

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

/// A fresh machine with no Letta server: without a model provider the
/// error says what to set; with one, `letta-ctl run` starts the daemon,
/// creates a local agent and answers.
#[tokio::test]
async fn a_fresh_machine_without_a_letta_server() {
    let root = tempfile::tempdir().unwrap();
    let shell = Shell::new(root.path(), &root.path().join("data"))
        .env("LETTA_DAEMON_LISTEN", "ws://127.0.0.1:0");

    let nothing = shell.run(&["run", "hello"]).await;
    assert_ne!(nothing.code, 0, "{nothing:?}");
    for named in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OLLAMA_BASE_URL",
        "LETTA_BASE_URL",
    ] {
        assert!(nothing.stderr.contains(named), "names {named}: {nothing:?}");
    }
    let status = shell.run(&["--json", "daemon", "status"]).await.json();
    let stopped = shell.run(&["daemon", "stop"]).await;
    assert_eq!(stopped.code, 0, "{stopped:?}: {status}");

    let model = ScriptedModel::start().await;
    let shell = shell
        .env("OPENAI_BASE_URL", model.url.clone())
        .env("OPENAI_API_KEY", "sk-test-not-a-real-key");
    let first = shell
        .run(&["run", "--output-format", "json", "hello there"])
        .await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stderr.contains("the daemon's default model"),
        "{first:?}"
    );
    let answer = first.json();
    assert!(
        answer["result"].as_str().unwrap().contains("hello there"),
        "{answer}"
    );
    let agent = answer["agent_id"].as_str().unwrap();
    let shown = shell.run(&["--json", "agents", "show", agent]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    let shown = shown.json();
    assert_eq!(shown["backend"], "local", "{shown}");
    assert_eq!(shown["model"], "openai/fake-model", "{shown}");
    // The key went to the model provider and nowhere else.
    let requests = model.requests();
    assert!(!requests.is_empty());
    let log = std::fs::read_dir(root.path().join("data"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "log"))
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        !log.contains("sk-test-not-a-real-key"),
        "the key is in the log"
    );
    let stopped = shell.run(&["daemon", "stop"]).await;
    assert_eq!(stopped.code, 0, "{stopped:?}");
}
