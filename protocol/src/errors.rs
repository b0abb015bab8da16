//! JSON-RPC error codes and the error object every transport sends.

use serde::{Deserialize, Serialize};

/// Error codes the daemon answers with. The first five are JSON-RPC 2.0's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    /// The message was larger than the daemon accepts.
    MessageTooLarge,
    /// The daemon is shutting down or its queues are full; retry.
    Overloaded,
    /// The client asked for protocol versions this daemon does not speak.
    UnsupportedProtocolVersion,
    /// The runtime named is not known; `runtime_start` it first.
    UnknownRuntime,
    /// The Letta server refused or failed; `data` carries its status and detail.
    LettaServer,
    /// The request or tool call answered is no longer pending.
    NotPending,
    /// The daemon could not persist or read its state.
    Storage,
    /// The agent, conversation or run named is not kept by the daemon.
    NotFound,
    /// The conversation is busy with a run, or waits for tool results first.
    Conflict,
    /// No model provider serves the agent's model, or the provider failed.
    ModelProvider,
    /// The events after the `event_seq` asked for are no longer kept;
    /// `data.first_kept_event_seq` is where the log starts now.
    EventsExpired,
    /// The path is outside every workspace root, or a settings rule denies
    /// it.
    Forbidden,
}

impl ErrorCode {
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::MessageTooLarge => -32001,
            ErrorCode::Overloaded => -32002,
            ErrorCode::UnsupportedProtocolVersion => -32003,
            ErrorCode::UnknownRuntime => -32004,
            ErrorCode::LettaServer => -32005,
            ErrorCode::NotPending => -32006,
            ErrorCode::Storage => -32007,
            ErrorCode::NotFound => -32008,
            ErrorCode::Conflict => -32009,
            ErrorCode::ModelProvider => -32010,
            ErrorCode::EventsExpired => -32011,
            ErrorCode::Forbidden => -32012,
        }
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RpcError {
            code: code.code(),
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// "method not found" that names the method and says whether protocol v2
    /// declares it (and this daemon simply does not implement it yet).
    pub fn method_not_found(method: &str) -> Self {
        if let Some(why) = crate::unserved::unserved_reason(method) {
            return RpcError::new(
                ErrorCode::MethodNotFound,
                format!("{method} is not supported by letta-daemon: {why}"),
            )
            .with_data(
                serde_json::json!({ "method": method, "declared": false, "unsupported": true }),
            );
        }
        let declared = crate::method_info(method).is_some();
        let message = if declared {
            format!(
                "method not found: {method} is part of protocol v2 but not implemented by this daemon"
            )
        } else {
            format!("method not found: {method}")
        };
        RpcError::new(ErrorCode::MethodNotFound, message)
            .with_data(serde_json::json!({ "method": method, "declared": declared }))
    }

    pub fn message_too_large(limit: usize) -> Self {
        RpcError::new(
            ErrorCode::MessageTooLarge,
            format!("message exceeds the {limit}-byte limit"),
        )
        .with_data(serde_json::json!({ "limit": limit }))
    }
}
