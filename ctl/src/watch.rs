//! Following a runtime's events until a goal is reached: the shared core of
//! `run` and `attach`. Shows them (or prints them as JSON lines), answers
//! or reports approvals, remembers how far this user has seen, and adds up
//! what a `run` result reports.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use letta_client::{ClientError, RuntimeEvents, Update};
use letta_protocol::errors::ErrorCode;
use letta_protocol::{
    ApprovalDecision, AskUserQuestionRequest, CanUseTool, ControlRequestBody, DeviceStatus,
    LoopStatus, PendingControlRequest, methods,
};
use serde_json::{Value, json};

use crate::approval::{self, Answer};
use crate::cursors::Cursor;
use crate::error::CtlError;
use crate::render::{Renderer, content_text};

/// How events are shown.
pub enum Output {
    Human(Renderer),
    /// Every event as one JSON line on stdout.
    JsonLines,
    /// Nothing until the end.
    Quiet,
}

/// What to do about approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approvals {
    /// Ask on stdin.
    Ask,
    /// Deny those of our turn, saying how to allow them (non-interactive run).
    Deny,
    /// Show them and how to answer them from another command.
    Report,
}

/// When to stop following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// The turn with this id finished.
    TurnFinished(String),
    /// The runtime has nothing left to do.
    Idle,
    /// Never (until interrupted or the daemon is gone for good).
    Forever,
}

/// What a finished watch saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stop_reason: Option<String>,
    pub error: Option<String>,
    pub usage: Option<Value>,
    /// Text of the last assistant message.
    pub result: String,
    pub run_ids: BTreeSet<String>,
    pub api_time: Duration,
    /// Tool calls denied because nobody could approve them.
    pub denials: Vec<Value>,
}

pub struct Watch {
    pub events: RuntimeEvents,
    pub cursor: Cursor,
    pub output: Output,
    pub approvals: Approvals,
    pub goal: Goal,
    /// Whether our turn runs (false while it waits behind another).
    pub ours_running: bool,
    /// Our input's client_message_id, to see it leave the queue.
    pub client_message_id: Option<String>,
}

/// Progress of a watch.
#[derive(Default)]
struct Seen {
    outcome: Outcome,
    pending: BTreeMap<String, ControlRequestBody>,
    handled: HashSet<String>,
    last_message: Option<(String, String)>,
    loop_status: Option<(LoopStatus, Instant)>,
    processing: bool,
    queued: usize,
}

impl Seen {
    fn take_delta(&mut self, delta: &Value) {
        if let Some(run_id) = delta["run_id"].as_str() {
            self.outcome.run_ids.insert(run_id.to_owned());
        }
        if delta["message_type"] == "assistant_message" {
            let id = delta["id"].as_str().unwrap_or_default();
            let text = content_text(&delta["content"]);
            match &mut self.last_message {
                Some((open, so_far)) if open == id => so_far.push_str(&text),
                last => *last = Some((id.to_owned(), text)),
            }
        }
    }
}

impl Watch {
    pub async fn run(mut self) -> Result<Outcome, CtlError> {
        let mut seen = Seen::default();
        loop {
            let update = self.events.next().await.map_err(gone)?;
            let frame = match update {
                Update::Event(frame) => frame,
                Update::Reconnecting(why) => {
                    self.note(&format!("lost the daemon ({why}); reconnecting…"));
                    continue;
                }
                Update::Reconnected => {
                    self.note("reconnected; replaying what was missed");
                    continue;
                }
            };
            let seq = frame["event_seq"].as_u64();
            // Shown (and flushed) before it counts as seen: the cursor may be
            // saved at once, and a terminal killed between the two must not
            // have skipped the event's text for the next attach.
            self.show(&frame);
            if let Some(seq) = seq {
                self.cursor.saw(seq);
            }
            // Events up to the sync's last snapshot are replay; from that
            // snapshot on, the state they describe is current.
            let live = match (seq, self.events.synced_through()) {
                (Some(seq), Some(boundary)) => seq >= boundary,
                _ => true,
            };
            if self.take(&frame, live, &mut seen) {
                break;
            }
            if live {
                self.answer_pending(&mut seen).await?;
                let at_boundary = seq.is_some() && seq == self.events.synced_through();
                if self.goal == Goal::Idle && at_boundary && !seen.processing && seen.queued == 0 {
                    break;
                }
            }
        }
        self.cursor.save();
        if let Output::Human(renderer) = &mut self.output {
            renderer.finish();
        }
        if let Some((status, since)) = seen.loop_status
            && is_api(status)
        {
            seen.outcome.api_time += since.elapsed();
        }
        Ok(seen.outcome)
    }

    fn show(&mut self, frame: &Value) {
        match &mut self.output {
            Output::Human(renderer) => renderer.event(frame),
            Output::JsonLines => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{frame}");
                let _ = stdout.flush();
            }
            Output::Quiet => {}
        }
    }

    fn note(&mut self, text: &str) {
        match &mut self.output {
            Output::Human(renderer) => {
                let text = renderer.style.dim(text);
                renderer.info(&text);
            }
            Output::JsonLines | Output::Quiet => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "letta-ctl: {text}");
            }
        }
    }

    /// Learns from one event; true when the goal is reached.
    fn take(&mut self, frame: &Value, live: bool, seen: &mut Seen) -> bool {
        match frame["type"].as_str() {
            Some("stream_delta") => seen.take_delta(&frame["delta"]),
            Some("control_request") => {
                if let (Some(id), Ok(request)) = (
                    frame["request_id"].as_str(),
                    serde_json::from_value::<ControlRequestBody>(frame["request"].clone()),
                ) {
                    seen.pending.insert(id.to_owned(), request);
                }
            }
            Some("update_device_status") => {
                if let Ok(status) =
                    serde_json::from_value::<DeviceStatus>(frame["device_status"].clone())
                {
                    seen.processing = status.is_processing;
                    seen.pending = pending_map(status.pending_control_requests);
                }
            }
            Some("update_loop_status") => {
                if let Ok(status) = serde_json::from_value(frame["loop_status"]["status"].clone()) {
                    let now = Instant::now();
                    if let Some((previous, since)) = seen.loop_status
                        && is_api(previous)
                    {
                        seen.outcome.api_time += now - since;
                    }
                    seen.loop_status = Some((status, now));
                }
            }
            Some("update_queue") => {
                seen.queued = frame["queue"].as_array().map_or(0, Vec::len);
                let started = frame["removed"].as_array().is_some_and(|removed| {
                    removed.iter().any(|removal| {
                        removal["disposition"] == "dequeued"
                            && self
                                .client_message_id
                                .as_deref()
                                .is_some_and(|ours| removal["client_message_id"] == ours)
                    })
                });
                self.ours_running |= started;
            }
            Some("turn_finished") => {
                let reason = frame["stop_reason"].as_str().map(str::to_owned);
                let ours = match &self.goal {
                    Goal::TurnFinished(turn_id) => frame["turn_id"] == turn_id.as_str(),
                    Goal::Idle | Goal::Forever => true,
                };
                if ours {
                    seen.outcome.stop_reason = reason;
                    seen.outcome.error = frame["error"].as_str().map(str::to_owned);
                    seen.outcome.usage =
                        frame.get("usage").cloned().filter(|usage| !usage.is_null());
                    seen.outcome.result = seen
                        .last_message
                        .take()
                        .map(|(_, text)| text)
                        .unwrap_or_default();
                }
                return match &self.goal {
                    Goal::TurnFinished(_) => ours,
                    Goal::Idle => live && seen.queued == 0,
                    Goal::Forever => false,
                };
            }
            _ => {}
        }
        false
    }

    /// Deals once with each approval that is pending now.
    async fn answer_pending(&mut self, seen: &mut Seen) -> Result<(), CtlError> {
        let waiting: Vec<(String, ControlRequestBody)> = seen
            .pending
            .iter()
            .filter(|(id, _)| !seen.handled.contains(*id))
            .map(|(id, request)| (id.clone(), request.clone()))
            .collect();
        for (request_id, request) in waiting {
            let ask = match request {
                ControlRequestBody::CanUseTool(ask) => ask,
                ControlRequestBody::AskUserQuestion(questions) => {
                    if let Some(decision) = self.answer_questions(&request_id, &questions).await? {
                        self.send_answer(&request_id, decision).await?;
                    }
                    seen.handled.insert(request_id);
                    continue;
                }
            };
            let decision = match self.approvals {
                Approvals::Report => {
                    self.report(&request_id, &ask);
                    None
                }
                Approvals::Ask => {
                    if let Output::Human(renderer) = &mut self.output {
                        renderer.approval(&request_id, &ask);
                    }
                    Some(match approval::ask(&ask).await? {
                        Answer::Decision(decision) => decision,
                        Answer::NoAnswer => {
                            self.approvals = Approvals::Report;
                            self.report(&request_id, &ask);
                            seen.handled.insert(request_id);
                            continue;
                        }
                    })
                }
                Approvals::Deny if self.ours_running => {
                    let message = format!(
                        "{} needs approval and this run is not interactive; allow it with \
                         --allowedTools '{}' or --permission-mode, or answer it with letta-ctl attach",
                        ask.tool_name, ask.tool_name
                    );
                    self.note(&format!("denied {}: {message}", ask.tool_name));
                    seen.outcome.denials.push(json!({
                        "tool_name": ask.tool_name,
                        "tool_call_id": ask.tool_call_id,
                        "tool_input": ask.input,
                    }));
                    Some(ApprovalDecision::Deny { message })
                }
                Approvals::Deny => continue,
            };
            seen.handled.insert(request_id.clone());
            if let Some(decision) = decision {
                self.send_answer(&request_id, decision).await?;
            }
        }
        Ok(())
    }

    /// What to answer the agent's questions with, by how this command
    /// deals with requests; `None` leaves them to someone else.
    async fn answer_questions(
        &mut self,
        request_id: &str,
        questions: &AskUserQuestionRequest,
    ) -> Result<Option<ApprovalDecision>, CtlError> {
        if let Output::Human(renderer) = &mut self.output {
            renderer.questions(request_id, questions);
        }
        match self.approvals {
            Approvals::Ask => match approval::ask_questions(questions).await? {
                Answer::Decision(decision) => Ok(Some(decision)),
                Answer::NoAnswer => {
                    self.approvals = Approvals::Report;
                    self.note(&format!("{request_id}: answer it with letta-ctl attach"));
                    Ok(None)
                }
            },
            Approvals::Deny if self.ours_running => {
                let message = "Nobody can answer: this run is not interactive. Go on without \
                     an answer, or ask in your reply."
                    .to_owned();
                self.note(&format!("declined the agent's question: {message}"));
                Ok(Some(ApprovalDecision::Deny { message }))
            }
            Approvals::Report => {
                self.note(&format!("{request_id}: answer it with letta-ctl attach"));
                Ok(None)
            }
            Approvals::Deny => Ok(None),
        }
    }

    fn report(&mut self, request_id: &str, ask: &CanUseTool) {
        if let Output::Human(renderer) = &mut self.output {
            renderer.approval(request_id, ask);
        }
        self.note(&format!(
            "answer with: letta-ctl approve {request_id}  |  letta-ctl deny {request_id} --message WHY"
        ));
    }

    async fn send_answer(
        &mut self,
        request_id: &str,
        decision: ApprovalDecision,
    ) -> Result<(), CtlError> {
        let params = approval::answer(self.events.scope().clone(), request_id, decision);
        match self.events.call::<methods::Input>(&params).await {
            Ok(_) => Ok(()),
            Err(ClientError::Rpc(error)) if error.code == ErrorCode::NotPending.code() => {
                self.note(&format!("{request_id} was answered elsewhere"));
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }
}

fn pending_map(requests: Vec<PendingControlRequest>) -> BTreeMap<String, ControlRequestBody> {
    requests
        .into_iter()
        .map(|pending| (pending.request_id, pending.request))
        .collect()
}

fn is_api(status: LoopStatus) -> bool {
    matches!(
        status,
        LoopStatus::SendingApiRequest
            | LoopStatus::WaitingForApiResponse
            | LoopStatus::RetryingApiRequest
            | LoopStatus::ProcessingApiResponse
    )
}

fn gone(err: ClientError) -> CtlError {
    CtlError::Unreachable(format!(
        "gave up reconnecting to the daemon: {err}\nthe turn goes on in the daemon; \
         come back with: letta-ctl attach"
    ))
}
