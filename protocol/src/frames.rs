//! Letta Code frames: `{type, request_id, ...}` messages on `/ws`.
//!
//! A frame is a JSON-RPC call in other clothes: `type` is the method,
//! `request_id` the correlation id, everything else the params; a reply frame
//! is the result object with `type` set to the method's reply type (from the
//! registry) and `request_id` echoed. This module does that mapping and
//! nothing else, so the daemon serves frames with the same methods it serves
//! JSON-RPC with.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::errors::{ErrorCode, RpcError};
use crate::registry::{FrameReply, method_info};

/// Frame type of errors that cannot be sent as a method's own reply type.
pub const ERROR_FRAME_TYPE: &str = "error";

/// A command frame taken apart.
#[derive(Debug, Clone)]
pub struct Command {
    /// The frame `type`, i.e. the method name.
    pub method: String,
    /// The correlation id, when the method has one and the frame carried it.
    pub request_id: Option<Value>,
    /// Everything else, as a JSON object.
    pub params: Box<RawValue>,
    /// How to answer; `None` for types protocol v2 does not declare.
    pub reply: Option<FrameReply>,
}

/// A frame that could not be taken apart, with whatever correlation id could
/// still be read from it so the error reaches the right caller.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedFrame {
    pub request_id: Option<Value>,
    /// Boxed: the error path stays small beside the decoded command.
    pub error: Box<RpcError>,
}

/// Takes a command frame apart. Field values stay unparsed JSON text: they
/// are only moved from the frame into the params.
pub fn decode_command(text: &str) -> Result<Command, MalformedFrame> {
    let mut fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|_| explain_malformed(text))?;
    let method = fields
        .remove("type")
        .and_then(|method| serde_json::from_str::<String>(method.get()).ok())
        .ok_or_else(|| MalformedFrame {
            request_id: fields
                .get("request_id")
                .and_then(|id| serde_json::from_str(id.get()).ok()),
            error: Box::new(RpcError::new(
                ErrorCode::InvalidRequest,
                "a command frame needs a string \"type\"",
            )),
        })?;
    let reply = method_info(&method).map(|info| info.frame_reply);
    let correlates = reply.is_none_or(FrameReply::correlates);
    let request_id = if correlates {
        fields.remove("request_id")
    } else {
        None
    };
    let request_id = request_id.and_then(|id| serde_json::from_str(id.get()).ok());
    let params = serde_json::value::to_raw_value(&fields).map_err(|err| MalformedFrame {
        request_id: request_id.clone(),
        error: Box::new(RpcError::new(
            ErrorCode::InternalError,
            format!("cannot re-encode the frame: {err}"),
        )),
    })?;
    Ok(Command {
        method,
        request_id,
        params,
        reply,
    })
}

/// Says why a frame that does not parse as an object is unusable.
fn explain_malformed(text: &str) -> MalformedFrame {
    let error = match serde_json::from_str::<Value>(text) {
        Err(err) => RpcError::new(ErrorCode::ParseError, format!("invalid JSON: {err}")),
        Ok(_) => RpcError::new(
            ErrorCode::InvalidRequest,
            "a command frame must be a JSON object with a \"type\"",
        ),
    };
    MalformedFrame {
        request_id: None,
        error: Box::new(error),
    }
}

/// The reply frame for a successful call, or `None` when the method sends no
/// reply for this command (fire-and-forget commands without `request_id`).
///
/// The result object's fields are spliced after `type` and `request_id`
/// without re-parsing them; results never carry fields of those names (the
/// schema test checks).
pub fn success_frame(command: &Command, result: &RawValue) -> Option<String> {
    let reply_type = match command.reply? {
        FrameReply::Always(reply_type) => reply_type,
        FrameReply::WhenRequestId(reply_type) if command.request_id.is_some() => reply_type,
        FrameReply::WhenRequestId(_) | FrameReply::Never => return None,
    };
    let result = result.get().trim();
    let mut frame = String::with_capacity(result.len() + reply_type.len() + 48);
    frame.push_str(r#"{"type":""#);
    frame.push_str(reply_type);
    frame.push('"');
    if let Some(request_id) = &command.request_id {
        frame.push_str(r#","request_id":"#);
        frame.push_str(&request_id.to_string());
    }
    match result
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
    {
        Some(fields) if fields.trim().is_empty() => {}
        Some(fields) => {
            frame.push(',');
            frame.push_str(fields);
        }
        None => {
            frame.push_str(r#","result":"#);
            frame.push_str(result);
        }
    }
    frame.push('}');
    Some(frame)
}

/// The frame for a failed call. Failures are always answered: as the
/// method's own reply type with `success: false` when the caller is waiting
/// for that type, otherwise as an `error` frame naming the command.
pub fn failure_frame(command: &Command, error: &RpcError) -> Value {
    let reply_type = match command.reply {
        Some(FrameReply::Always(reply_type)) => Some(reply_type),
        Some(FrameReply::WhenRequestId(reply_type)) if command.request_id.is_some() => {
            Some(reply_type)
        }
        _ => None,
    };
    let mut frame = error_fields(command.request_id.as_ref(), error);
    match reply_type {
        Some(reply_type) => {
            frame.insert("type".to_owned(), Value::from(reply_type));
            frame.insert("success".to_owned(), Value::Bool(false));
            crate::failure_fields::add(&mut frame, reply_type, command.params.get(), error);
        }
        None => {
            frame.insert("type".to_owned(), Value::from(ERROR_FRAME_TYPE));
            frame.insert("command".to_owned(), Value::from(command.method.clone()));
        }
    }
    Value::Object(frame)
}

/// The `error` frame for input that is not a usable command at all.
pub fn malformed_frame(malformed: &MalformedFrame) -> Value {
    let mut frame = error_fields(malformed.request_id.as_ref(), &malformed.error);
    frame.insert("type".to_owned(), Value::from(ERROR_FRAME_TYPE));
    Value::Object(frame)
}

fn error_fields(request_id: Option<&Value>, error: &RpcError) -> Map<String, Value> {
    let mut frame = Map::new();
    if let Some(request_id) = request_id {
        frame.insert("request_id".to_owned(), request_id.clone());
    }
    frame.insert("error".to_owned(), Value::from(error.message.clone()));
    frame.insert("error_code".to_owned(), Value::from(error.code));
    if let Some(data) = &error.data {
        frame.insert("error_data".to_owned(), data.clone());
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(value: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&value).unwrap()
    }

    fn params(command: &Command) -> Value {
        serde_json::from_str(command.params.get()).unwrap()
    }

    #[test]
    fn request_id_is_a_correlation_id_for_replying_methods() {
        let command =
            decode_command(r#"{"type":"app_server_info","request_id":"a-1","x":1}"#).unwrap();
        assert_eq!(command.method, "app_server_info");
        assert_eq!(command.request_id, Some(json!("a-1")));
        assert_eq!(params(&command), json!({"x": 1}));
        let frame = success_frame(&command, &raw(json!({"success": true}))).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&frame).unwrap(),
            json!({"type": "app_server_info_response", "request_id": "a-1", "success": true})
        );
        let empty = success_frame(&command, &raw(json!({}))).unwrap();
        assert_eq!(
            empty,
            r#"{"type":"app_server_info_response","request_id":"a-1"}"#
        );
        let scalar = success_frame(&command, &raw(json!(5))).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&scalar).unwrap()["result"], 5);
    }

    #[test]
    fn request_id_belongs_to_commands_that_never_reply() {
        let command =
            decode_command(r#"{"type":"external_tool_call_response","request_id":"ext-1"}"#)
                .unwrap();
        assert_eq!(command.request_id, None);
        assert_eq!(params(&command)["request_id"], "ext-1");
        assert_eq!(
            success_frame(&command, &raw(json!({"success": true}))),
            None
        );
    }

    #[test]
    fn optional_replies_follow_the_request_id() {
        let without = decode_command(r#"{"type":"sync","runtime":{}}"#).unwrap();
        assert_eq!(success_frame(&without, &raw(json!({}))), None);
        let with = decode_command(r#"{"type":"input","request_id":7}"#).unwrap();
        assert_eq!(
            success_frame(&with, &raw(json!({"accepted": true}))).as_deref(),
            Some(r#"{"type":"input_accepted","request_id":7,"accepted":true}"#)
        );
    }

    #[test]
    fn failures_are_never_silent() {
        let error = RpcError::method_not_found("no_such_command");
        let unknown = decode_command(r#"{"type":"no_such_command","request_id":"n-6"}"#).unwrap();
        let frame = failure_frame(&unknown, &error);
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["request_id"], "n-6");
        assert_eq!(frame["command"], "no_such_command");
        assert_eq!(frame["error_code"], -32601);

        let sync = decode_command(r#"{"type":"sync"}"#).unwrap();
        assert_eq!(failure_frame(&sync, &error)["type"], "error");

        let known = decode_command(r#"{"type":"agent_list","request_id":"l-1"}"#).unwrap();
        let frame = failure_frame(&known, &error);
        assert_eq!(frame["type"], "agent_list_response");
        assert_eq!(frame["success"], false);
    }

    #[test]
    fn malformed_frames_keep_what_correlation_they_can() {
        let err = decode_command("{not json").unwrap_err();
        assert_eq!(err.error.code, -32700);
        assert_eq!(malformed_frame(&err)["type"], "error");
        let err = decode_command(r#"{"request_id":"r-1"}"#).unwrap_err();
        assert_eq!(err.request_id, Some(json!("r-1")));
        assert_eq!(err.error.code, -32600);
        assert!(decode_command("[1,2]").is_err());
        assert!(decode_command(r#"{"type":5}"#).is_err());
    }
}
