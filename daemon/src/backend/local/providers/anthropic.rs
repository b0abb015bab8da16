//! Anthropic's Messages API, streamed: text, tool use, and extended
//! thinking (shown as reasoning and handed back with its signature, as the
//! API requires when tools are used).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::http::{Auth, Decoder, Endpoint, stream_error};
use super::{
    ChatMessage, ModelEvent, ModelInfo, ModelRequest, ModelStream, ProviderConfig, ProviderError,
};

/// Output tokens asked for unless the provider's config says otherwise.
const DEFAULT_MAX_TOKENS: u64 = 16_384;

#[derive(Clone)]
pub(super) struct Messages {
    endpoint: Endpoint,
}

impl Messages {
    pub(super) fn new(config: ProviderConfig) -> Messages {
        Messages {
            endpoint: Endpoint::new(config, Auth::Anthropic),
        }
    }

    pub(super) fn config(&self) -> &ProviderConfig {
        &self.endpoint.config
    }

    pub(super) async fn list_models(&self, timeout: Duration) -> Vec<ModelInfo> {
        self.endpoint.list_models("/v1/models", timeout).await
    }

    pub(super) async fn stream(
        &self,
        model: &str,
        request: &ModelRequest,
    ) -> Result<ModelStream, ProviderError> {
        let body = request_body(model, request, self.endpoint.config.thinking_budget);
        self.endpoint
            .stream("/v1/messages", body, MessagesDecoder::default())
            .await
    }
}

/// The request: consecutive messages of one role become one message of
/// content blocks (tool results are user content), as the API wants
/// roles to alternate.
fn request_body(model: &str, request: &ModelRequest, thinking_budget: Option<u64>) -> Vec<u8> {
    let mut messages: Vec<(String, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            ChatMessage::User(text) => ("user", vec![json!({ "type": "text", "text": text })]),
            ChatMessage::Tool {
                tool_call_id,
                content,
            } => (
                "user",
                vec![
                    json!({ "type": "tool_result", "tool_use_id": tool_call_id, "content": content }),
                ],
            ),
            ChatMessage::Assistant {
                content,
                tool_calls,
                reasoning,
            } => {
                let mut blocks = Vec::new();
                if let Some(reasoning) = reasoning
                    && let Some(signature) = &reasoning.signature
                {
                    blocks.push(json!({ "type": "thinking", "thinking": reasoning.text, "signature": signature }));
                }
                if !content.is_empty() {
                    blocks.push(json!({ "type": "text", "text": content }));
                }
                for call in tool_calls {
                    let input: Value = serde_json::from_str(&call.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    blocks.push(json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input }));
                }
                ("assistant", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, content)) if last == role => content.extend(blocks),
            _ => messages.push((role.to_owned(), blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    let max_tokens = DEFAULT_MAX_TOKENS.max(thinking_budget.unwrap_or(0) + 4096);
    let body = WireRequest {
        model,
        system: &request.system,
        messages,
        max_tokens,
        stream: true,
        thinking: thinking_budget.map(|budget_tokens| Thinking {
            kind: "enabled",
            budget_tokens,
        }),
        tools: request
            .tools
            .iter()
            .map(|tool| WireTool {
                name: &tool.name,
                description: &tool.description,
                input_schema: &tool.parameters,
            })
            .collect(),
    };
    // Strings, numbers and JSON only: serializing cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The request, written straight from the step's tools (their schemas are
/// JSON text already).
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    system: &'a str,
    messages: Vec<Value>,
    max_tokens: u64,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct Thinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u64,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a RawValue,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    delta: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
}

/// Turns Messages stream events into model events.
#[derive(Default)]
pub(super) struct MessagesDecoder {
    done: bool,
}

impl Decoder for MessagesDecoder {
    fn decode(
        &mut self,
        provider: &str,
        _event: &str,
        data: &str,
    ) -> Vec<Result<ModelEvent, ProviderError>> {
        let event: Event = match serde_json::from_str(data) {
            Ok(event) => event,
            Err(err) => {
                return vec![Err(stream_error(
                    provider,
                    data,
                    format!("unreadable event: {err}"),
                ))];
            }
        };
        let index = event.index.unwrap_or(0);
        let mut events = Vec::new();
        match event.kind.as_str() {
            "message_start" => {
                let input = event
                    .message
                    .as_ref()
                    .and_then(|message| message.pointer("/usage/input_tokens"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                events.push(Ok(ModelEvent::Usage {
                    prompt_tokens: input,
                    completion_tokens: 0,
                }));
            }
            "content_block_start" => {
                let block = event.content_block.unwrap_or(Value::Null);
                match block["type"].as_str() {
                    Some("tool_use") => events.push(Ok(ModelEvent::ToolCallStart {
                        index,
                        id: block["id"].as_str().unwrap_or_default().to_owned(),
                        name: block["name"].as_str().unwrap_or_default().to_owned(),
                    })),
                    Some("text") => push_text(&mut events, ModelEvent::Text, &block["text"]),
                    Some("thinking") => {
                        push_text(&mut events, ModelEvent::Reasoning, &block["thinking"])
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = event.delta.unwrap_or(Value::Null);
                match delta["type"].as_str() {
                    Some("text_delta") => push_text(&mut events, ModelEvent::Text, &delta["text"]),
                    Some("thinking_delta") => {
                        push_text(&mut events, ModelEvent::Reasoning, &delta["thinking"])
                    }
                    Some("signature_delta") => push_text(
                        &mut events,
                        ModelEvent::ReasoningSignature,
                        &delta["signature"],
                    ),
                    Some("input_json_delta") => {
                        if let Some(fragment) = delta["partial_json"].as_str()
                            && !fragment.is_empty()
                        {
                            events.push(Ok(ModelEvent::ToolCallArguments {
                                index,
                                fragment: fragment.to_owned(),
                            }));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                let output = event
                    .usage
                    .as_ref()
                    .and_then(|usage| usage["output_tokens"].as_u64())
                    .unwrap_or(0);
                events.push(Ok(ModelEvent::Usage {
                    prompt_tokens: 0,
                    completion_tokens: output,
                }));
            }
            "message_stop" => self.done = true,
            "error" => events.push(Err(stream_error(
                provider,
                data,
                "the provider reported an error".to_owned(),
            ))),
            _ => {}
        }
        events
    }

    fn finished(&self) -> bool {
        self.done
    }
}

fn push_text(
    events: &mut Vec<Result<ModelEvent, ProviderError>>,
    make: fn(String) -> ModelEvent,
    text: &Value,
) {
    if let Some(text) = text.as_str()
        && !text.is_empty()
    {
        events.push(Ok(make(text.to_owned())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::providers::{ChatToolCall, Reasoning, ToolSpec};

    #[test]
    fn roles_alternate_and_thinking_goes_back_signed() {
        let request = ModelRequest {
            model: "claude".into(),
            system: "sys".into(),
            messages: vec![
                ChatMessage::User("hi".into()),
                ChatMessage::Assistant {
                    content: String::new(),
                    tool_calls: vec![ChatToolCall {
                        id: "t1".into(),
                        name: "Read".into(),
                        arguments: "{\"file_path\":\"a\"}".into(),
                    }],
                    reasoning: Some(Reasoning {
                        text: "look".into(),
                        signature: Some("sig".into()),
                    }),
                },
                ChatMessage::Tool {
                    tool_call_id: "t1".into(),
                    content: "A".into(),
                },
                ChatMessage::User("next".into()),
            ],
            tools: vec![ToolSpec::new(
                "Read".into(),
                "reads".into(),
                &json!({ "type": "object" }),
            )]
            .into(),
        };
        let body: Value =
            serde_json::from_slice(&request_body("claude", &request, Some(2000))).unwrap();
        assert_eq!(body["model"], "claude");
        assert_eq!(
            body["tools"][0]["input_schema"],
            json!({ "type": "object" })
        );
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[1]["content"][0]["type"], "thinking");
        assert_eq!(messages[1]["content"][1]["input"]["file_path"], "a");
        assert_eq!(messages[2]["content"][0]["type"], "tool_result");
        assert_eq!(messages[2]["content"][1]["text"], "next");
        assert_eq!(body["thinking"]["budget_tokens"], 2000);
    }

    #[test]
    fn stream_events_decode() {
        let mut decoder = MessagesDecoder::default();
        let mut all = Vec::new();
        for data in [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":12}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"Bash","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}"#,
            r#"{"type":"message_stop"}"#,
        ] {
            all.extend(
                decoder
                    .decode("p", "", data)
                    .into_iter()
                    .map(Result::unwrap),
            );
        }
        assert!(decoder.finished());
        assert!(all.contains(&ModelEvent::Reasoning("hm".into())));
        assert!(all.contains(&ModelEvent::ReasoningSignature("s".into())));
        assert!(all.contains(&ModelEvent::ToolCallArguments {
            index: 1,
            fragment: "{\"a\":1}".into()
        }));
        let overloaded = decoder.decode(
            "p",
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert!(overloaded[0].as_ref().unwrap_err().is_transient());
    }
}
