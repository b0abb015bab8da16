//! What a turn sends to an agent, typed across the backend seam. The
//! client tools a send offers are one shared [`ClientTools`] per tool set,
//! so a turn's sends do not copy, serialize and digest every schema again
//! (a tool return is a send of its own).

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use super::local::tool_sets::{self, ToolSet};

/// New messages for an agent's conversation, and the client-side tools the
/// agent may call while answering them.
pub struct SendRequest {
    /// The agent, for its default conversation (which Letta addresses by
    /// agent).
    pub agent_id: Option<String>,
    /// Letta's message-create shapes: user messages and approval results.
    pub messages: Vec<Value>,
    pub client_tools: Arc<ClientTools>,
}

/// The client-side tools of a send: `{name, description, parameters}`
/// each, as the Letta server takes them.
pub struct ClientTools {
    tools: Vec<Value>,
    /// The local backend's stored form, made once, when first sent there.
    local: OnceLock<ToolSet>,
}

impl ClientTools {
    pub fn new(tools: Vec<Value>) -> ClientTools {
        ClientTools {
            tools,
            local: OnceLock::new(),
        }
    }

    /// The local backend's stored set: memory tools left out, digested.
    pub(super) fn local_set(&self) -> &ToolSet {
        self.local.get_or_init(|| tool_sets::of_tools(&self.tools))
    }
}

/// The body of the Letta server's `POST /v1/conversations/{id}/messages`.
#[derive(Serialize)]
pub(super) struct ApiBody<'a> {
    messages: &'a [Value],
    streaming: bool,
    stream_tokens: bool,
    background: bool,
    include_pings: bool,
    client_tools: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
}

impl SendRequest {
    /// Streamed token by token, as a background run whose stream can be
    /// resumed, with keep-alive pings.
    pub(super) fn api_body(&self) -> ApiBody<'_> {
        ApiBody {
            messages: &self.messages,
            streaming: true,
            stream_tokens: true,
            background: true,
            include_pings: true,
            client_tools: &self.client_tools.tools,
            agent_id: self.agent_id.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_letta_server_gets_a_background_token_stream_with_the_tools() {
        let read = json!({ "name": "Read", "description": "reads", "parameters": {} });
        let request = SendRequest {
            agent_id: Some("agent-1".to_owned()),
            messages: vec![json!({ "role": "user", "content": "hi" })],
            client_tools: Arc::new(ClientTools::new(vec![read.clone()])),
        };
        let body = serde_json::to_value(request.api_body()).unwrap();
        assert_eq!(
            body,
            json!({
                "messages": [{ "role": "user", "content": "hi" }],
                "streaming": true,
                "stream_tokens": true,
                "background": true,
                "include_pings": true,
                "client_tools": [read],
                "agent_id": "agent-1",
            })
        );
        let in_a_conversation = SendRequest {
            agent_id: None,
            ..request
        };
        let body = serde_json::to_value(in_a_conversation.api_body()).unwrap();
        assert!(body.get("agent_id").is_none());
    }
}
