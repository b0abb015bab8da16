//! One MCP server, kept running: a supervisor task connects (starting the
//! process of a stdio server), lists its tools, follows its tool list
//! changes, and when the server dies connects again after a backoff that
//! grows while it keeps dying. The server stops when the last runtime
//! using it lets go of it.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ContentBlock, Implementation,
    ResourceContents,
};
use rmcp::service::{NotificationContext, Peer, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::config::{ServerConfig, Transport, expand_header, tool_name};
use crate::tools::ToolOutput;

/// Longest wait for a server to start and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest one tool call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// The first and the longest pause before starting a dead server again.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server that stayed up this long starts the backoff over when it dies.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// Most tools one server may offer, and most characters of one description.
const MAX_TOOLS: usize = 256;
const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Largest input schema passed on (it goes with every request to the
/// model); a larger one is replaced by "any object".
const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Longest result text the agent gets; the rest is kept in a file.
const MAX_RESULT_CHARS: usize = 30_000;
/// Longest stderr line kept (the last one explains a failed start).
const MAX_STDERR_LINE: usize = 2_000;

/// A tool of a server, as the agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// `mcp__<server>__<tool>`.
    pub name: String,
    /// The server's own name for it.
    pub remote: String,
    pub description: String,
    pub parameters: Value,
    /// The server marks it as only reading (`readOnlyHint`).
    pub read_only: bool,
}

/// Where a server stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Ready,
    Failed(String),
}

#[derive(Clone)]
struct State {
    phase: Phase,
    tools: Arc<Vec<ToolSpec>>,
    peer: Option<Peer<RoleClient>>,
}

/// A running (or restarting) server, shared by the runtimes that use it.
pub struct Server {
    pub config: ServerConfig,
    state: watch::Receiver<State>,
    _stop: DropGuard,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts supervising the server; it runs until the value is dropped.
    pub fn start(config: ServerConfig) -> Server {
        let stop = CancellationToken::new();
        let (sender, state) = watch::channel(State {
            phase: Phase::Starting,
            tools: Arc::default(),
            peer: None,
        });
        tokio::spawn(supervise(config.clone(), sender, stop.clone()));
        Server {
            config,
            state,
            _stop: stop.drop_guard(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.state.borrow().phase.clone()
    }

    /// The tools it offers: as last listed, kept while it restarts.
    pub fn tools(&self) -> Arc<Vec<ToolSpec>> {
        self.state.borrow().tools.clone()
    }

    /// Waits until the server is ready or failed, at most `limit`.
    pub async fn settled(&self, limit: Duration) -> Phase {
        let mut state = self.state.clone();
        let settled = state.wait_for(|state| state.phase != Phase::Starting);
        match tokio::time::timeout(limit, settled).await {
            Ok(Ok(state)) => state.phase.clone(),
            _ => self.phase(),
        }
    }

    /// Calls tool `remote` with `input`; `name` is the agent's name for it.
    pub async fn call(
        &self,
        name: &str,
        remote: &str,
        input: Map<String, Value>,
        cancel: &CancellationToken,
        spill: &std::path::Path,
    ) -> ToolOutput {
        let server = &self.config.name;
        // A server being restarted gets the time a start takes.
        let mut state = self.state.clone();
        let ready = state.wait_for(|state| state.peer.is_some());
        let peer = match tokio::time::timeout(START_TIMEOUT, ready).await {
            Ok(Ok(state)) => state.peer.clone(),
            _ => None,
        };
        let Some(peer) = peer else {
            let why = match self.phase() {
                Phase::Failed(reason) => reason,
                _ => format!("it did not start within {} s", START_TIMEOUT.as_secs()),
            };
            return ToolOutput::error(format!(
                "The MCP server {server} is not running ({why}); {name} was not called."
            ));
        };
        let request = CallToolRequestParams::new(remote.to_owned()).with_arguments(input);
        let result = tokio::select! {
            result = tokio::time::timeout(CALL_TIMEOUT, peer.call_tool(request)) => result,
            () = cancel.cancelled() => {
                return ToolOutput::error(format!("{name} was cancelled: the turn was aborted."));
            }
        };
        match result {
            Err(_) => ToolOutput::error(format!(
                "{name} did not answer within {} s; it may or may not have taken effect.",
                CALL_TIMEOUT.as_secs()
            )),
            Ok(Err(err)) => ToolOutput::error(format!(
                "The MCP server {server} failed during {name}: {err}. It may or may not have taken \
                 effect; the server is restarted if it stopped."
            )),
            Ok(Ok(result)) => {
                let text = result_text(&result.content, result.structured_content.as_ref());
                let text = bounded(text, spill);
                if result.is_error == Some(true) {
                    ToolOutput::error(text)
                } else {
                    ToolOutput::ok(text)
                }
            }
        }
    }
}

/// The text of a call's result: its text parts, what other parts are, or
/// its structured content.
fn result_text(content: &[ContentBlock], structured: Option<&Value>) -> String {
    let mut parts = Vec::with_capacity(content.len());
    for block in content {
        match block {
            ContentBlock::Text(text) => parts.push(text.text.clone()),
            ContentBlock::Image(image) => parts.push(format!("[image, {}]", image.mime_type)),
            ContentBlock::Audio(audio) => parts.push(format!("[audio, {}]", audio.mime_type)),
            ContentBlock::Resource(resource) => match &resource.resource {
                ResourceContents::TextResourceContents { uri, text, .. } => {
                    parts.push(format!("[resource {uri}]\n{text}"));
                }
                ResourceContents::BlobResourceContents { uri, .. } => {
                    parts.push(format!("[binary resource {uri}]"));
                }
                _ => parts.push("[a resource of a kind not known here]".to_owned()),
            },
            ContentBlock::ResourceLink(link) => parts.push(format!("[resource link {}]", link.uri)),
            _ => parts.push("[content of a kind not known here]".to_owned()),
        }
    }
    if parts.is_empty()
        && let Some(structured) = structured
    {
        return structured.to_string();
    }
    parts.join("\n")
}

/// `text` cut to [`MAX_RESULT_CHARS`], the whole of it kept in `spill`.
fn bounded(text: String, spill: &std::path::Path) -> String {
    let (head, cut) = crate::tools::truncate_chars(&text, MAX_RESULT_CHARS);
    if !cut {
        return text;
    }
    let kept = spill
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(spill, &text));
    match kept {
        Ok(()) => format!(
            "{head}\n[The result is longer than {MAX_RESULT_CHARS} characters; all of it is in {}]",
            spill.display()
        ),
        Err(err) => format!(
            "{head}\n[The result is longer than {MAX_RESULT_CHARS} characters; the rest could not \
             be saved: {err}]"
        ),
    }
}

/// Receives the server's notifications: a tool list change wakes the
/// supervisor, which lists the tools again.
#[derive(Clone)]
struct Handler {
    tools_changed: mpsc::Sender<()>,
}

impl ClientHandler for Handler {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        // A full channel already holds a wake-up: one listing covers both.
        let _ = self.tools_changed.try_send(());
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("letta-daemon", env!("CARGO_PKG_VERSION")),
        )
    }
}

async fn supervise(config: ServerConfig, state: watch::Sender<State>, stop: CancellationToken) {
    let name = config.name.clone();
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Tools last listed stay offered while the server restarts.
        state.send_modify(|state| {
            state.phase = Phase::Starting;
            state.peer = None;
        });
        let (tools_changed, mut changes) = mpsc::channel(1);
        let started = Instant::now();
        let last_stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let connecting = tokio::time::timeout(
            START_TIMEOUT,
            connect(&config, Handler { tools_changed }, last_stderr.clone()),
        );
        let running = tokio::select! {
            connected = connecting => match connected {
                Ok(Ok(running)) => Ok(running),
                Ok(Err(err)) => Err(err),
                Err(_) => Err(format!("it did not start within {} s", START_TIMEOUT.as_secs())),
            },
            () = stop.cancelled() => return,
        };
        let reason = match running {
            Ok(running) => {
                let reason = serve(&config, running, &state, &mut changes, &stop).await;
                if stop.is_cancelled() {
                    return;
                }
                reason
            }
            Err(reason) => reason,
        };
        let reason = with_stderr(reason, &last_stderr);
        if started.elapsed() >= STABLE_AFTER {
            backoff = FIRST_BACKOFF;
        }
        tracing::warn!(server = %name, error = %reason, retry_in_s = backoff.as_secs(), "MCP server stopped");
        state.send_modify(|state| {
            state.phase = Phase::Failed(format!(
                "{reason}; starting it again in {} s",
                backoff.as_secs()
            ));
            state.peer = None;
        });
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Serves a connected server until it stops (returns why) or `stop`.
async fn serve(
    config: &ServerConfig,
    running: RunningService<RoleClient, Handler>,
    state: &watch::Sender<State>,
    changes: &mut mpsc::Receiver<()>,
    stop: &CancellationToken,
) -> String {
    let peer = running.peer().clone();
    match list_tools(config, &peer).await {
        Ok(tools) => {
            tracing::info!(server = %config.name, tools = tools.len(), "MCP server ready");
            state.send_replace(State {
                phase: Phase::Ready,
                tools: Arc::new(tools),
                peer: Some(peer.clone()),
            });
        }
        Err(err) => return err,
    }
    let ended = running.waiting();
    tokio::pin!(ended);
    loop {
        tokio::select! {
            quit = &mut ended => {
                return match quit {
                    Ok(reason) => format!("the connection ended ({reason:?})"),
                    Err(err) => format!("the connection task failed: {err}"),
                };
            }
            Some(()) = changes.recv() => match list_tools(config, &peer).await {
                Ok(tools) => {
                    tracing::info!(server = %config.name, tools = tools.len(), "MCP server's tools changed");
                    state.send_modify(|state| state.tools = Arc::new(tools));
                }
                Err(err) => tracing::warn!(server = %config.name, error = %err, "cannot list the changed tools"),
            },
            () = stop.cancelled() => return "stopped".to_owned(),
        }
    }
}

async fn list_tools(
    config: &ServerConfig,
    peer: &Peer<RoleClient>,
) -> Result<Vec<ToolSpec>, String> {
    let listed = tokio::time::timeout(START_TIMEOUT, peer.list_all_tools())
        .await
        .map_err(|_| "it did not list its tools in time".to_owned())?
        .map_err(|err| format!("it could not list its tools: {err}"))?;
    let mut tools = Vec::with_capacity(listed.len().min(MAX_TOOLS));
    for tool in listed.into_iter().take(MAX_TOOLS) {
        let description = tool.description.as_deref().unwrap_or_default();
        let (description, _) = crate::tools::truncate_chars(description, MAX_DESCRIPTION_CHARS);
        let mut parameters = Value::Object((*tool.input_schema).clone());
        if parameters["type"] != "object" || parameters.to_string().len() > MAX_SCHEMA_BYTES {
            parameters = serde_json::json!({ "type": "object", "properties": {} });
        }
        tools.push(ToolSpec {
            name: tool_name(&config.name, &tool.name),
            remote: tool.name.to_string(),
            description: format!("{description} (from the MCP server {})", config.name),
            parameters,
            read_only: tool
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.read_only_hint)
                .unwrap_or(false),
        });
    }
    Ok(tools)
}

async fn connect(
    config: &ServerConfig,
    handler: Handler,
    last_stderr: Arc<std::sync::Mutex<String>>,
) -> Result<RunningService<RoleClient, Handler>, String> {
    match &config.transport {
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut process = tokio::process::Command::new(command);
            process.args(args).envs(env);
            if let Some(cwd) = cwd {
                process.current_dir(cwd);
            }
            let mut process = process_wrap::tokio::CommandWrap::from(process);
            // Killed with everything it started (npx, uvx and shells start
            // the real server as a child).
            process.wrap(process_wrap::tokio::ProcessGroup::leader());
            let (transport, stderr) = TokioChildProcess::builder(process)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|err| format!("cannot start {command}: {err}"))?;
            if let Some(stderr) = stderr {
                tokio::spawn(follow_stderr(config.name.clone(), stderr, last_stderr));
            }
            handler
                .serve(transport)
                .await
                .map_err(|err| format!("it did not complete the MCP handshake: {err}"))
        }
        Transport::Http { url, headers } => {
            let mut custom = HashMap::new();
            let mut bearer = None;
            for (name, value) in headers {
                let value = expand_header(name, value)?;
                if name.eq_ignore_ascii_case("authorization")
                    && let Some(token) = value.strip_prefix("Bearer ")
                {
                    bearer = Some(token.to_owned());
                    continue;
                }
                let header = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(&value),
                );
                let (Ok(header), Ok(value)) = header else {
                    return Err(format!("header {name} is not a valid HTTP header"));
                };
                custom.insert(header, value);
            }
            let mut transport_config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
            if let Some(bearer) = bearer {
                transport_config = transport_config.auth_header(bearer);
            }
            let transport = StreamableHttpClientTransport::from_config(transport_config);
            handler
                .serve(transport)
                .await
                .map_err(|err| format!("cannot connect to {url}: {err}"))
        }
    }
}

/// Logs what a stdio server prints on stderr, and keeps its last line.
async fn follow_stderr(
    server: String,
    stderr: tokio::process::ChildStderr,
    last: Arc<std::sync::Mutex<String>>,
) {
    let codec = tokio_util::codec::LinesCodec::new_with_max_length(MAX_STDERR_LINE);
    let mut lines = tokio_util::codec::FramedRead::new(stderr, codec);
    while let Some(line) = lines.next().await {
        let Ok(line) = line else {
            // A line past the limit: skip it, keep reading.
            continue;
        };
        tracing::debug!(server = %server, "{line}");
        if !line.trim().is_empty() {
            *crate::util::lock(&last) = line;
        }
    }
}

fn with_stderr(reason: String, last: &std::sync::Mutex<String>) -> String {
    let last = crate::util::lock(last);
    if last.is_empty() {
        reason
    } else {
        format!("{reason}; its last error output: {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_reads_as_text() {
        let content = vec![
            ContentBlock::text("first"),
            ContentBlock::image("AAAA", "image/png"),
        ];
        assert_eq!(result_text(&content, None), "first\n[image, image/png]");
        let structured = serde_json::json!({"answer": 42});
        assert_eq!(result_text(&[], Some(&structured)), r#"{"answer":42}"#);
    }

    #[test]
    fn a_long_result_is_cut_and_kept_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spill = dir.path().join("out/call.txt");
        let long = "x".repeat(MAX_RESULT_CHARS + 10);
        let text = bounded(long.clone(), &spill);
        assert!(text.len() < long.len() + 200, "{}", text.len());
        assert!(text.contains("all of it is in"), "{text}");
        assert_eq!(std::fs::read_to_string(&spill).expect("spilled"), long);
        assert_eq!(bounded("short".into(), &spill), "short");
    }
}
