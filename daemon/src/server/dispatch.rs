//! Turns one incoming message into the reply to send, for one connection.
//!
//! JSON-RPC messages (single, notification or batch) and Letta Code frames
//! both end in [`Dispatcher::invoke`], which calls the method from the shared
//! `Methods` table with this connection's context. Every malformed message
//! gets a typed error back; nothing is dropped without an answer except
//! JSON-RPC notifications, which by definition get none.

use std::borrow::Cow;
use std::sync::Arc;

use jsonrpsee::types::{Id, Params, Request};
use jsonrpsee::{ConnectionId, Extensions, MethodCallback, MethodResponse, Methods};
use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::frames;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::rpc::{ConnectionInfo, to_error_object};

/// One connection's view of the method table.
/// Messages one JSON-RPC batch may hold; none of a larger batch is run.
pub const MAX_BATCH_ENTRIES: usize = 64;

pub struct Dispatcher {
    methods: Methods,
    connection: Arc<ConnectionInfo>,
    max_response_bytes: usize,
}

impl Dispatcher {
    pub fn new(
        methods: Methods,
        connection: Arc<ConnectionInfo>,
        max_response_bytes: usize,
    ) -> Self {
        Dispatcher {
            methods,
            connection,
            max_response_bytes,
        }
    }

    pub fn connection(&self) -> &ConnectionInfo {
        &self.connection
    }

    pub fn connection_arc(&self) -> Arc<ConnectionInfo> {
        self.connection.clone()
    }

    /// Handles one JSON-RPC 2.0 message; `None` when nothing is owed back
    /// (a notification, or a batch of them).
    pub async fn handle_jsonrpc(&self, text: &str) -> Option<String> {
        if text.trim_start().starts_with('[') {
            return self.handle_batch(text).await;
        }
        self.handle_single(text).await
    }

    /// Handles one Letta Code command frame; `None` when the command gets no
    /// reply frame (fire-and-forget commands that succeeded).
    pub async fn handle_frame(&self, text: &str) -> Option<String> {
        let command = match frames::decode_command(text) {
            Ok(command) => command,
            Err(malformed) => return Some(frames::malformed_frame(&malformed).to_string()),
        };
        let params = Some(Cow::Borrowed(&*command.params));
        let response = self.invoke(Id::Number(0), &command.method, params).await;
        match outcome(response.as_json()) {
            Ok(result) => frames::success_frame(&command, result),
            Err(error) => Some(frames::failure_frame(&command, &error).to_string()),
        }
    }

    async fn handle_single(&self, text: &str) -> Option<String> {
        match serde_json::from_str::<Request>(text) {
            Ok(request) if !params_are_structured(request.params.as_deref()) => {
                Some(error_response(
                    serde_json::to_value(&request.id).unwrap_or(Value::Null),
                    RpcError::new(
                        ErrorCode::InvalidRequest,
                        "\"params\" must be an object or an array",
                    ),
                ))
            }
            Ok(request) => {
                let response = self
                    .invoke(request.id.into_owned(), &request.method, request.params)
                    .await;
                Some(response.into_parts().0.get().to_owned())
            }
            Err(_) => self.handle_irregular(text).await,
        }
    }

    async fn handle_batch(&self, text: &str) -> Option<String> {
        let entries: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(entries) => entries,
            Err(err) => return Some(error_response(Value::Null, parse_error(&err))),
        };
        if entries.is_empty() {
            return Some(error_response(
                Value::Null,
                RpcError::new(ErrorCode::InvalidRequest, "empty batch"),
            ));
        }
        if entries.len() > MAX_BATCH_ENTRIES {
            return Some(error_response(
                Value::Null,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "a batch holds at most {MAX_BATCH_ENTRIES} messages, not {}; send the rest in another batch",
                        entries.len()
                    ),
                ),
            ));
        }
        let mut replies = Vec::with_capacity(entries.len());
        for entry in entries {
            let reply = if entry.get().trim_start().starts_with('[') {
                Some(error_response(
                    Value::Null,
                    RpcError::new(ErrorCode::InvalidRequest, "a batch cannot contain a batch"),
                ))
            } else {
                Box::pin(self.handle_single(entry.get())).await
            };
            replies.extend(reply);
        }
        (!replies.is_empty()).then(|| format!("[{}]", replies.join(",")))
    }

    /// The slow path for what the strict request parser refused: invalid
    /// JSON, notifications, and invalid requests, each answered precisely.
    async fn handle_irregular(&self, text: &str) -> Option<String> {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(err) => return Some(error_response(Value::Null, parse_error(&err))),
        };
        match classify(&value) {
            Irregular::Notification { method, params } => {
                let params = params.and_then(|params| serde_json::value::to_raw_value(params).ok());
                let response = self.invoke(Id::Null, method, params.map(Cow::Owned)).await;
                if response.is_error() {
                    tracing::debug!(
                        connection = self.connection.id,
                        method,
                        "notification failed; JSON-RPC gives it no reply"
                    );
                }
                None
            }
            Irregular::Invalid { id, reason } => Some(error_response(
                id,
                RpcError::new(ErrorCode::InvalidRequest, reason),
            )),
        }
    }

    async fn invoke(
        &self,
        id: Id<'static>,
        method: &str,
        params: Option<Cow<'_, RawValue>>,
    ) -> MethodResponse {
        let Some(callback) = self.methods.method(method) else {
            return MethodResponse::error(id, to_error_object(RpcError::method_not_found(method)));
        };
        let mut extensions = Extensions::new();
        extensions.insert(self.connection.clone());
        let params = Params::new(params.as_ref().map(|raw| raw.get())).into_owned();
        match callback {
            MethodCallback::Sync(callback) => {
                callback(id, params, self.max_response_bytes, extensions)
            }
            MethodCallback::Async(callback) => {
                let connection_id = ConnectionId(self.connection.id);
                callback(
                    id,
                    params,
                    connection_id,
                    self.max_response_bytes,
                    extensions,
                )
                .await
            }
            MethodCallback::Subscription(_) | MethodCallback::Unsubscription(_) => {
                MethodResponse::error(
                    id,
                    to_error_object(RpcError::new(
                        ErrorCode::InternalError,
                        format!("{method} is a subscription, which this transport does not serve"),
                    )),
                )
            }
        }
    }
}

/// The result or the error of a JSON-RPC response, the result left unparsed.
fn outcome(response: &RawValue) -> Result<&RawValue, RpcError> {
    #[derive(Deserialize)]
    struct Outcome<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        error: Option<RpcError>,
    }
    let outcome: Outcome<'_> = serde_json::from_str(response.get()).map_err(|err| {
        RpcError::new(
            ErrorCode::InternalError,
            format!("unreadable method response: {err}"),
        )
    })?;
    match (outcome.result, outcome.error) {
        (_, Some(error)) => Err(error),
        (Some(result), None) => Ok(result),
        (None, None) => Err(RpcError::new(
            ErrorCode::InternalError,
            "method response without a result",
        )),
    }
}

enum Irregular<'a> {
    Notification {
        method: &'a str,
        params: Option<&'a Value>,
    },
    Invalid {
        id: Value,
        reason: String,
    },
}

/// Says what is wrong with a message that is JSON but not a request.
fn classify(value: &Value) -> Irregular<'_> {
    let Value::Object(fields) = value else {
        return Irregular::Invalid {
            id: Value::Null,
            reason: "a request must be a JSON object".to_owned(),
        };
    };
    let id = fields.get("id");
    let reply_id = match id {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    };
    let invalid = |reason: &str| Irregular::Invalid {
        id: reply_id.clone(),
        reason: reason.to_owned(),
    };
    if fields.get("jsonrpc") != Some(&Value::from("2.0")) {
        return invalid("\"jsonrpc\" must be \"2.0\"");
    }
    let Some(Value::String(method)) = fields.get("method") else {
        return invalid("\"method\" must be a string");
    };
    let params = fields.get("params");
    if !matches!(params, None | Some(Value::Object(_) | Value::Array(_))) {
        return invalid("\"params\" must be an object or an array");
    }
    match id {
        None => Irregular::Notification { method, params },
        Some(Value::Number(number)) if number.as_u64().is_none() => {
            invalid("\"id\" must be a string or a non-negative integer")
        }
        Some(Value::String(_) | Value::Number(_) | Value::Null) => invalid("malformed request"),
        Some(_) => invalid("\"id\" must be a string, an integer or null"),
    }
}

/// JSON-RPC params are an object or an array when present.
fn params_are_structured(params: Option<&RawValue>) -> bool {
    params.is_none_or(|params| {
        matches!(
            params.get().trim_start().as_bytes().first(),
            Some(b'{' | b'[')
        )
    })
}

fn parse_error(err: &serde_json::Error) -> RpcError {
    RpcError::new(ErrorCode::ParseError, format!("invalid JSON: {err}"))
}

/// A JSON-RPC error response.
pub fn error_response(id: Value, error: RpcError) -> String {
    let error = serde_json::to_string(&error).unwrap_or_else(|_| "null".to_owned());
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#)
}
