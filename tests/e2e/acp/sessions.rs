//! An editor's coding session through the bridge: prompts, permissions,
//! modes, cancelling, listing and resuming, commands, images and usage,
//! and a session that outlives the bridge.

use std::sync::{Arc, Mutex};

use agent_client_protocol::v1::schema::{
    CancelNotification, CloseSessionRequest, ContentBlock, EnvVariable, ImageContent,
    ListSessionsRequest, LoadSessionRequest, McpServer, McpServerStdio, NewSessionRequest,
    PromptRequest, ResumeSessionRequest, SetSessionModeRequest, StopReason, TextContent,
};
use serde_json::{Value, json};

use super::editor::{
    Seen, Workspace, acp_sdk, agent_text, editor, initialize, open_session, prompt, repo,
};
use crate::support::backend::{Backend, on_both_backends};
use crate::support::frontend::TURN_TIMEOUT;

async fn an_editor_holds_a_coding_session(backend: Backend) {
    let workspace = Workspace::new(&backend).await;
    let (shell, agent, root) = (&workspace.shell, &workspace.agent, workspace.root.clone());
    let seen = Arc::new(Seen::default());
    let check = seen.clone();
    let dir = root.clone();
    let terminal = shell.clone();
    editor(shell, agent, seen.clone(), async move |cx| {
        let (id, session) = open_session(&cx, &dir).await?;
        assert!(
            id.starts_with("conv-"),
            "the session is a conversation: {id}"
        );
        let modes = session.modes.expect("modes");
        assert_eq!(&*modes.current_mode_id.0, "standard");

        let answer = cx
            .send_request(prompt(&id, "hello editor"))
            .block_task()
            .await?;
        assert_eq!(answer.stop_reason, StopReason::EndTurn);
        assert!(
            agent_text(&check.updates()).contains("hello editor"),
            "{:#?}",
            check.updates()
        );
        assert!(
            !check
                .updates()
                .iter()
                .any(|update| update["sessionUpdate"] == "user_message_chunk"),
            "the editor's own prompt is not echoed"
        );

        // Allowed once: the file is written and the call completes.
        check.answers.lock().unwrap().push_back("allow_once");
        let write = r#"[[call:Write {"file_path": "allowed.txt", "content": "yes\n"}]]"#;
        let answer = cx.send_request(prompt(&id, write)).block_task().await?;
        assert_eq!(answer.stop_reason, StopReason::EndTurn);
        assert_eq!(
            std::fs::read_to_string(dir.join("allowed.txt")).unwrap(),
            "yes\n"
        );
        let asked = check.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{asked:#?}");
        assert_eq!(asked[0]["toolCall"]["kind"], "edit");
        let kinds: Vec<&str> = asked[0]["options"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|option| option["kind"].as_str())
            .collect();
        assert!(
            kinds.contains(&"allow_once") && kinds.contains(&"reject_once"),
            "{kinds:?}"
        );
        let updates = check.updates();
        assert!(
            updates
                .iter()
                .any(|update| update["sessionUpdate"] == "tool_call_update"
                    && update["status"] == "completed"),
            "{updates:#?}"
        );

        // Rejected: nothing is written and the call fails.
        check.answers.lock().unwrap().push_back("reject_once");
        let write = r#"[[call:Write {"file_path": "rejected.txt", "content": "no\n"}]]"#;
        cx.send_request(prompt(&id, write)).block_task().await?;
        assert!(!dir.join("rejected.txt").exists());
        let updates = check.updates();
        assert!(
            updates.iter().any(|update| update["status"] == "failed"),
            "{updates:#?}"
        );

        // Answered from a terminal while the editor waits: the editor's
        // request is withdrawn and the call shows how it ended.
        let write = r#"[[call:Write {"file_path": "elsewhere.txt", "content": "x\n"}]]"#;
        let answered = cx.send_request(prompt(&id, write));
        let asked_before = check.asked.lock().unwrap().len();
        let waited = tokio::time::timeout(TURN_TIMEOUT, async {
            while check.asked.lock().unwrap().len() == asked_before {
                check.changed.notified().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "asked in the editor");
        let call = check.asked.lock().unwrap().last().unwrap()["toolCall"]["toolCallId"]
            .as_str()
            .unwrap()
            .to_owned();
        let approved = terminal.run(&["approve", &format!("perm-{call}")]).await;
        assert_eq!(approved.code, 0, "{approved:?}");
        assert_eq!(
            answered.block_task().await?.stop_reason,
            StopReason::EndTurn
        );
        assert!(dir.join("elsewhere.txt").exists());

        // Allowed always: the rule is saved for the session, and the next
        // edit in the project is not asked.
        check.answers.lock().unwrap().push_back("allow_always");
        let write = r#"[[call:Write {"file_path": "always1.txt", "content": "1\n"}]]"#;
        cx.send_request(prompt(&id, write)).block_task().await?;
        let asked_before = check.asked.lock().unwrap().len();
        let write = r#"[[call:Write {"file_path": "always2.txt", "content": "2\n"}]]"#;
        cx.send_request(prompt(&id, write)).block_task().await?;
        assert!(dir.join("always1.txt").exists() && dir.join("always2.txt").exists());
        assert_eq!(
            check.asked.lock().unwrap().len(),
            asked_before,
            "not asked again"
        );

        // The agent's question, answered in the editor.
        check.answers.lock().unwrap().push_back("option-1");
        let question = r#"[[call:AskUserQuestion {"questions": [{"question": "Which color?", "header": "Color", "options": [{"label": "Red", "description": "warm"}, {"label": "Blue", "description": "cool"}]}]}]]"#;
        cx.send_request(prompt(&id, question)).block_task().await?;
        let asked = check.asked.lock().unwrap().last().cloned().unwrap();
        assert_eq!(asked["options"][1]["name"], "Blue", "{asked}");
        let updates = check.updates();
        assert!(
            updates.iter().any(|update| update["status"] == "completed"
                && update["content"].to_string().contains("Blue")),
            "the answer is the tool's result: {updates:#?}"
        );

        // A mode from the editor: edits in the project run without asking.
        cx.send_request(SetSessionModeRequest::new(id.clone(), "acceptEdits"))
            .block_task()
            .await?;
        check
            .wait_for("the new mode", |updates| {
                updates.iter().any(|update| {
                    update["sessionUpdate"] == "current_mode_update"
                        && update["currentModeId"] == "acceptEdits"
                })
            })
            .await;
        let asked_before = check.asked.lock().unwrap().len();
        let write = r#"[[call:Write {"file_path": "accepted.txt", "content": "ok\n"}]]"#;
        cx.send_request(prompt(&id, write)).block_task().await?;
        assert!(dir.join("accepted.txt").exists());
        assert_eq!(check.asked.lock().unwrap().len(), asked_before, "not asked");

        // Cancelled mid-turn.
        cx.send_request(SetSessionModeRequest::new(id.clone(), "unrestricted"))
            .block_task()
            .await?;
        let long = r#"[[call:Bash {"command": "sleep 60", "description": "wait"}]]"#;
        let running = cx.send_request(prompt(&id, long));
        check
            .wait_for("the command running", |updates| {
                updates.iter().any(|update| {
                    update["status"] == "in_progress"
                        && update["title"]
                            .as_str()
                            .is_some_and(|title| title.contains("sleep 60"))
                })
            })
            .await;
        cx.send_notification(CancelNotification::new(id.clone()))?;
        let answer = running.block_task().await?;
        assert_eq!(answer.stop_reason, StopReason::Cancelled);
        Ok(())
    })
    .await;
}

/// Kills the bridge while a turn waits for permission; a new bridge that
/// loads the session shows what happened, once, and asks again.
async fn a_session_survives_the_bridge(backend: Backend) {
    let workspace = Workspace::new(&backend).await;
    let (shell, agent, root) = (&workspace.shell, &workspace.agent, workspace.root.clone());
    let first = Arc::new(Seen::default());
    let session_id = Arc::new(Mutex::new(String::new()));
    let (seen, id_out, dir) = (first.clone(), session_id.clone(), root.clone());
    editor(shell, agent, first.clone(), async move |cx| {
        let (id, _) = open_session(&cx, &dir).await?;
        *id_out.lock().unwrap() = id.clone();
        let write = r#"[[call:Write {"file_path": "later.txt", "content": "kept\n"}]]"#;
        let _pending = cx.send_request(prompt(&id, write));
        let waited = tokio::time::timeout(TURN_TIMEOUT, async {
            while seen.asked.lock().unwrap().is_empty() {
                seen.changed.notified().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "asked for permission");
        Ok(())
    })
    .await;
    // The bridge is gone; the turn waits in the daemon.
    assert!(!root.join("later.txt").exists());

    let second = Arc::new(Seen::default());
    second.answers.lock().unwrap().push_back("allow_once");
    let id = session_id.lock().unwrap().clone();
    let (seen, dir) = (second.clone(), root.clone());
    editor(shell, agent, second.clone(), async move |cx| {
        initialize(&cx).await?;
        cx.send_request(LoadSessionRequest::new(id.clone(), dir.clone()))
            .block_task()
            .await?;
        let replayed = seen.updates();
        let announced = replayed
            .iter()
            .filter(|update| {
                update["sessionUpdate"] == "tool_call"
                    && update["title"]
                        .as_str()
                        .is_some_and(|title| title.contains("later.txt"))
            })
            .count();
        assert_eq!(announced, 1, "the history once: {replayed:#?}");
        let prompts: Vec<&Value> = replayed
            .iter()
            .filter(|update| update["sessionUpdate"] == "user_message_chunk")
            .collect();
        assert_eq!(prompts.len(), 1, "the earlier prompt, once: {replayed:#?}");
        assert!(
            prompts[0]["content"]["text"]
                .as_str()
                .unwrap()
                .contains("later.txt")
        );
        seen.wait_for("the turn's end after the permission", |updates| {
            updates.iter().any(|update| {
                update["sessionUpdate"] == "tool_call_update" && update["status"] == "completed"
            })
        })
        .await;
        Ok(())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(root.join("later.txt")).unwrap(),
        "kept\n"
    );
    assert_eq!(second.asked.lock().unwrap().len(), 1, "asked again once");
}

async fn sessions_are_listed_closed_and_resumed(backend: Backend) {
    let workspace = Workspace::new(&backend).await;
    let (shell, agent, root) = (&workspace.shell, &workspace.agent, workspace.root.clone());
    let seen = Arc::new(Seen::default());
    let check = seen.clone();
    editor(shell, agent, seen.clone(), async move |cx| {
        let (id, _) = open_session(&cx, &root).await?;
        cx.send_request(prompt(&id, "first")).block_task().await?;
        let listed = cx
            .send_request(ListSessionsRequest::new().cwd(root.clone()))
            .block_task()
            .await?;
        let ids: Vec<String> = listed
            .sessions
            .iter()
            .map(|session| session.session_id.0.to_string())
            .collect();
        assert_eq!(
            ids,
            std::slice::from_ref(&id),
            "the sessions in this directory"
        );
        let elsewhere = cx
            .send_request(ListSessionsRequest::new().cwd("/nowhere"))
            .block_task()
            .await?;
        assert!(elsewhere.sessions.is_empty());

        // MCP servers from the editor run for its session.
        let log = root.join("mcp-calls.jsonl");
        let server = McpServer::Stdio(
            McpServerStdio::new("tests", crate::mcp::python())
                .args(vec![crate::mcp::test_server_script()])
                .env(vec![EnvVariable::new(
                    "MCP_TEST_CALL_LOG",
                    log.display().to_string(),
                )]),
        );
        let with_mcp = cx
            .send_request(NewSessionRequest::new(root.clone()).mcp_servers(vec![server]))
            .block_task()
            .await?;
        let before = check.updates().len();
        let echo = r#"[[call:mcp__tests__echo {"text": "from the editor"}]]"#;
        let answer = cx
            .send_request(prompt(&with_mcp.session_id.0, echo))
            .block_task()
            .await?;
        assert_eq!(answer.stop_reason, StopReason::EndTurn);
        let updates = check.updates();
        assert!(
            updates[before..].iter().any(|update| {
                update["sessionUpdate"] == "tool_call_update"
                    && update.to_string().contains("echo: from the editor")
            }),
            "{:#?}",
            &updates[before..]
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);

        cx.send_request(CloseSessionRequest::new(id.clone()))
            .block_task()
            .await?;
        let closed = cx
            .send_request(prompt(&id, "after close"))
            .block_task()
            .await;
        assert!(closed.is_err(), "a closed session takes no prompt");
        cx.send_request(ResumeSessionRequest::new(id.clone(), root.clone()))
            .block_task()
            .await?;
        let before = check.updates().len();
        let answer = cx.send_request(prompt(&id, "resumed")).block_task().await?;
        assert_eq!(answer.stop_reason, StopReason::EndTurn);
        let after = check.updates();
        assert!(
            agent_text(&after[before..]).contains("resumed"),
            "{after:#?}"
        );
        assert!(
            !agent_text(&after[before..]).contains("first"),
            "resuming replays nothing"
        );
        Ok(())
    })
    .await;
}

/// A 1x1 PNG.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The project's skills are the editor's commands, an image reaches an
/// agent whose backend takes images (and is refused, saying why, where it
/// does not), and the editor hears how full the agent's context is.
async fn commands_images_and_usage(backend: Backend) {
    let workspace = Workspace::new(&backend).await;
    let (shell, agent, root) = (&workspace.shell, &workspace.agent, workspace.root.clone());
    let skill = root.join(".skills/review");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: review\ndescription: Reviews the change\n---\n\nLook at the diff first.\n",
    )
    .unwrap();
    let seen = Arc::new(Seen::default());
    let check = seen.clone();
    let takes_images = !matches!(backend, Backend::Local(_));
    editor(shell, agent, seen.clone(), async move |cx| {
        let (id, _) = open_session(&cx, &root).await?;
        check
            .wait_for("the skill as a command", |updates| {
                updates.iter().any(|update| {
                    update["sessionUpdate"] == "available_commands_update"
                        && update["availableCommands"][0]["name"] == "review"
                        && update["availableCommands"][0]["description"] == "Reviews the change"
                })
            })
            .await;

        let answer = cx
            .send_request(prompt(&id, "/review the last commit"))
            .block_task()
            .await?;
        assert_eq!(answer.stop_reason, StopReason::EndTurn);
        let text = agent_text(&check.updates());
        assert!(
            text.contains("Look at the diff first.") && text.contains("the last commit"),
            "the skill's instructions and the request reach the agent: {text}"
        );
        check
            .wait_for("how full the context is", |updates| {
                updates.iter().any(|update| {
                    update["sessionUpdate"] == "usage_update"
                        && update["used"].as_u64() > Some(0)
                        && update["size"].as_u64() > Some(0)
                })
            })
            .await;

        let picture = PromptRequest::new(
            id.clone(),
            vec![
                ContentBlock::Text(TextContent::new("pictured-marker")),
                ContentBlock::Image(ImageContent::new(PIXEL, "image/png")),
            ],
        );
        let answered = cx.send_request(picture).block_task().await;
        if takes_images {
            assert_eq!(answered?.stop_reason, StopReason::EndTurn);
        } else {
            let refused = format!("{:?}", answered.expect_err("refused"));
            assert!(refused.contains("text only"), "{refused}");
        }
        Ok(())
    })
    .await;
    if takes_images {
        let request = backend.model_request("pictured-marker").await;
        assert!(
            request.to_string().contains(&PIXEL[..40]),
            "the image reached the model: {request:#}"
        );
    }
}

/// The protocol's own TypeScript SDK as the editor, with every line the
/// bridge writes checked against the JSON Schema the SDK ships.
async fn the_typescript_sdk_holds_a_session(backend: Backend) {
    let workspace = Workspace::new(&backend).await;
    let (shell, agent, root) = (&workspace.shell, &workspace.agent, workspace.root.clone());
    let sdk = acp_sdk();
    let output = tokio::time::timeout(
        TURN_TIMEOUT * 2,
        tokio::process::Command::new("node")
            .arg(repo().join("tests/node/acp-editor.mjs"))
            .arg(crate::support::ctl::ctl_bin())
            .arg(&sdk)
            .arg(agent)
            .arg(&root)
            .env("HOME", &shell.home)
            .env("LETTA_DAEMON_DATA_DIR", &shell.data_dir)
            .env_remove("LETTA_AGENT_ID")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the node editor timed out")
    .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        seen["refused"],
        json!([]),
        "frames the schema refuses: {seen:#}"
    );
    assert!(seen["written"].as_u64().unwrap() > 5, "{seen:#}");
    assert_eq!(seen["loadSession"], true);
    assert_eq!(
        seen["stopReasons"],
        json!(["end_turn", "end_turn", "end_turn"]),
        "{seen:#}"
    );
    assert!(
        seen["agentText"]
            .as_str()
            .unwrap()
            .contains("hello from node"),
        "{seen:#}"
    );
    assert_eq!(seen["asked"], 2, "{seen:#}");
    let statuses = seen["statuses"].to_string();
    assert!(
        statuses.contains("completed") && statuses.contains("failed"),
        "{seen:#}"
    );
    assert!(root.join("node-allowed.txt").exists());
    assert!(!root.join("node-rejected.txt").exists());
}

on_both_backends!(
    an_editor_holds_a_coding_session,
    a_session_survives_the_bridge,
    sessions_are_listed_closed_and_resumed,
    commands_images_and_usage,
    the_typescript_sdk_holds_a_session,
);
