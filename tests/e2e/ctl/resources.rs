//! `letta-ctl agents` and `conversations` against the real Letta server.

use super::{NEW_AGENT, setup};
use crate::support::backend::Backend;
use crate::support::letta_server::{EMBEDDING, MODEL};

#[tokio::test]
async fn real_server_agents_and_conversations_from_the_shell() {
    let (_daemon, shell) = setup(&Backend::Real);
    let name = format!("ctl-agents-{}", std::process::id());
    let created = shell
        .run(&[
            "--json",
            "agents",
            "create",
            "--name",
            &name,
            "--model",
            MODEL,
            "--embedding",
            EMBEDDING,
        ])
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let agent = created.json()["id"].as_str().unwrap().to_owned();

    let listed = shell
        .run(&["--json", "agents", "list", "--name", &name])
        .await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(
        listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == agent.as_str()),
        "{listed:?}"
    );
    let shown = shell.run(&["agents", "show", &agent]).await;
    assert!(
        shown.stdout.contains(&name) && shown.stdout.contains(MODEL),
        "{shown:?}"
    );

    let mut args = vec![
        "run",
        "--agent",
        agent.as_str(),
        "--new",
        "--output-format",
        "json",
        "hi there",
    ];
    args.retain(|arg| !NEW_AGENT.contains(arg));
    let run = shell.run(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    let conversation = run.json()["conversation_id"].as_str().unwrap().to_owned();

    let conversations = shell
        .run(&["--json", "conversations", "list", "--agent", &agent])
        .await;
    assert!(
        conversations
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == conversation.as_str()),
        "{conversations:?}"
    );
    let show = shell
        .run(&["--json", "conversations", "show", &conversation])
        .await;
    assert_eq!(show.json()["agent_id"], agent.as_str(), "{show:?}");
    let messages = shell
        .run(&["conversations", "messages", &conversation])
        .await;
    assert_eq!(messages.code, 0, "{messages:?}");
    assert!(messages.stdout.contains("user: hi there"), "{messages:?}");
    assert!(
        messages.stdout.contains("assistant: Echo: hi there"),
        "{messages:?}"
    );

    let deleted = shell.run(&["agents", "delete", &agent]).await;
    assert_eq!(deleted.code, 0, "{deleted:?}");
    let gone = shell.run(&["agents", "show", &agent]).await;
    assert_eq!(gone.code, 1, "{gone:?}");
}
