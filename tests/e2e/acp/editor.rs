//! The editor's side of the ACP scenarios: `letta-ctl acp` run behind the
//! Rust SDK's client, every line it writes recorded and checked against the
//! protocol's JSON Schema, and the workspace a scenario opens.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    ContentBlock, InitializeRequest, NewSessionRequest, NewSessionResponse, PromptRequest,
    RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionNotification, TextContent,
};
use agent_client_protocol::{Agent, ByteStreams, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Notify;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::ctl::{new_agent, setup};
use crate::support::backend::Backend;
use crate::support::ctl::Shell;
use crate::support::frontend::TURN_TIMEOUT;

/// What the editor saw and how it answers permission requests.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) updates: Mutex<Vec<Value>>,
    pub(super) asked: Mutex<Vec<Value>>,
    /// Option ids to answer the next permission requests with.
    pub(super) answers: Mutex<VecDeque<&'static str>>,
    pub(super) changed: Notify,
}

impl Seen {
    pub(super) fn updates(&self) -> Vec<Value> {
        self.updates.lock().unwrap().clone()
    }

    /// Waits until the updates satisfy `done`.
    pub(super) async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) {
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
pub(super) fn agent_text(updates: &[Value]) -> String {
    updates
        .iter()
        .filter(|update| update["sessionUpdate"] == "agent_message_chunk")
        .filter_map(|update| update["content"]["text"].as_str())
        .collect()
}

pub(super) fn prompt(session: &str, text: &str) -> PromptRequest {
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
pub(super) fn acp_sdk() -> std::path::PathBuf {
    let installed = std::process::Command::new("bash")
        .arg(repo().join("tests/tools/acp-sdk.sh"))
        .output()
        .unwrap();
    assert!(installed.status.success(), "{installed:?}");
    String::from_utf8(installed.stdout).unwrap().trim().into()
}

pub(super) fn repo() -> std::path::PathBuf {
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
    let sdk = acp_sdk();
    let checked = crate::support::node::run_json(
        "acp-validate.mjs",
        &[sdk.as_os_str(), file.path().as_os_str()],
        TURN_TIMEOUT,
    )
    .await;
    assert_eq!(
        checked["refused"],
        json!([]),
        "frames the protocol's schema refuses: {checked:#}"
    );
    assert!(checked["checked"].as_u64().unwrap() > 0, "{checked}");
}

/// Runs `letta-ctl acp` for `agent` and `body` as its editor; then checks
/// every line the bridge wrote against the protocol's JSON Schema.
pub(super) async fn editor<F>(shell: &Shell, agent: &str, seen: Arc<Seen>, body: F)
where
    F: AsyncFnOnce(ConnectionTo<Agent>) -> Result<(), agent_client_protocol::Error>,
{
    editor_running(shell, &["acp", "--agent", agent], seen, body).await
}

/// Like [`editor`], with `letta-ctl` started with `args`.
pub(super) async fn editor_running<F>(shell: &Shell, args: &[&str], seen: Arc<Seen>, body: F)
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
pub(super) struct Workspace {
    _daemon: crate::support::Daemon,
    pub(super) shell: Shell,
    pub(super) agent: String,
    _project: tempfile::TempDir,
    pub(super) root: std::path::PathBuf,
}

impl Workspace {
    pub(super) async fn new(backend: &Backend) -> Workspace {
        Workspace::with_daemon(setup(backend)).await
    }

    pub(super) async fn with_daemon((daemon, shell): (crate::support::Daemon, Shell)) -> Workspace {
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
pub(super) async fn open_session(
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

pub(super) async fn initialize(
    cx: &ConnectionTo<Agent>,
) -> Result<(), agent_client_protocol::Error> {
    let answer = cx
        .send_request(InitializeRequest::new(ProtocolVersion::V1))
        .block_task()
        .await?;
    assert_eq!(answer.protocol_version, ProtocolVersion::V1);
    assert!(answer.agent_capabilities.load_session);
    Ok(())
}
