//! `letta-ctl acp` driven as an editor drives it, with the client side of
//! the Agent Client Protocol's Rust SDK: sessions, streamed prompts,
//! permissions, modes, cancelling, and loading a session after the bridge
//! was killed mid-turn.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, CloseSessionRequest, ContentBlock, ImageContent, InitializeRequest,
    ListSessionsRequest, LoadSessionRequest, McpServer, McpServerStdio, NewSessionRequest,
    NewSessionResponse, PromptRequest, RequestPermissionOutcome, RequestPermissionRequest,
    RequestPermissionResponse, ResumeSessionRequest, SelectedPermissionOutcome,
    SessionNotification, SetSessionModeRequest, StopReason, TextContent,
};
use agent_client_protocol::{Agent, ByteStreams, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Notify;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::ctl::{new_agent, setup};
use crate::support::backend::{Backend, on_both_backends};
use crate::support::ctl::Shell;
use crate::support::frontend::{Frontend, TURN_TIMEOUT};

/// What the editor saw and how it answers permission requests.
#[derive(Default)]
struct Seen {
    updates: Mutex<Vec<Value>>,
    asked: Mutex<Vec<Value>>,
    /// Option ids to answer the next permission requests with.
    answers: Mutex<VecDeque<&'static str>>,
    changed: Notify,
}

impl Seen {
    fn updates(&self) -> Vec<Value> {
        self.updates.lock().unwrap().clone()
    }

    /// Waits until the updates satisfy `done`.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let waited = tokio::time::timeout(TURN_TIMEOUT, async {
            loop {
                let changed = self.changed.notified();
                if done(&self.updates()) {
                    return;
                }
                changed.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "waiting for {what}; saw {:#?}",
            self.updates()
        );
    }
}

/// Text of the agent's message chunks, in order.
fn agent_text(updates: &[Value]) -> String {
    updates
        .iter()
        .filter(|update| update["sessionUpdate"] == "agent_message_chunk")
        .filter_map(|update| update["content"]["text"].as_str())
        .collect()
}

fn prompt(session: &str, text: &str) -> PromptRequest {
    PromptRequest::new(
        session.to_owned(),
        vec![ContentBlock::Text(TextContent::new(text))],
    )
}

/// Every line written on the bridge's stdio, in order, with its writer.
type Transcript = Arc<Mutex<Vec<Value>>>;

/// Passes lines from `from` on to `to`, noting each in `transcript`.
async fn tap(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    transcript: Transcript,
    writer: &'static str,
) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        transcript
            .lock()
            .unwrap()
            .push(json!({ "from": writer, "line": line }));
        let written = async {
            to.write_all(line.as_bytes()).await?;
            to.write_all(b"\n").await?;
            to.flush().await
        };
        if written.await.is_err() {
            return;
        }
    }
}

/// The folder of the protocol's TypeScript SDK (and its JSON Schema).
fn acp_sdk() -> std::path::PathBuf {
    let installed = std::process::Command::new("bash")
        .arg(repo().join("tests/tools/acp-sdk.sh"))
        .output()
        .unwrap();
    assert!(installed.status.success(), "{installed:?}");
    String::from_utf8(installed.stdout).unwrap().trim().into()
}

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Checks every line the bridge wrote against the protocol's JSON Schema.
async fn check_schema(transcript: &Transcript) {
    let lines: Vec<String> = transcript
        .lock()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), lines.join("\n")).unwrap();
    let output = tokio::time::timeout(
        TURN_TIMEOUT,
        tokio::process::Command::new("node")
            .arg(repo().join("tests/node/acp-validate.mjs"))
            .arg(acp_sdk())
            .arg(file.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the schema check timed out")
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let checked: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        checked["refused"],
        json!([]),
        "frames the protocol's schema refuses: {checked:#}"
    );
    assert!(checked["checked"].as_u64().unwrap() > 0, "{checked}");
}

/// Runs `letta-ctl acp` for `agent` and `body` as its editor; then checks
/// every line the bridge wrote against the protocol's JSON Schema.
async fn editor<F>(shell: &Shell, agent: &str, seen: Arc<Seen>, body: F)
where
    F: AsyncFnOnce(ConnectionTo<Agent>) -> Result<(), agent_client_protocol::Error>,
{
    editor_running(shell, &["acp", "--agent", agent], seen, body).await
}

/// Like [`editor`], with `letta-ctl` started with `args`.
async fn editor_running<F>(shell: &Shell, args: &[&str], seen: Arc<Seen>, body: F)
where
    F: AsyncFnOnce(ConnectionTo<Agent>) -> Result<(), agent_client_protocol::Error>,
{
    let mut bridge = shell.spawn_piped("acp", args);
    let stdin = bridge.stdin.take().unwrap();
    let stdout = bridge.stdout.take().unwrap();
    let transcript = Transcript::default();
    let (editor_end, tapped) = tokio::io::duplex(1 << 20);
    let (tapped_reader, tapped_writer) = tokio::io::split(tapped);
    let taps = [
        tokio::spawn(tap(stdout, tapped_writer, transcript.clone(), "agent")),
        tokio::spawn(tap(tapped_reader, stdin, transcript.clone(), "editor")),
    ];
    let (editor_reader, editor_writer) = tokio::io::split(editor_end);
    let transport = ByteStreams::new(editor_writer.compat_write(), editor_reader.compat());
    let on_update = seen.clone();
    let on_permission = seen.clone();
    let ran = Client
        .v1()
        .name("e2e editor")
        .on_receive_notification(
            async move |notification: SessionNotification, _cx| {
                let update = serde_json::to_value(&notification.update).unwrap();
                on_update.updates.lock().unwrap().push(update);
                on_update.changed.notify_waiters();
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |request: RequestPermissionRequest, responder, _cx| {
                on_permission
                    .asked
                    .lock()
                    .unwrap()
                    .push(serde_json::to_value(&request).unwrap());
                on_permission.changed.notify_waiters();
                let answer = on_permission.answers.lock().unwrap().pop_front();
                match answer {
                    Some(option) => responder.respond(RequestPermissionResponse::new(
                        RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(option)),
                    )),
                    // Left unanswered: the bridge may withdraw it.
                    None => {
                        std::mem::forget(responder);
                        Ok(())
                    }
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, async move |cx| {
            tokio::time::timeout(TURN_TIMEOUT * 4, body(cx))
                .await
                .map_err(|_| agent_client_protocol::Error::internal_error().data("timed out"))?
        })
        .await;
    let _ = bridge.start_kill();
    for task in taps {
        task.abort();
    }
    if let Err(err) = ran {
        let stderr = std::fs::read_to_string(shell.home.join("acp.err")).unwrap_or_default();
        panic!("the editor session failed: {err:?}\nbridge stderr:\n{stderr}");
    }
    check_schema(&transcript).await;
}

/// A daemon, a shell of the user, an agent the scripted model drives, and
/// a project directory (`root`, canonical) for the editor to open.
struct Workspace {
    _daemon: crate::support::Daemon,
    shell: Shell,
    agent: String,
    _project: tempfile::TempDir,
    root: std::path::PathBuf,
}

impl Workspace {
    async fn new(backend: &Backend) -> Workspace {
        Workspace::with_daemon(setup(backend)).await
    }

    async fn with_daemon((daemon, shell): (crate::support::Daemon, Shell)) -> Workspace {
        let agent = new_agent(&shell).await;
        let project = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(project.path()).unwrap();
        Workspace {
            _daemon: daemon,
            shell,
            agent,
            _project: project,
            root,
        }
    }
}

/// Initializes the connection and opens a new session in `dir`.
async fn open_session(
    cx: &ConnectionTo<Agent>,
    dir: &std::path::Path,
) -> Result<(String, NewSessionResponse), agent_client_protocol::Error> {
    initialize(cx).await?;
    let session = cx
        .send_request(NewSessionRequest::new(dir.to_path_buf()))
        .block_task()
        .await?;
    Ok((session.session_id.0.to_string(), session))
}

async fn initialize(cx: &ConnectionTo<Agent>) -> Result<(), agent_client_protocol::Error> {
    let answer = cx
        .send_request(InitializeRequest::new(ProtocolVersion::V1))
        .block_task()
        .await?;
    assert_eq!(answer.protocol_version, ProtocolVersion::V1);
    assert!(answer.agent_capabilities.load_session);
    Ok(())
}

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

        // MCP servers from the editor are not dropped without a word.
        let before = check.updates().len();
        let server = McpServer::Stdio(McpServerStdio::new("files", "/usr/bin/mcp-files"));
        cx.send_request(NewSessionRequest::new(root.clone()).mcp_servers(vec![server]))
            .block_task()
            .await?;
        check
            .wait_for("the MCP servers reported", |updates| {
                updates[before..].iter().any(|update| {
                    update["sessionUpdate"] == "agent_message_chunk"
                        && update["content"]["text"]
                            .as_str()
                            .is_some_and(|text| text.contains("MCP servers"))
                })
            })
            .await;

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

/// Each editor configuration the README gives, started as written, holds
/// a session.
#[tokio::test]
async fn the_readme_editor_configurations_hold_a_session() {
    let backend = Backend::mock().await;
    let workspace = Workspace::new(&backend).await;
    let shell = workspace
        .shell
        .clone()
        .env("LETTA_AGENT_ID", workspace.agent.clone());
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = readme_editor_commands(&readme);
    let languages: Vec<&str> = commands.iter().map(|(language, _)| *language).collect();
    assert_eq!(languages, ["json", "json", "lua", "elisp"], "{commands:?}");
    for (language, command) in &commands {
        assert_eq!(command[0], "letta-ctl", "{language}: {command:?}");
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        let (root, text) = (workspace.root.clone(), format!("hello from {language}"));
        let seen = Arc::new(Seen::default());
        let check = seen.clone();
        editor_running(&shell, &args, seen, async move |cx| {
            let (id, _) = open_session(&cx, &root).await?;
            let answer = cx.send_request(prompt(&id, &text)).block_task().await?;
            assert_eq!(answer.stop_reason, StopReason::EndTurn);
            assert!(agent_text(&check.updates()).contains(&text));
            Ok(())
        })
        .await;
    }
}

/// The ACP registry manifest has what the registry requires of an agent,
/// with this release's version.
#[test]
fn the_registry_manifest_names_this_release() {
    let output = std::process::Command::new("bash")
        .arg(repo().join("tools/acp-registry-manifest.sh"))
        .arg("https://example.org/releases/v1/")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let manifest: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = manifest["id"].as_str().unwrap();
    assert!(
        id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{id}"
    );
    for field in ["name", "description", "license"] {
        assert!(!manifest[field].as_str().unwrap().is_empty(), "{field}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(manifest["version"], version);
    let targets = manifest["distribution"]["binary"].as_object().unwrap();
    assert!(targets.contains_key("linux-x86_64"), "{manifest:#}");
    for (platform, target) in targets {
        assert_eq!(
            target["archive"],
            format!("https://example.org/releases/v1/letta-daemon-{version}-{platform}.tar.gz")
        );
        assert_eq!(target["cmd"], "./letta-ctl");
        assert_eq!(target["args"], json!(["acp"]));
    }
}

/// The command line of each code block in the README's editor section:
/// (its language, the command and its arguments).
fn readme_editor_commands(readme: &str) -> Vec<(&str, Vec<String>)> {
    let section = readme
        .split("\n## Use it from your editor\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README's editor section");
    let quoted = |text: &str| -> Vec<String> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let after = |text: &'static str, block: &str, open: &str, close: char| -> String {
        let start = block.find(text).expect(text) + text.len();
        let rest = &block[start..];
        let open_at = rest.find(open).expect(open) + open.len();
        rest[open_at..].split(close).next().unwrap().to_owned()
    };
    section
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|block| {
            let (language, code) = block.split_once('\n').unwrap();
            let command = match language {
                "json" => {
                    let config: Value = serde_json::from_str(code).unwrap();
                    let letta = &config["agent_servers"]["Letta"];
                    let mut command = vec![letta["command"].as_str().unwrap().to_owned()];
                    command.extend(
                        letta["args"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|arg| arg.as_str().unwrap().to_owned()),
                    );
                    command
                }
                "lua" => quoted(&after("commands", code, "default = {", '}')),
                "elisp" => {
                    let mut command = quoted(&after(":command ", code, "", '\n'));
                    command.extend(quoted(&after(":command-params", code, "'(", ')')));
                    command
                }
                other => panic!("a code block in {other} in the editor section"),
            };
            (language, command)
        })
        .collect()
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
    a_long_session_loads_whole,
    the_typescript_sdk_holds_a_session,
);
