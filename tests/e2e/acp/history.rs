//! Loading a session shows what is older than the daemon's event log:
//! turns retention trimmed, and a conversation held elsewhere first.

use std::sync::{Arc, Mutex};

use agent_client_protocol::v1::schema::{LoadSessionRequest, StopReason};
use serde_json::json;

use super::editor::{Seen, Workspace, agent_text, editor, initialize, open_session, prompt};
use crate::support::backend::{Backend, on_both_backends};
use crate::support::ctl::Shell;
use crate::support::frontend::Frontend;

/// A session whose early events the daemon no longer keeps (retention):
/// loading it shows the older turns from the stored messages and the newer
/// ones from the event log, each once and in order.
async fn a_long_session_loads_whole(backend: Backend) {
    let daemon =
        crate::support::Daemon::start_with(backend.options().arg("--event-retention").arg("40"));
    let frontend = Frontend::connect(&daemon).await;
    let shell = Shell::new(daemon.dir.path(), &daemon.data_dir);
    let workspace = Workspace::with_daemon((daemon, shell)).await;
    let (shell, agent, root) = (&workspace.shell, &workspace.agent, workspace.root.clone());
    const TURNS: usize = 6;
    let session_id = Arc::new(Mutex::new(String::new()));
    let (id_out, dir) = (session_id.clone(), root.clone());
    editor(shell, agent, Arc::default(), async move |cx| {
        let (id, _) = open_session(&cx, &dir).await?;
        *id_out.lock().unwrap() = id.clone();
        for turn in 1..=TURNS {
            let text = format!("turn-{turn}-marker");
            let answer = cx.send_request(prompt(&id, &text)).block_task().await?;
            assert_eq!(answer.stop_reason, StopReason::EndTurn);
        }
        Ok(())
    })
    .await;
    let id = session_id.lock().unwrap().clone();

    // Retention is applied by the daemon's maintenance, once a second.
    let runtime = json!({ "agent_id": agent, "conversation_id": id });
    crate::support::within(async {
        loop {
            let sync = json!({ "type": "sync", "request_id": "expired", "runtime": runtime, "after_event_seq": 0 });
            if frontend.request(sync).await.to_string().contains("no longer kept") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;

    let seen = Arc::new(Seen::default());
    let check = seen.clone();
    editor(shell, agent, seen, async move |cx| {
        initialize(&cx).await?;
        cx.send_request(LoadSessionRequest::new(id.clone(), root.clone()))
            .block_task()
            .await?;
        let updates = check.updates();
        let prompts: Vec<String> = updates
            .iter()
            .filter(|update| update["sessionUpdate"] == "user_message_chunk")
            .map(|update| {
                update["content"]["text"]
                    .as_str()
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect();
        let expected: Vec<String> = (1..=TURNS)
            .map(|turn| format!("turn-{turn}-marker"))
            .collect();
        assert_eq!(
            prompts, expected,
            "every prompt once, in order: {updates:#?}"
        );
        let text = agent_text(&updates);
        let mut at = 0;
        for marker in &expected {
            assert_eq!(
                text.matches(marker.as_str()).count(),
                1,
                "{marker} once: {text}"
            );
            let found = text.find(marker.as_str()).unwrap();
            assert!(found >= at, "{marker} in order: {text}");
            at = found;
        }
        Ok(())
    })
    .await;
}

/// A conversation held through another daemon (another machine, or Letta
/// Code itself): loading it here shows its stored messages, then goes on.
async fn a_conversation_from_elsewhere_loads(backend: Backend) {
    let elsewhere = Workspace::new(&backend).await;
    let session_id = Arc::new(Mutex::new(String::new()));
    let (id_out, dir) = (session_id.clone(), elsewhere.root.clone());
    editor(
        &elsewhere.shell,
        &elsewhere.agent,
        Arc::default(),
        async move |cx| {
            let (id, _) = open_session(&cx, &dir).await?;
            *id_out.lock().unwrap() = id.clone();
            for text in ["early-1-marker", "early-2-marker"] {
                cx.send_request(prompt(&id, text)).block_task().await?;
            }
            Ok(())
        },
    )
    .await;
    let id = session_id.lock().unwrap().clone();

    let here = Workspace::new(&backend).await;
    let seen = Arc::new(Seen::default());
    let check = seen.clone();
    let root = here.root.clone();
    editor(&here.shell, &elsewhere.agent, seen, async move |cx| {
        initialize(&cx).await?;
        cx.send_request(LoadSessionRequest::new(id.clone(), root))
            .block_task()
            .await?;
        let updates = check.updates();
        let prompts: Vec<&str> = updates
            .iter()
            .filter(|update| update["sessionUpdate"] == "user_message_chunk")
            .filter_map(|update| update["content"]["text"].as_str())
            .map(str::trim)
            .collect();
        assert_eq!(
            prompts,
            ["early-1-marker", "early-2-marker"],
            "{updates:#?}"
        );
        let text = agent_text(&updates);
        assert_eq!(text.matches("early-1-marker").count(), 1, "{text}");
        assert_eq!(text.matches("early-2-marker").count(), 1, "{text}");
        let answer = cx
            .send_request(prompt(&id, "late-marker"))
            .block_task()
            .await?;
        assert_eq!(answer.stop_reason, StopReason::EndTurn);
        assert!(agent_text(&check.updates()).contains("late-marker"));
        Ok(())
    })
    .await;
}

/// Only a Letta server holds a conversation for two daemons.
mod started_elsewhere {
    use crate::support::backend::Backend;

    #[tokio::test]
    async fn real_server() {
        super::a_conversation_from_elsewhere_loads(Backend::Real).await
    }

    #[tokio::test]
    async fn mock_server() {
        super::a_conversation_from_elsewhere_loads(Backend::mock().await).await
    }
}

on_both_backends!(a_long_session_loads_whole);
