//! One model step: the request streamed, its events turned into chunks as
//! they come, and tried again on transient failures.

use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use serde_json::json;

use super::{Driver, Halt, MAX_MODEL_ATTEMPTS};
use crate::backend::local::new_id;
use crate::backend::local::providers::{ModelEvent, ModelRequest, ProviderError, ToolSpec};
use crate::backend::local::shapes::{StoredCall, call_fields};

/// A model silent this long is treated as a cut stream.
const MODEL_STALL: Duration = Duration::from_secs(300);
/// Most chunks handed to readers at once.
const MAX_BATCH: usize = 128;

/// What one model step answered.
pub(super) struct Answer {
    pub(super) message_id: String,
    pub(super) text: String,
    pub(super) reasoning: String,
    pub(super) signature: Option<String>,
    pub(super) calls: Vec<StoredCall>,
}

impl Driver {
    /// One model step, tried again on transient failures; the inner error
    /// is the provider failure that did not go away.
    pub(super) async fn model_step(
        &mut self,
        request: &ModelRequest,
        client_tools: &[ToolSpec],
    ) -> Result<Result<Answer, ProviderError>, Halt> {
        let mut attempt = 0;
        loop {
            let err = match self.stream_answer(request, client_tools).await? {
                Ok(answer) => return Ok(Ok(answer)),
                Err(err) => err,
            };
            attempt += 1;
            if !err.is_transient() || attempt >= MAX_MODEL_ATTEMPTS {
                return Ok(Err(err));
            }
            let delay = err
                .retry_after()
                .unwrap_or_else(|| letta_api::backoff(attempt));
            tracing::info!(run = %self.run.id, error = %err, attempt, ?delay, "the model failed; trying again");
            self.retry_notice(&err.to_string(), attempt, delay);
            self.flush().await?;
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cancel.cancelled() => return Err(Halt::Cancelled),
            }
        }
    }

    /// Streams one answer, committing its chunks as they come. The outer
    /// error stops the run; the inner one is the provider's.
    pub(super) async fn stream_answer(
        &mut self,
        request: &ModelRequest,
        client_tools: &[ToolSpec],
    ) -> Result<Result<Answer, ProviderError>, Halt> {
        let providers = self.backend.inner.providers.clone();
        let opened = tokio::select! {
            opened = providers.stream(request) => opened,
            () = self.cancel.cancelled() => return Err(Halt::Cancelled),
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(err) => return Ok(Err(err)),
        };
        let mut answer = Answer {
            message_id: new_id("message"),
            text: String::new(),
            reasoning: String::new(),
            signature: None,
            calls: Vec::new(),
        };
        let mut indexes: Vec<usize> = Vec::new();
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(MODEL_STALL, stream.next()) => next,
                () = self.cancel.cancelled() => return Err(Halt::Cancelled),
            };
            let mut event = match next {
                Err(_) => {
                    return Ok(Err(ProviderError::Stream {
                        provider: request.model.clone(),
                        message: format!("no answer for {MODEL_STALL:?}"),
                    }));
                }
                Ok(next) => next,
            };
            // Events that arrived together are committed together.
            loop {
                match event {
                    None => {
                        self.flush().await?;
                        return Ok(Ok(answer));
                    }
                    Some(Err(err)) => {
                        self.flush().await?;
                        return Ok(Err(err));
                    }
                    Some(Ok(event)) => self.take(event, &mut answer, &mut indexes, client_tools),
                }
                if self.pending.len() >= MAX_BATCH {
                    break;
                }
                match stream.next().now_or_never() {
                    Some(next) => event = next,
                    None => break,
                }
            }
            self.flush().await?;
        }
    }

    /// One model event into the answer and a chunk.
    pub(super) fn take(
        &mut self,
        event: ModelEvent,
        answer: &mut Answer,
        indexes: &mut Vec<usize>,
        client_tools: &[ToolSpec],
    ) {
        let id = answer.message_id.clone();
        match event {
            ModelEvent::Text(text) => {
                self.chunk(
                    json!({ "message_type": "assistant_message", "id": id, "content": text }),
                );
                answer.text.push_str(&text);
            }
            ModelEvent::Reasoning(text) => {
                self.chunk(json!({ "message_type": "reasoning_message", "id": id, "reasoning": text, "source": "reasoner_model" }));
                answer.reasoning.push_str(&text);
            }
            ModelEvent::ReasoningSignature(signature) => {
                answer
                    .signature
                    .get_or_insert_with(String::new)
                    .push_str(&signature);
            }
            ModelEvent::ToolCallStart {
                index,
                id: call_id,
                name,
            } => {
                let client = client_tools.iter().any(|tool| tool.name == name);
                let piece = call_fields(&call_id, Some(&name), None);
                self.chunk(json!({
                    "message_type": call_message_type(client),
                    "id": id, "tool_call": piece, "tool_calls": piece,
                }));
                indexes.push(index);
                answer.calls.push(StoredCall {
                    id: call_id,
                    name,
                    arguments: String::new(),
                    client,
                });
            }
            ModelEvent::ToolCallArguments { index, fragment } => {
                let Some(position) = indexes.iter().position(|known| *known == index) else {
                    return;
                };
                let call = &mut answer.calls[position];
                call.arguments.push_str(&fragment);
                let piece = call_fields(&call.id, None, Some(&fragment));
                let kind = call_message_type(call.client);
                self.chunk(json!({ "message_type": kind, "id": id, "tool_call": piece, "tool_calls": piece }));
            }
            ModelEvent::Usage {
                prompt_tokens,
                completion_tokens,
            } => {
                self.prompt_tokens += prompt_tokens;
                self.completion_tokens += completion_tokens;
            }
        }
    }
}

fn call_message_type(client: bool) -> &'static str {
    if client {
        "approval_request_message"
    } else {
        "tool_call_message"
    }
}
