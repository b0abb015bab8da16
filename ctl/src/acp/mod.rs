//! `letta-ctl acp`: an Agent Client Protocol agent on stdio that bridges an
//! editor to the daemon. It keeps nothing the daemon does not have: an ACP
//! session is a conversation (its id is the conversation id), prompts are
//! the runtime's inputs, and what the editor sees is the runtime's event
//! log — so a turn outlives the editor and the bridge, and loading the
//! session again shows what happened.

mod history;
mod mcp;
mod permissions;
mod prompt;
mod session;
mod skills;
mod updates;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, CloseSessionRequest, CloseSessionResponse,
    Implementation, InitializeRequest, InitializeResponse, ListSessionsRequest,
    ListSessionsResponse, LoadSessionRequest, LoadSessionResponse, McpCapabilities,
    NewSessionRequest, NewSessionResponse, PromptCapabilities, PromptRequest, ResumeSessionRequest,
    ResumeSessionResponse, SessionCapabilities, SessionCloseCapabilities, SessionInfo,
    SessionListCapabilities, SessionMode, SessionModeState, SessionResumeCapabilities,
    SetSessionModeRequest, SetSessionModeResponse,
};
use agent_client_protocol::{Agent, Client, Stdio};
use letta_client::{ClientError, RuntimeEvents};
use letta_protocol::errors::ErrorCode;
use letta_protocol::{
    ConversationRetrieveParams, CreateAgentOptions, CreateConversationOptions, PermissionMode,
    RuntimeScope, RuntimeStartParams, methods,
};

use crate::cli::{AcpArgs, BackendArg};
use crate::error::CtlError;
use crate::target::Context;
use session::{History, Session};

/// The permission modes an editor can switch between, with what they mean.
const MODES: &[(&str, &str, &str)] = &[
    (
        "standard",
        "Ask",
        "Reads inside the project run; edits and commands ask.",
    ),
    (
        "acceptEdits",
        "Accept edits",
        "Edits inside the project run; commands ask.",
    ),
    ("strict", "Strict", "Every tool call asks, reads included."),
    (
        "unrestricted",
        "Unrestricted",
        "Everything runs without asking.",
    ),
];

/// What the handlers share.
struct Bridge {
    data_dir: std::path::PathBuf,
    args: AcpArgs,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl Bridge {
    fn context(&self) -> Context {
        Context {
            data_dir: self.data_dir.clone(),
            json: false,
        }
    }

    fn session(&self, id: &str) -> Result<Arc<Session>, agent_client_protocol::Error> {
        crate::util_lock(&self.sessions)
            .get(id)
            .cloned()
            .ok_or_else(|| {
                agent_client_protocol::Error::invalid_params().data(format!(
                    "no session {id}: create it with session/new or load it"
                ))
            })
    }
}

pub async fn acp(context: &Context, args: AcpArgs) -> Result<u8, CtlError> {
    if !args.no_start {
        crate::run::reach_daemon(context, false).await?;
    }
    serve(context, args, stdio()).await
}

/// Serves one editor over `editor` until it leaves.
pub async fn serve(
    context: &Context,
    args: AcpArgs,
    editor: agent_client_protocol::DynConnectTo<Agent>,
) -> Result<u8, CtlError> {
    let bridge = Arc::new(Bridge {
        data_dir: context.data_dir.clone(),
        args,
        sessions: Mutex::new(HashMap::new()),
    });
    let new_bridge = bridge.clone();
    let load_bridge = bridge.clone();
    let prompt_bridge = bridge.clone();
    let cancel_bridge = bridge.clone();
    let mode_bridge = bridge.clone();
    let list_bridge = bridge.clone();
    let resume_bridge = bridge.clone();
    let close_bridge = bridge.clone();
    Agent
        .v1()
        .name("letta-ctl acp")
        .on_receive_request(
            async move |request: InitializeRequest, responder, _cx| {
                let version = request.protocol_version.min(ProtocolVersion::V1);
                responder.respond(
                    InitializeResponse::new(version)
                        .agent_capabilities(
                            AgentCapabilities::new()
                                .load_session(true)
                                .mcp_capabilities(McpCapabilities::new().http(true))
                                .prompt_capabilities(
                                    PromptCapabilities::new().embedded_context(true).image(true),
                                )
                                .session_capabilities(
                                    SessionCapabilities::new()
                                        .list(SessionListCapabilities::new())
                                        .resume(SessionResumeCapabilities::new())
                                        .close(SessionCloseCapabilities::new()),
                                ),
                        )
                        .agent_info(Implementation::new("letta-ctl", env!("CARGO_PKG_VERSION"))),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: NewSessionRequest, responder, cx| {
                let bridge = new_bridge.clone();
                cx.clone().spawn(async move {
                    match bridge.new_session(request, cx).await {
                        Ok(response) => responder.respond(response),
                        Err(err) => responder.respond_with_error(failed(err)),
                    }
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: LoadSessionRequest, responder, cx| {
                let bridge = load_bridge.clone();
                cx.clone().spawn(async move {
                    match bridge.load_session(request, cx).await {
                        Ok(response) => responder.respond(response),
                        Err(err) => responder.respond_with_error(failed(err)),
                    }
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: PromptRequest, responder, cx| {
                let session = prompt_bridge.session(&request.session_id.0)?;
                cx.spawn(async move {
                    match session.prompt(request.prompt).await {
                        Ok(response) => responder.respond(response),
                        Err(err) => responder.respond_with_error(err),
                    }
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |cancel: CancelNotification, _cx| {
                if let Ok(session) = cancel_bridge.session(&cancel.session_id.0) {
                    session.cancel().await;
                }
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |request: SetSessionModeRequest, responder, _cx| {
                let session = mode_bridge.session(&request.session_id.0)?;
                match session.set_mode(&request.mode_id.0).await {
                    Ok(()) => responder.respond(SetSessionModeResponse::new()),
                    Err(err) => responder.respond_with_error(err),
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: ListSessionsRequest, responder, _cx| match list_bridge
                .list_sessions(request)
                .await
            {
                Ok(response) => responder.respond(response),
                Err(err) => responder.respond_with_error(failed(err)),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: ResumeSessionRequest, responder, cx| {
                let bridge = resume_bridge.clone();
                cx.clone().spawn(async move {
                    match bridge.resume_session(request, cx).await {
                        Ok(response) => responder.respond(response),
                        Err(err) => responder.respond_with_error(failed(err)),
                    }
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: CloseSessionRequest, responder, _cx| {
                let closed =
                    crate::util_lock(&close_bridge.sessions).remove(&*request.session_id.0);
                if let Some(session) = closed {
                    session.close();
                }
                responder.respond(CloseSessionResponse::new())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_to(editor)
        .await
        .map_err(|err| CtlError::Failed(format!("the editor connection failed: {err}")))?;
    Ok(0)
}

impl Bridge {
    async fn new_session(
        self: Arc<Self>,
        request: NewSessionRequest,
        cx: ConnectionTo<Client>,
    ) -> Result<NewSessionResponse, CtlError> {
        let context = self.context();
        let client = context.client().await?;
        let (agent_id, create_agent) = match self.args.agent.clone() {
            Some(agent) => (Some(agent), None),
            None => match crate::last_used::get(&self.data_dir) {
                Some(last) => (Some(last.agent_id), None),
                None => {
                    let mut options = self.args.agent_options.clone();
                    options.model = crate::run::choose_model(&client, &options).await?;
                    let create = CreateAgentOptions {
                        body: crate::run::new_agent_body(&options),
                        pin_global: None,
                        backend: options.backend.map(BackendArg::protocol),
                    };
                    (None, Some(create))
                }
            },
        };
        let params = RuntimeStartParams {
            agent_id,
            create_agent,
            create_conversation: Some(CreateConversationOptions::default()),
            cwd: Some(request.cwd.display().to_string()),
            mode: Some(PermissionMode::Standard),
            client_info: Some(client_info()),
            mcp_servers: Some(mcp::entries(&request.mcp_servers)),
            ..RuntimeStartParams::default()
        };
        let (events, started) = RuntimeEvents::start(context.endpoint(), params).await?;
        let scope = events.scope().clone();
        crate::last_used::set(&self.data_dir, &scope);
        let session = self.open(scope, started.agent.as_ref(), events, None, cx);
        Ok(NewSessionResponse::new(session.id.clone()).modes(modes("standard")))
    }

    async fn load_session(
        self: Arc<Self>,
        request: LoadSessionRequest,
        cx: ConnectionTo<Client>,
    ) -> Result<LoadSessionResponse, CtlError> {
        let (scope, agent) = self
            .runtime_of(&request.session_id.0, &request.cwd, &request.mcp_servers)
            .await?;
        let endpoint = self.context().endpoint();
        let (events, history) = sync_all_kept(&endpoint, &scope).await?;
        let session = self.open(scope, agent.as_ref(), events, Some(history), cx);
        let mode = session.replayed().await;
        Ok(LoadSessionResponse::new().modes(modes(&mode)))
    }

    /// Like `session/load` without the history: live from now on.
    async fn resume_session(
        self: Arc<Self>,
        request: ResumeSessionRequest,
        cx: ConnectionTo<Client>,
    ) -> Result<ResumeSessionResponse, CtlError> {
        let (scope, agent) = self
            .runtime_of(&request.session_id.0, &request.cwd, &request.mcp_servers)
            .await?;
        let events = RuntimeEvents::sync(self.context().endpoint(), scope.clone(), None).await?;
        let session = self.open(scope, agent.as_ref(), events, None, cx);
        let mode = session.replayed().await;
        Ok(ResumeSessionResponse::new().modes(modes(&mode)))
    }

    /// The conversations the daemon runs, newest first (an agent's default
    /// conversation is not a session: it has no id of its own).
    async fn list_sessions(
        &self,
        request: ListSessionsRequest,
    ) -> Result<ListSessionsResponse, CtlError> {
        const PAGE: usize = 100;
        let client = self.context().client().await?;
        let status = crate::target::daemon_status(&client).await?;
        let mut runtimes: Vec<_> = status
            .runtimes
            .into_iter()
            .filter(|summary| summary.runtime.conversation_id != "default")
            .filter(|summary| {
                request
                    .cwd
                    .as_ref()
                    .is_none_or(|cwd| std::path::Path::new(&summary.cwd) == cwd.as_path())
            })
            .collect();
        runtimes.sort_by(|a, b| b.last_input_at.cmp(&a.last_input_at));
        let from: usize = request
            .cursor
            .as_deref()
            .and_then(|cursor| cursor.parse().ok())
            .unwrap_or(0);
        let sessions: Vec<SessionInfo> = runtimes
            .iter()
            .skip(from)
            .take(PAGE)
            .map(|summary| {
                SessionInfo::new(summary.runtime.conversation_id.clone(), summary.cwd.clone())
                    .updated_at(summary.last_input_at.clone())
            })
            .collect();
        let next = (runtimes.len() > from + PAGE).then(|| (from + PAGE).to_string());
        Ok(ListSessionsResponse::new(sessions).next_cursor(next))
    }

    /// Opens (if the daemon does not run it yet) the runtime of
    /// conversation `conversation_id`, in the directory the editor has
    /// open; the runtime and its agent.
    async fn runtime_of(
        &self,
        conversation_id: &str,
        cwd: &std::path::Path,
        mcp_servers: &[agent_client_protocol::v1::schema::McpServer],
    ) -> Result<(RuntimeScope, Option<serde_json::Value>), CtlError> {
        let client = self.context().client().await?;
        let found = client
            .call::<methods::ConversationRetrieve>(&ConversationRetrieveParams {
                conversation_id: conversation_id.to_owned(),
            })
            .await?;
        let agent_id = found
            .conversation
            .as_ref()
            .and_then(|conversation| conversation.get("agent_id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                CtlError::Usage(format!(
                    "no conversation {conversation_id}: {}",
                    found
                        .error
                        .as_deref()
                        .unwrap_or("the daemon does not know it")
                ))
            })?;
        let params = RuntimeStartParams {
            agent_id: Some(agent_id),
            conversation_id: Some(conversation_id.to_owned()),
            cwd: Some(cwd.display().to_string()),
            client_info: Some(client_info()),
            mcp_servers: Some(mcp::entries(mcp_servers)),
            ..RuntimeStartParams::default()
        };
        let started = client.call::<methods::RuntimeStart>(&params).await?;
        let scope = started.runtime.ok_or_else(|| {
            CtlError::Failed(format!(
                "cannot open the conversation: {}",
                started
                    .error
                    .as_deref()
                    .unwrap_or("no runtime in the answer")
            ))
        })?;
        Ok((scope, started.agent))
    }

    fn open(
        &self,
        scope: RuntimeScope,
        agent: Option<&serde_json::Value>,
        events: RuntimeEvents,
        history: Option<History>,
        cx: ConnectionTo<Client>,
    ) -> Arc<Session> {
        let session = Session::start(self.context(), scope, agent, events, history, cx);
        crate::util_lock(&self.sessions).insert(session.id.clone(), session.clone());
        session
    }
}

/// The editor's end: when stdin and stdout are pipes (as editors start
/// agents), read and written directly by the runtime, with no thread in
/// between; otherwise (a terminal, a file) through the SDK's stdio.
fn stdio() -> agent_client_protocol::DynConnectTo<Agent> {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
    let pipes = || -> std::io::Result<(pipe::Sender, pipe::Receiver)> {
        let stdout = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
        let stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
        Ok((
            pipe::Sender::from_file(stdout)?,
            pipe::Receiver::from_file(stdin)?,
        ))
    };
    match pipes() {
        Ok((output, input)) => agent_client_protocol::DynConnectTo::new(
            agent_client_protocol::ByteStreams::new(output.compat_write(), input.compat()),
        ),
        Err(_) => agent_client_protocol::DynConnectTo::new(Stdio::new()),
    }
}

fn client_info() -> letta_protocol::ClientInfo {
    letta_protocol::ClientInfo {
        name: "letta-ctl acp".to_owned(),
        title: None,
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    }
}

fn modes(current: &str) -> SessionModeState {
    SessionModeState::new(
        current.to_owned(),
        MODES
            .iter()
            .map(|(id, name, description)| {
                SessionMode::new(id.to_owned(), name.to_owned()).description(description.to_owned())
            })
            .collect(),
    )
}

/// Times a load follows the log's start as retention moves it.
const EXPIRED_RETRIES: usize = 8;

/// Everything the runtime's event log still keeps, and whether retention
/// trimmed older events (those come from the stored messages). The log's
/// start can move between learning it and syncing from it — starting the
/// runtime emits events, and retention trims once a second — so a cursor
/// that expires meanwhile is followed to the new start.
async fn sync_all_kept(
    endpoint: &letta_client::Endpoint,
    scope: &RuntimeScope,
) -> Result<(RuntimeEvents, History), CtlError> {
    let mut after = Some(0);
    let mut history = History::Whole;
    for _ in 0..EXPIRED_RETRIES {
        match RuntimeEvents::sync(endpoint.clone(), scope.clone(), after).await {
            Err(ClientError::Rpc(err)) if err.code == ErrorCode::EventsExpired.code() => {
                let first_kept = err
                    .data
                    .as_ref()
                    .and_then(|data| data["first_kept_event_seq"].as_u64())
                    .unwrap_or(1);
                after = Some(first_kept.saturating_sub(1));
                history = History::Trimmed;
            }
            events => return Ok((events?, history)),
        }
    }
    Err(CtlError::Failed(format!(
        "the event log's start kept moving: {EXPIRED_RETRIES} syncs from it were too late"
    )))
}

/// A daemon failure, as the editor gets it.
fn failed(err: CtlError) -> agent_client_protocol::Error {
    agent_client_protocol::Error::internal_error().data(err.to_string())
}

/// The bridge's translations, for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use serde_json::Value;

    use super::updates::{self, Translator};

    /// A prompt's content blocks, as the agent's text and images.
    pub fn prompt(blocks: &[Value]) {
        let _ = super::prompt::prompt_text(blocks);
        let _ = super::prompt::prompt_images(blocks);
    }

    /// A daemon event and a stored message, as the editor's updates.
    pub fn event(value: &Value) {
        let mut translator = Translator::new(Some(200_000));
        translator.updates(value, |id| id.len() % 2 == 0);
        translator.stored(value);
        let tool = value["tool_name"].as_str().unwrap_or("ApplyPatch");
        updates::tool_call("call-1", tool, &value["input"]);
    }
}
