//! OpenAI's Chat Completions, streamed: the wire format of OpenAI and of
//! every compatible server (Ollama, LM Studio, llama.cpp, OpenRouter, vLLM).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::http::{Auth, Decoder, Endpoint, stream_error};
use super::{
    ChatMessage, ModelEvent, ModelInfo, ModelRequest, ModelStream, ProviderConfig, ProviderError,
};

#[derive(Clone)]
pub(super) struct ChatCompletions {
    endpoint: Endpoint,
}

impl ChatCompletions {
    pub(super) fn new(config: ProviderConfig) -> ChatCompletions {
        ChatCompletions {
            endpoint: Endpoint::new(config, Auth::Bearer),
        }
    }

    pub(super) fn config(&self) -> &ProviderConfig {
        &self.endpoint.config
    }

    pub(super) async fn list_models(&self, timeout: Duration) -> Vec<ModelInfo> {
        self.endpoint.list_models("/models", timeout).await
    }

    pub(super) async fn stream(
        &self,
        model: &str,
        request: &ModelRequest,
    ) -> Result<ModelStream, ProviderError> {
        self.endpoint
            .stream(
                "/chat/completions",
                request_body(model, request),
                ChatDecoder::default(),
            )
            .await
    }
}

/// The request's JSON, written straight from the request: a step's
/// context and tools are not copied into a `Value` first.
fn request_body(model: &str, request: &ModelRequest) -> Vec<u8> {
    let system = std::iter::once(WireMessage::System {
        content: &request.system,
    });
    let messages = request.messages.iter().map(|message| match message {
        ChatMessage::User(content) => WireMessage::User { content },
        ChatMessage::Assistant {
            content,
            tool_calls,
            ..
        } => WireMessage::Assistant {
            content,
            tool_calls: tool_calls
                .iter()
                .map(|call| WireCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunction {
                        name: &call.name,
                        arguments: &call.arguments,
                    },
                })
                .collect(),
        },
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => WireMessage::Tool {
            tool_call_id,
            content,
        },
    });
    let body = WireRequest {
        model,
        messages: system.chain(messages).collect(),
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        tools: request
            .tools
            .iter()
            .map(|tool| WireTool {
                kind: "function",
                function: WireToolFunction {
                    name: &tool.name,
                    description: &tool.description,
                    parameters: &tool.parameters,
                },
            })
            .collect(),
    };
    // Strings, numbers and raw JSON only: serializing cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        content: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireToolFunction<'a>,
}

#[derive(Serialize)]
struct WireToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a RawValue,
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// DeepSeek, vLLM, LM Studio and llama.cpp name it this way,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter and Ollama this way.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Turns Chat Completions chunks into model events; remembers which tool
/// calls began.
#[derive(Default)]
pub(super) struct ChatDecoder {
    started: Vec<usize>,
    done: bool,
}

impl Decoder for ChatDecoder {
    fn decode(
        &mut self,
        provider: &str,
        _event: &str,
        data: &str,
    ) -> Vec<Result<ModelEvent, ProviderError>> {
        let data = data.trim();
        if data.is_empty() || self.done {
            return Vec::new();
        }
        if data == "[DONE]" {
            self.done = true;
            return Vec::new();
        }
        let chunk: StreamChunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            // Some servers report failures inside the stream.
            Err(err) => {
                return vec![Err(stream_error(
                    provider,
                    data,
                    format!("unreadable chunk: {err}"),
                ))];
            }
        };
        let mut events = Vec::new();
        for choice in chunk.choices {
            let delta = choice.delta;
            if let Some(reasoning) = delta.reasoning_content.or(delta.reasoning)
                && !reasoning.is_empty()
            {
                events.push(Ok(ModelEvent::Reasoning(reasoning)));
            }
            if let Some(text) = delta.content
                && !text.is_empty()
            {
                events.push(Ok(ModelEvent::Text(text)));
            }
            for (position, call) in delta.tool_calls.into_iter().enumerate() {
                let index = call.index.unwrap_or(position);
                let function = call.function.unwrap_or(FunctionDelta {
                    name: None,
                    arguments: None,
                });
                if !self.started.contains(&index) {
                    self.started.push(index);
                    events.push(Ok(ModelEvent::ToolCallStart {
                        index,
                        id: call
                            .id
                            .unwrap_or_else(|| format!("call_{:024x}", fastrand::u128(..) >> 32)),
                        name: function.name.unwrap_or_default(),
                    }));
                }
                if let Some(fragment) = function.arguments
                    && !fragment.is_empty()
                {
                    events.push(Ok(ModelEvent::ToolCallArguments { index, fragment }));
                }
            }
        }
        if let Some(usage) = chunk.usage {
            events.push(Ok(ModelEvent::Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            }));
        }
        events
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::providers::{ChatToolCall, ToolSpec};
    use serde_json::{Value, json};

    #[test]
    fn a_request_is_written_in_the_chat_completions_shape() {
        let request = ModelRequest {
            model: "lmstudio/m".into(),
            system: "be brief".into(),
            messages: vec![
                ChatMessage::User("hi".into()),
                ChatMessage::Assistant {
                    content: String::new(),
                    tool_calls: vec![ChatToolCall {
                        id: "t1".into(),
                        name: "Read".into(),
                        arguments: "{\"file_path\":\"a\"}".into(),
                    }],
                    reasoning: None,
                },
                ChatMessage::Tool {
                    tool_call_id: "t1".into(),
                    content: "A".into(),
                },
                ChatMessage::Assistant {
                    content: "done".into(),
                    tool_calls: Vec::new(),
                    reasoning: None,
                },
            ],
            tools: vec![
                ToolSpec::new("Read".into(), "reads".into(), &json!({ "type": "object" })),
                ToolSpec::new("Ping".into(), String::new(), &Value::Null),
            ]
            .into(),
        };
        let body: Value = serde_json::from_slice(&request_body("m", &request)).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [
                    { "role": "system", "content": "be brief" },
                    { "role": "user", "content": "hi" },
                    { "role": "assistant", "content": "", "tool_calls": [
                        { "id": "t1", "type": "function", "function": { "name": "Read", "arguments": "{\"file_path\":\"a\"}" } },
                    ] },
                    { "role": "tool", "tool_call_id": "t1", "content": "A" },
                    { "role": "assistant", "content": "done" },
                ],
                "stream": true,
                "stream_options": { "include_usage": true },
                "tools": [
                    { "type": "function", "function": { "name": "Read", "description": "reads", "parameters": { "type": "object" } } },
                    { "type": "function", "function": { "name": "Ping", "description": "", "parameters": { "type": "object", "properties": {} } } },
                ],
            })
        );
        let without_tools = ModelRequest {
            tools: Vec::new().into(),
            ..request
        };
        let body: Value = serde_json::from_slice(&request_body("m", &without_tools)).unwrap();
        assert!(body.get("tools").is_none());
    }

    #[test]
    fn text_reasoning_and_tool_calls_decode() {
        let mut decoder = ChatDecoder::default();
        let events = decoder.decode(
            "p",
            "",
            r#"{"choices":[{"delta":{"reasoning_content":"hm","content":"Hi"}}]}"#,
        );
        assert_eq!(
            events.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            vec![
                ModelEvent::Reasoning("hm".into()),
                ModelEvent::Text("Hi".into())
            ]
        );
        let events = decoder.decode(
            "p",
            "",
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"Bash","arguments":"{\"a\""}}]}}]}"#,
        );
        assert_eq!(events.len(), 2);
        let events =
            decoder.decode("p", "", r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#);
        assert_eq!(
            events[0].as_ref().unwrap(),
            &ModelEvent::ToolCallArguments {
                index: 0,
                fragment: ":1}".into()
            }
        );
        assert!(decoder.decode("p", "", "[DONE]").is_empty());
        assert!(decoder.finished());
        assert!(
            ChatDecoder::default()
                .decode("p", "", "{oops")
                .pop()
                .unwrap()
                .is_err()
        );
    }
}
