//! Resolving the client-side tool calls a run stopped for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use letta_protocol::{
    ExternalToolCallRequestEvent, ExternalToolDefinition, LoopStatus, StreamDeltaEvent, events,
};
use serde_json::{Map, Value, json};

use super::{RunEnd, Turn, TurnError};
use crate::backend::ClientTools;
use crate::mcp::McpTool;
use crate::runtime::event_log::Draft;
use crate::store::ExternalCallRow;
use crate::store::{ExternalCallStatus, ResultStatus};
use crate::tools::{BuiltinTool, Effect, builtin};
use crate::util::lock;
use letta_api::ToolCallDelta;

/// A tool call assembled from streamed pieces.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct ToolCall {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) arguments: String,
}

/// The client tools a turn offers the agent.
#[derive(Debug, Clone, Default)]
pub(super) struct Offered {
    pub(super) builtin: Vec<&'static BuiltinTool>,
    pub(super) external: Vec<ExternalToolDefinition>,
    pub(super) mcp: Vec<McpTool>,
}

impl Offered {
    /// The `client_tools` of a send: name, description and JSON Schema.
    fn client_tools(&self) -> Vec<Value> {
        let builtin = self.builtin.iter().map(|tool| tool.client_tool().clone());
        let external = self.external.iter().map(|tool| {
            json!({ "name": tool.name, "description": tool.description, "parameters": tool.parameters })
        });
        let mcp = self.mcp.iter().map(|tool| {
            json!({ "name": tool.spec.name, "description": tool.spec.description, "parameters": tool.spec.parameters })
        });
        builtin.chain(external).chain(mcp).collect()
    }
}

/// What a send's client tools are made of, without the MCP servers that
/// run them: the cache must not keep a server the daemon let go running
/// (a server stops when its last handle is dropped).
struct ToolsKey {
    builtin: Vec<&'static BuiltinTool>,
    external: Vec<ExternalToolDefinition>,
    mcp: Vec<crate::mcp::ToolSpec>,
}

impl ToolsKey {
    fn of(offered: &Offered) -> ToolsKey {
        ToolsKey {
            builtin: offered.builtin.clone(),
            external: offered.external.clone(),
            mcp: offered.mcp.iter().map(|tool| tool.spec.clone()).collect(),
        }
    }

    /// Whether `offered` offers the same tools, described the same way.
    fn matches(&self, offered: &Offered) -> bool {
        self.builtin.len() == offered.builtin.len()
            && self
                .builtin
                .iter()
                .zip(&offered.builtin)
                .all(|(mine, theirs)| std::ptr::eq(*mine, *theirs))
            && self.external == offered.external
            && self.mcp.len() == offered.mcp.len()
            && self
                .mcp
                .iter()
                .zip(&offered.mcp)
                .all(|(mine, theirs)| *mine == theirs.spec)
    }
}

/// The tools a runtime offered last, kept as the [`ClientTools`] its sends
/// share until the set changes (a toolset, mode or MCP server changed).
#[derive(Default)]
pub(crate) struct OfferedCache(Mutex<Option<(ToolsKey, Arc<ClientTools>)>>);

impl OfferedCache {
    pub(super) fn client_tools(&self, offered: &Offered) -> Arc<ClientTools> {
        let mut last = lock(&self.0);
        if let Some((key, client_tools)) = last.as_ref()
            && key.matches(offered)
        {
            return Arc::clone(client_tools);
        }
        let client_tools = Arc::new(ClientTools::new(offered.client_tools()));
        *last = Some((ToolsKey::of(offered), Arc::clone(&client_tools)));
        client_tools
    }
}

/// A tool the daemon runs itself: built in, or of an MCP server.
#[derive(Debug, Clone)]
pub(super) enum LocalTool {
    Builtin(&'static BuiltinTool),
    /// `tool` is `None` for a call journaled before a restart whose server
    /// no longer offers it.
    Mcp {
        name: String,
        tool: Option<McpTool>,
    },
}

impl LocalTool {
    pub(super) fn name(&self) -> &str {
        match self {
            LocalTool::Builtin(tool) => tool.name,
            LocalTool::Mcp { name, .. } => name,
        }
    }

    /// An MCP tool may run anything, unless its server marks it as only
    /// reading.
    pub(super) fn effect(&self) -> Effect {
        match self {
            LocalTool::Builtin(tool) => tool.effect,
            LocalTool::Mcp {
                tool: Some(tool), ..
            } if tool.spec.read_only => Effect::ReadOnly,
            LocalTool::Mcp { .. } => Effect::Execute,
        }
    }
}

/// Who runs a tool call.
enum Route {
    Local(LocalTool),
    External,
    Unavailable,
}

impl Turn<'_> {
    /// Resolves each requested client-side call (built-in ones first, then
    /// external ones) and returns the approval entries to send back, in
    /// the order of the calls.
    pub(super) async fn resolve_calls(
        &self,
        end: &RunEnd,
        offered: &Offered,
    ) -> Result<Vec<Value>, TurnError> {
        let mut routes = Vec::with_capacity(end.calls.len());
        for call in &end.calls {
            routes.push(self.route(call, offered).await?);
        }
        let local: Vec<(&ToolCall, LocalTool)> = end
            .calls
            .iter()
            .zip(&routes)
            .filter_map(|(call, route)| match route {
                Route::Local(tool) => Some((call, tool.clone())),
                _ => None,
            })
            .collect();
        let mut outcomes = self.resolve_local(&local, end.run_id.as_deref()).await?;
        let mut approvals = Vec::with_capacity(end.calls.len());
        for (call, route) in end.calls.iter().zip(routes) {
            let (tool_return, status) = match route {
                Route::Local(_) => outcomes
                    .remove(&call.id)
                    .unwrap_or_else(|| ("The tool call was lost.".into(), ResultStatus::Error)),
                Route::External => {
                    let (text, status) = self.call_external(call, end.run_id.as_deref()).await?;
                    (Value::String(text), status)
                }
                Route::Unavailable => (
                    format!("Tool {} is not available on this device.", call.name).into(),
                    ResultStatus::Error,
                ),
            };
            approvals.push(approval_entry(&call.id, tool_return, status));
        }
        Ok(approvals)
    }

    /// Who runs a call. A call journaled before a restart keeps its route
    /// even if the tool is no longer offered.
    async fn route(&self, call: &ToolCall, offered: &Offered) -> Result<Route, TurnError> {
        let store = &self.runtime.store;
        if store
            .external_call(&external_request_id(&call.id))
            .await?
            .is_some()
            || offered.external.iter().any(|tool| tool.name == call.name)
        {
            return Ok(Route::External);
        }
        let journaled = store.tool_call(&call.id).await?.is_some();
        if let Some(tool) = offered.mcp.iter().find(|tool| tool.spec.name == call.name) {
            return Ok(Route::Local(LocalTool::Mcp {
                name: call.name.clone(),
                tool: Some(tool.clone()),
            }));
        }
        match builtin(&call.name) {
            Some(tool)
                if journaled
                    || offered
                        .builtin
                        .iter()
                        .any(|offered| offered.name == tool.name) =>
            {
                Ok(Route::Local(LocalTool::Builtin(tool)))
            }
            None if journaled && call.name.starts_with("mcp__") => {
                Ok(Route::Local(LocalTool::Mcp {
                    name: call.name.clone(),
                    tool: None,
                }))
            }
            _ => Ok(Route::Unavailable),
        }
    }

    /// Asks the frontends to run an external tool and waits for the first
    /// answer. The request is durable: a frontend that connects later, or
    /// after a daemon restart, still sees it and can answer.
    async fn call_external(
        &self,
        call: &ToolCall,
        run_id: Option<&str>,
    ) -> Result<(String, ResultStatus), TurnError> {
        let rt = self.runtime;
        let Some(input) = json_arguments(&call.arguments) else {
            return Ok((
                invalid_arguments(&call.name, &call.arguments),
                ResultStatus::Error,
            ));
        };
        let request_id = external_request_id(&call.id);
        let row = ExternalCallRow {
            request_id: request_id.clone(),
            turn_id: self.turn.turn_id.clone(),
            tool_call_id: call.id.clone(),
            tool_name: call.name.clone(),
            input: Value::Object(input.clone()).to_string(),
            status: ExternalCallStatus::Pending,
            result: None,
        };
        rt.store.record_external_call(rt.id, &row).await?;
        let waiter = rt.external.waiter(&request_id);
        {
            let mut state = lock(&rt.state);
            state.loop_status = LoopStatus::ExecutingClientSideTool;
            state.executing_tool_call_ids = vec![call.id.clone()];
        }
        let start = lifecycle(
            run_id,
            json!({
                "message_type": "client_tool_start",
                "tool_call_id": call.id,
                "tool_name": call.name,
                "tool_args": call.arguments,
            }),
        );
        let request = rt.log.draft::<events::ExternalToolCallRequest>(|envelope| {
            ExternalToolCallRequestEvent {
                envelope,
                request_id: request_id.clone(),
                scope_id: None,
                tool_call_id: call.id.clone(),
                tool_name: call.name.clone(),
                input,
            }
        });
        let drafts = vec![rt.loop_status_draft(), self.delta(start), request];
        rt.log.emit_all(drafts, None).await?;

        // The answer may have been stored before the waiter existed.
        let answer = match rt
            .store
            .external_call(&request_id)
            .await?
            .and_then(|row| row.result)
        {
            Some(stored) => serde_json::from_str(&stored).unwrap_or(Value::Null),
            None => {
                let timeout = lock(&rt.state).external_timeout(&call.name);
                tokio::select! {
                    answer = waiter => answer
                        .map_err(|_| TurnError::Protocol("external tool call abandoned".to_owned()))?,
                    () = wait_at_most(timeout) => self.expire_external(&request_id, timeout).await?,
                    () = self.turn.cancel.cancelled() => return Err(TurnError::Cancelled),
                }
            }
        };
        rt.external.forget(&request_id);
        let (tool_return, status) = tool_return_of(&answer);
        let end = lifecycle(
            run_id,
            json!({ "message_type": "client_tool_end", "tool_call_id": call.id, "status": status }),
        );
        rt.log.emit(self.delta(end)).await?;
        Ok((tool_return, status))
    }

    /// The answer once the frontend's time is up: "no answer in time",
    /// stored as the answer so a late one is refused — unless one came in
    /// just before, which then stands.
    async fn expire_external(
        &self,
        request_id: &str,
        timeout: Option<Duration>,
    ) -> Result<Value, TurnError> {
        let rt = self.runtime;
        let waited = timeout.unwrap_or_default().as_millis();
        let expired = json!({ "error": format!(
            "the frontend did not answer within {waited} ms (the tool's timeout_ms); its work may go on, but its answer will not reach this turn"
        ) });
        rt.store
            .answer_external_call(rt.id, request_id, &expired.to_string())
            .await?;
        let stored = rt
            .store
            .external_call(request_id)
            .await?
            .and_then(|row| row.result);
        Ok(stored
            .and_then(|stored| serde_json::from_str(&stored).ok())
            .unwrap_or(expired))
    }

    pub(super) fn delta(&self, delta: Value) -> Draft {
        self.runtime
            .log
            .draft::<events::StreamDelta>(|envelope| StreamDeltaEvent {
                envelope,
                delta,
                subagent_id: None,
            })
    }
}

/// Sleeps for `timeout`, or forever without one.
async fn wait_at_most(timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => tokio::time::sleep(timeout).await,
        None => std::future::pending().await,
    }
}

/// A call's arguments as a JSON object; empty text is no arguments.
pub(super) fn json_arguments(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(input)) => Some(input),
        _ if text.trim().is_empty() => Some(Map::new()),
        _ => None,
    }
}

/// What the agent is told when a call's arguments are not a JSON object.
pub(super) fn invalid_arguments(tool: &str, text: &str) -> String {
    format!("Invalid JSON arguments for {tool}: {text}")
}

/// One call's result, as an approval message carries it: text, or content
/// parts.
pub(super) fn approval_entry(
    tool_call_id: &str,
    tool_return: Value,
    status: ResultStatus,
) -> Value {
    json!({
        "type": "tool",
        "tool_call_id": tool_call_id,
        "tool_return": tool_return,
        "status": status,
    })
}

/// The request id of an external tool call: stable, so a restarted daemon
/// finds the request it made before.
fn external_request_id(tool_call_id: &str) -> String {
    format!("ext-{tool_call_id}")
}

/// A lifecycle delta (`client_tool_start`, ...) with the fields every
/// lifecycle message has.
pub(super) fn lifecycle(run_id: Option<&str>, mut fields: Value) -> Value {
    if let Value::Object(map) = &mut fields {
        map.insert(
            "id".to_owned(),
            Value::from(format!("lifecycle-{:016x}", fastrand::u64(..))),
        );
        map.insert("date".to_owned(), Value::from(crate::util::now_rfc3339()));
        if let Some(run_id) = run_id {
            map.insert("run_id".to_owned(), Value::from(run_id));
        }
    }
    fields
}

/// The text and status to return to the agent for a frontend's answer
/// (`{"result": {"content": [...], "is_error"?}}` or `{"error": "..."}`).
fn tool_return_of(answer: &Value) -> (String, ResultStatus) {
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return (error.to_owned(), ResultStatus::Error);
    }
    let result = answer.get("result").unwrap_or(&Value::Null);
    let texts: Vec<&str> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let text = if texts.is_empty() {
        result.to_string()
    } else {
        texts.join("\n")
    };
    let is_error = result
        .get("is_error")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let status = if is_error {
        ResultStatus::Error
    } else {
        ResultStatus::Success
    };
    (text, status)
}

/// Joins streamed tool-call pieces into whole calls, in order.
pub(super) fn assemble(pieces: Vec<ToolCallDelta>) -> Vec<ToolCall> {
    let mut calls: Vec<ToolCall> = Vec::new();
    for piece in pieces {
        let index = match piece.tool_call_id.as_deref() {
            Some(id) => match calls.iter().position(|call| call.id == id) {
                Some(index) => index,
                None => {
                    calls.push(ToolCall {
                        id: id.to_owned(),
                        ..ToolCall::default()
                    });
                    calls.len() - 1
                }
            },
            None if !calls.is_empty() => calls.len() - 1,
            None => continue,
        };
        let call = &mut calls[index];
        if let Some(name) = piece.name.filter(|name| !name.is_empty()) {
            call.name = name;
        }
        if let Some(arguments) = piece.arguments {
            call.arguments.push_str(&arguments);
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(id: Option<&str>, name: Option<&str>, arguments: Option<&str>) -> ToolCallDelta {
        ToolCallDelta {
            tool_call_id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: arguments.map(str::to_owned),
        }
    }

    #[test]
    fn sends_share_one_client_tools_until_the_set_changes() {
        let tool = |name: &str| builtin(name).unwrap();
        let offered = |names: &[&str]| Offered {
            builtin: names.iter().map(|name| tool(name)).collect(),
            ..Offered::default()
        };
        let cache = OfferedCache::default();
        let first = cache.client_tools(&offered(&["Read", "Write"]));
        let again = cache.client_tools(&offered(&["Read", "Write"]));
        assert!(Arc::ptr_eq(&first, &again));

        let fewer = cache.client_tools(&offered(&["Read"]));
        assert!(!Arc::ptr_eq(&first, &fewer));
        let mut with_external = offered(&["Read"]);
        let lookup: ExternalToolDefinition = serde_json::from_value(json!({
            "name": "Lookup", "description": "looks up", "parameters": { "type": "object" },
        }))
        .unwrap();
        with_external.external.push(lookup);
        let external = cache.client_tools(&with_external);
        assert!(!Arc::ptr_eq(&fewer, &external));
        assert!(Arc::ptr_eq(&external, &cache.client_tools(&with_external)));
    }

    #[tokio::test]
    async fn the_kept_tools_do_not_keep_an_mcp_server_running() {
        // A server stops when its last handle is dropped; the cache must
        // not be that handle once the daemon has let the server go.
        let server = Arc::new(crate::mcp::Server::start(crate::mcp::ServerConfig {
            name: "gone".to_owned(),
            transport: crate::mcp::config::Transport::Stdio {
                command: "/nonexistent/mcp-server".to_owned(),
                args: Vec::new(),
                env: Default::default(),
                cwd: None,
            },
        }));
        let spec = crate::mcp::ToolSpec {
            name: "mcp__gone__look".to_owned(),
            remote: "look".to_owned(),
            description: "looks".to_owned(),
            parameters: json!({ "type": "object" }),
            read_only: true,
        };
        let offered = Offered {
            mcp: vec![McpTool {
                spec,
                server: Arc::clone(&server),
            }],
            ..Offered::default()
        };
        let cache = OfferedCache::default();
        let first = cache.client_tools(&offered);
        assert!(Arc::ptr_eq(&first, &cache.client_tools(&offered)));
        let watching = Arc::downgrade(&server);
        drop((offered, server));
        assert!(watching.upgrade().is_none());
    }

    #[test]
    fn streamed_pieces_make_whole_calls() {
        let calls = assemble(vec![
            piece(Some("c1"), Some("Ext"), None),
            piece(Some("c1"), None, Some("{\"x\"")),
            piece(Some("c1"), None, Some(": 1}")),
            piece(Some("c2"), Some("Other"), Some("{}")),
        ]);
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0],
            ToolCall {
                id: "c1".into(),
                name: "Ext".into(),
                arguments: "{\"x\": 1}".into()
            }
        );
        assert_eq!(calls[1].name, "Other");
    }

    #[test]
    fn frontend_answers_become_tool_returns() {
        let ok = json!({"result": {"content": [{"type": "text", "text": "42"}]}});
        assert_eq!(
            tool_return_of(&ok),
            ("42".to_owned(), ResultStatus::Success)
        );
        let failed =
            json!({"result": {"content": [{"type": "text", "text": "nope"}], "is_error": true}});
        assert_eq!(tool_return_of(&failed).1, ResultStatus::Error);
        assert_eq!(
            tool_return_of(&json!({"error": "boom"})),
            ("boom".to_owned(), ResultStatus::Error)
        );
    }
}
