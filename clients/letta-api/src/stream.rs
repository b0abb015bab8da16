//! A run's server-sent events as typed chunks.
//!
//! What the Letta server sends: `data: <json>` events without a name, each
//! carrying `message_type` and, in background mode, `run_id` and a 1-based
//! `seq_id` (`stop_reason` and `usage_statistics` come without `seq_id`);
//! `data: [DONE]` at the end; errors as `event: error` with either
//! `{"error": {"message": ...}}` or `{"message": ...}`. Numbered chunks are
//! handed on in `seq_id` order, whatever order they came in (see
//! [`crate::order`]).

use std::pin::Pin;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::LettaError;
use crate::order::InOrder;

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// The chunks of one run, in order.
pub struct RunStream {
    events: Events,
    order: InOrder,
    /// How the server ended the stream (`[DONE]` or an error event), to
    /// be told once the chunks held before it are handed on.
    ending: Option<Result<(), LettaError>>,
}

/// One item of a run stream. Chunks are not boxed: nearly every item is
/// one, and `Done` comes once per stream.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum StreamItem {
    Chunk(Chunk),
    /// `data: [DONE]`: the server finished the stream.
    Done,
}

/// One streamed message.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub message: StreamMessage,
    pub seq_id: Option<u64>,
    pub run_id: Option<String>,
    /// The chunk as the server sent it, forwarded to frontends unchanged.
    pub raw: Map<String, Value>,
}

/// The kinds of messages a run streams. Kinds this build does not know yet
/// arrive as [`StreamMessage::Other`] and are passed through.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
pub enum StreamMessage {
    ReasoningMessage {},
    HiddenReasoningMessage {},
    AssistantMessage {},
    UserMessage {},
    SystemMessage {},
    ToolCallMessage {},
    ToolReturnMessage {},
    ApprovalRequestMessage {
        #[serde(default)]
        tool_call: Option<ToolCallDelta>,
        /// An array, or (when tokens are streamed) a single object.
        #[serde(default, deserialize_with = "one_or_many")]
        tool_calls: Vec<ToolCallDelta>,
    },
    ApprovalResponseMessage {},
    StopReason {
        stop_reason: String,
    },
    UsageStatistics {},
    Ping {},
    ErrorMessage {
        #[serde(default)]
        message: Option<String>,
    },
    /// The step was cut short and runs again: what it streamed so far is
    /// void (a lifecycle message, not a Letta message).
    Retry {},
    /// Something the loop did worth showing, e.g. a compaction (a
    /// lifecycle message).
    Status {},
    #[serde(other)]
    Other,
}

/// A tool call, whole or one streamed piece of it (the first piece names the
/// tool; later pieces append to `arguments`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ToolCallDelta {
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

impl StreamMessage {
    /// A lifecycle message of the loop rather than a Letta message.
    pub fn is_lifecycle(&self) -> bool {
        matches!(self, StreamMessage::Retry {} | StreamMessage::Status {})
    }

    /// The tool call pieces of an approval request.
    pub fn tool_call_deltas(&self) -> Vec<ToolCallDelta> {
        match self {
            StreamMessage::ApprovalRequestMessage { tool_calls, .. } if !tool_calls.is_empty() => {
                tool_calls.clone()
            }
            StreamMessage::ApprovalRequestMessage {
                tool_call: Some(call),
                ..
            } => vec![call.clone()],
            _ => Vec::new(),
        }
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ToolCallDelta>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(ToolCallDelta),
        Many(Vec<ToolCallDelta>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(call) => vec![call],
        OneOrMany::Many(calls) => calls,
        OneOrMany::Null(()) => Vec::new(),
    })
}

impl Chunk {
    /// Parses one `data:` payload.
    pub fn parse(data: &str) -> Result<Chunk, LettaError> {
        let raw: Map<String, Value> = serde_json::from_str(data).map_err(|err| {
            LettaError::Decode(format!("stream chunk is not a JSON object: {err}"))
        })?;
        // Parsing the text twice is cheaper than cloning the parsed tree.
        let message = serde_json::from_str::<StreamMessage>(data)
            .map_err(|err| LettaError::Decode(format!("stream chunk: {err}")))?;
        let seq_id = raw.get("seq_id").and_then(Value::as_u64);
        let run_id = raw.get("run_id").and_then(Value::as_str).map(str::to_owned);
        Ok(Chunk {
            message,
            seq_id,
            run_id,
            raw,
        })
    }
}

impl RunStream {
    /// The stream of a run's chunks after `after` (0: from the start).
    pub(crate) fn new(response: reqwest::Response, after: u64) -> RunStream {
        RunStream::of_bytes(response.bytes_stream(), after)
    }

    fn of_bytes<B, S>(bytes: S, after: u64) -> RunStream
    where
        B: AsRef<[u8]>,
        S: Stream<Item = Result<B, reqwest::Error>> + Send + 'static,
    {
        RunStream {
            events: Box::pin(bytes.eventsource()),
            order: InOrder::new(after),
            ending: None,
        }
    }

    /// The next item; `None` when the connection ended (with or without
    /// `[DONE]` — a stream that ends without it was cut off).
    ///
    /// Cancel-safe: every change of state follows the one read awaited.
    pub async fn next(&mut self) -> Option<Result<StreamItem, LettaError>> {
        loop {
            if let Some(chunk) = self.order.pop() {
                return Some(Ok(StreamItem::Chunk(chunk)));
            }
            if let Some(ending) = self.ending.take() {
                return Some(ending.map(|()| StreamItem::Done));
            }
            let read = match self.order.deadline() {
                None => self.read().await,
                Some(deadline) => match tokio::time::timeout_at(deadline, self.read()).await {
                    Ok(read) => read,
                    Err(_) => {
                        self.order.skip_gap(Instant::now());
                        continue;
                    }
                },
            };
            match read {
                Some(Ok(StreamItem::Chunk(chunk))) => self.order.push(chunk, Instant::now()),
                // The server's last word: what is held goes out before it.
                Some(Ok(StreamItem::Done)) => {
                    self.order.flush();
                    self.ending = Some(Ok(()));
                }
                Some(Err(failed @ LettaError::RunFailed(_))) => {
                    self.order.flush();
                    self.ending = Some(Err(failed));
                }
                // Cut off: chunks held come again on the resumed stream,
                // which starts after the last one handed on.
                other => return other,
            }
        }
    }

    /// The next item as the server sent it.
    async fn read(&mut self) -> Option<Result<StreamItem, LettaError>> {
        loop {
            let event = match self.events.next().await? {
                Ok(event) => event,
                Err(err) => return Some(Err(LettaError::Stream(err.to_string()))),
            };
            let data = event.data.trim();
            if event.event == "error" {
                return Some(Err(LettaError::RunFailed(stream_error_message(data))));
            }
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                return Some(Ok(StreamItem::Done));
            }
            return Some(Chunk::parse(data).map(StreamItem::Chunk));
        }
    }
}

/// The message of an `event: error` payload, in either shape.
fn stream_error_message(data: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return data.to_owned();
    };
    value
        .pointer("/error/message")
        .or_else(|| value.get("message"))
        .or_else(|| value.get("detail"))
        .or_else(|| value.get("error"))
        .map(|message| {
            message
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| message.to_string())
        })
        .unwrap_or_else(|| data.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_streamed_approval_requests_carry_one_object() {
        let chunk = Chunk::parse(
            r#"{"message_type":"approval_request_message","seq_id":3,"run_id":"run-1",
            "tool_call":{"name":null,"arguments":"{\"a\":","tool_call_id":"call_1"},
            "tool_calls":{"name":null,"arguments":"{\"a\":","tool_call_id":"call_1"}}"#,
        )
        .unwrap();
        assert_eq!(chunk.seq_id, Some(3));
        assert_eq!(chunk.run_id.as_deref(), Some("run-1"));
        let deltas = chunk.message.tool_call_deltas();
        assert_eq!(deltas.len(), 1);
        assert_eq!(deltas[0].arguments.as_deref(), Some("{\"a\":"));
    }

    #[test]
    fn chunks_without_seq_id_and_unknown_kinds() {
        let stop =
            Chunk::parse(r#"{"message_type":"stop_reason","stop_reason":"requires_approval"}"#)
                .unwrap();
        assert_eq!(stop.seq_id, None);
        assert_eq!(
            stop.message,
            StreamMessage::StopReason {
                stop_reason: "requires_approval".into()
            }
        );
        let other = Chunk::parse(r#"{"message_type":"brand_new_kind","x":1}"#).unwrap();
        assert_eq!(other.message, StreamMessage::Other);
        assert_eq!(other.raw["x"], 1);
        assert!(Chunk::parse("[1]").is_err());
    }

    /// A stream of these SSE events that then stays open, or ends.
    fn stream_of(events: &[&str], open: bool) -> RunStream {
        let bytes: Vec<Result<Vec<u8>, reqwest::Error>> = events
            .iter()
            .map(|event| Ok(format!("data: {event}\n\n").into_bytes()))
            .collect();
        let pending = futures_util::stream::pending().take(usize::from(open));
        RunStream::of_bytes(futures_util::stream::iter(bytes).chain(pending), 0)
    }

    fn word(seq: u64) -> String {
        format!(r#"{{"message_type":"assistant_message","seq_id":{seq}}}"#)
    }

    async fn seq_of(stream: &mut RunStream) -> Option<u64> {
        match stream.next().await {
            Some(Ok(StreamItem::Chunk(chunk))) => chunk.seq_id,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_is_waited_for_then_gone_past() {
        let (one, three) = (word(1), word(3));
        let mut stream = stream_of(&[&one, &three], true);
        assert_eq!(seq_of(&mut stream).await, Some(1));
        let waiting = tokio::time::Instant::now();
        assert_eq!(seq_of(&mut stream).await, Some(3));
        let waited = waiting.elapsed();
        let patience = crate::order::GAP_PATIENCE;
        assert!(waited >= patience && waited < patience * 2, "{waited:?}");
    }

    #[tokio::test]
    async fn chunks_held_go_out_before_done_and_not_after_a_cut() {
        let (one, two, four) = (word(1), word(2), word(4));
        let mut done = stream_of(&[&one, &four, &two, "[DONE]"], false);
        for seq in [1, 2, 4] {
            assert_eq!(seq_of(&mut done).await, Some(seq));
        }
        assert!(matches!(done.next().await, Some(Ok(StreamItem::Done))));
        let mut cut = stream_of(&[&one, &four], false);
        assert_eq!(seq_of(&mut cut).await, Some(1));
        assert!(cut.next().await.is_none(), "4 comes again after a resume");
    }

    #[test]
    fn error_events_in_both_shapes() {
        assert_eq!(
            stream_error_message(r#"{"error":{"message":"model failed","type":"x"}}"#),
            "model failed"
        );
        assert_eq!(
            stream_error_message(r#"{"message":"run expired"}"#),
            "run expired"
        );
        assert_eq!(stream_error_message("plain"), "plain");
    }
}
