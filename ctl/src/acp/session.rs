//! One ACP session: the runtime's events forwarded to the editor as
//! `session/update`s, prompts as inputs answered when their turn ends, and
//! the runtime's approvals asked with `session/request_permission` —
//! withdrawn from the editor when another frontend answers first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    ContentBlock, PromptResponse, SessionNotification, SessionUpdate, StopReason,
};
use agent_client_protocol::{Client, Error};
use letta_client::{RuntimeEvents, Update};
use letta_protocol::{
    AbortMessageParams, ChangeDeviceStateParams, ControlRequestBody, CreateMessage,
    DeviceStateChange, InputParams, InputPayload, MessageCreate, PermissionMode, RuntimeScope,
    methods,
};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::prompt::{prompt_images, prompt_text};
use super::updates::Translator;
use crate::target::Context;

/// Ended turns remembered for a prompt that asks after the end arrived.
const REMEMBERED_ENDS: usize = 64;
/// Inputs of this editor remembered; a runtime queues at most 1000.
const MAX_QUEUED_INPUTS: usize = 1000;

/// What the event log replayed to a loaded session holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Every event of the runtime: what is older comes from elsewhere
    /// (the conversation was started before the daemon ran it).
    Whole,
    /// Retention trimmed the oldest events, maybe in the middle of a turn.
    Trimmed,
}

/// How a turn ended.
#[derive(Debug, Clone)]
struct TurnEnd {
    stop_reason: String,
    error: Option<String>,
}

pub struct Session {
    pub id: String,
    pub(super) context: Context,
    pub(super) scope: RuntimeScope,
    pub(super) cx: ConnectionTo<Client>,
    state: Mutex<State>,
    /// The permission mode once the replay of a loaded session is over.
    replayed: watch::Sender<Option<String>>,
    /// Cancelled when the editor closes the session.
    closed: CancellationToken,
    /// The agent's context window in tokens, when its model says.
    context_window: Option<u64>,
    /// The history the editor asked for (`session/load`).
    history: Option<History>,
}

#[derive(Default)]
struct State {
    waiting: HashMap<String, oneshot::Sender<TurnEnd>>,
    ended: VecDeque<(String, TurnEnd)>,
    /// Approvals asked in the editor, withdrawn by cancelling.
    asked: HashMap<String, CancellationToken>,
    /// Inputs this editor sent, newest last (its prompts are not echoed
    /// back to it); the oldest, long started, are forgotten first.
    own_inputs: VecDeque<String>,
    /// The `SKILL.md` of each skill the editor offers as a command.
    skills: HashMap<String, PathBuf>,
}

impl Session {
    /// Starts forwarding `events` to the editor.
    pub fn start(
        context: Context,
        scope: RuntimeScope,
        agent: Option<&Value>,
        events: RuntimeEvents,
        history: Option<History>,
        cx: ConnectionTo<Client>,
    ) -> Arc<Session> {
        let session = Arc::new(Session {
            id: scope.conversation_id.clone(),
            context,
            scope,
            cx,
            state: Mutex::new(State::default()),
            replayed: watch::channel(None).0,
            closed: CancellationToken::new(),
            context_window: agent.and_then(|agent| agent["llm_config"]["context_window"].as_u64()),
            history,
        });
        tokio::spawn(forward(session.clone(), events));
        session
    }

    /// Waits until a loaded session's history has been sent; its mode.
    pub async fn replayed(&self) -> String {
        let mut replayed = self.replayed.subscribe();
        match replayed.wait_for(Option::is_some).await {
            Ok(mode) => mode.clone().unwrap_or_default(),
            Err(_) => "standard".to_owned(),
        }
    }

    /// `session/close`: stops following the runtime and withdraws what was
    /// asked; the conversation and its turns go on in the daemon.
    pub fn close(&self) {
        self.closed.cancel();
        for (_, withdraw) in crate::util_lock(&self.state).asked.drain() {
            withdraw.cancel();
        }
    }

    /// Tells the editor something as the agent's message.
    pub fn say(&self, text: &str) {
        self.send(json!({ "sessionUpdate": "agent_message_chunk", "content": { "type": "text", "text": text } }));
    }

    fn send(&self, update: Value) {
        match serde_json::from_value::<SessionUpdate>(update.clone()) {
            Ok(update) => {
                let notification = SessionNotification::new(self.id.clone(), update);
                if let Err(err) = self.cx.send_notification(notification) {
                    eprintln!("letta-ctl acp: cannot send an update: {err}");
                }
            }
            Err(err) => {
                eprintln!("letta-ctl acp: an update the protocol does not take ({err}): {update}")
            }
        }
    }

    /// Sends the prompt as the runtime's input and answers when its turn
    /// ends.
    pub async fn prompt(&self, prompt: Vec<ContentBlock>) -> Result<PromptResponse, Error> {
        let blocks: Vec<Value> = prompt
            .iter()
            .filter_map(|block| serde_json::to_value(block).ok())
            .collect();
        let mut text = prompt_text(&blocks);
        let images = prompt_images(&blocks).map_err(|err| Error::invalid_params().data(err))?;
        if text.trim().is_empty() && images.is_empty() {
            return Err(Error::invalid_params().data("the prompt is empty"));
        }
        if let Some(expanded) = self.expand_skill(&text).await? {
            text = expanded;
        }
        let content = if images.is_empty() {
            Value::from(text)
        } else {
            let text = (!text.trim().is_empty()).then(|| json!({ "type": "text", "text": text }));
            Value::from(text.into_iter().chain(images).collect::<Vec<_>>())
        };
        let client = self.context.client().await.map_err(internal)?;
        let client_message_id = format!("cm-acp-{:016x}", fastrand::u64(..));
        {
            let mut state = crate::util_lock(&self.state);
            if state.own_inputs.len() >= MAX_QUEUED_INPUTS {
                state.own_inputs.pop_front();
            }
            state.own_inputs.push_back(client_message_id.clone());
        }
        let accepted = client
            .call::<methods::Input>(&InputParams {
                runtime: self.scope.clone(),
                terminal_consumer_id: None,
                payload: InputPayload::CreateMessage(CreateMessage {
                    messages: vec![MessageCreate {
                        role: "user".to_owned(),
                        content,
                        client_message_id: Some(client_message_id),
                        extra: Default::default(),
                    }],
                    ..CreateMessage::default()
                }),
            })
            .await
            .map_err(internal)?;
        let turn_id = accepted
            .turn_id
            .ok_or_else(|| Error::internal_error().data("the daemon did not name the turn"))?;
        let end = {
            let (sender, receiver) = oneshot::channel();
            let mut state = crate::util_lock(&self.state);
            match state.ended.iter().position(|(id, _)| *id == turn_id) {
                Some(index) => Ok(state.ended.remove(index).map(|(_, end)| end)),
                None => {
                    state.waiting.insert(turn_id, sender);
                    Err(receiver)
                }
            }
        };
        let end = match end {
            Ok(Some(end)) => end,
            Ok(None) => return Err(Error::internal_error()),
            Err(receiver) => receiver.await.map_err(|_| {
                Error::internal_error().data("lost the daemon before the turn ended")
            })?,
        };
        let reason = match end.stop_reason.as_str() {
            "end_turn" => StopReason::EndTurn,
            "cancelled" => StopReason::Cancelled,
            "max_tokens" => StopReason::MaxTokens,
            "refusal" => StopReason::Refusal,
            "max_steps" | "max_turn_requests" => StopReason::MaxTurnRequests,
            other => {
                return Err(Error::internal_error().data(
                    end.error
                        .unwrap_or_else(|| format!("the turn ended with {other}")),
                ));
            }
        };
        Ok(PromptResponse::new(reason))
    }

    /// A prompt that starts with `/<skill>` (a command the editor
    /// offered), as the skill's instructions and then the rest of it.
    async fn expand_skill(&self, text: &str) -> Result<Option<String>, Error> {
        let Some(invocation) = text.trim_start().strip_prefix('/') else {
            return Ok(None);
        };
        let (command, request) = invocation
            .split_once(char::is_whitespace)
            .unwrap_or((invocation, ""));
        let Some(path) = crate::util_lock(&self.state).skills.get(command).cloned() else {
            return Ok(None);
        };
        let instructions = super::skills::instructions(&path).await.map_err(|err| {
            Error::invalid_params().data(format!("cannot read the skill {command}: {err}"))
        })?;
        Ok(Some(super::skills::prompt(
            command,
            &path,
            &instructions,
            request.trim(),
        )))
    }

    /// `session/cancel`: aborts the running turn.
    pub async fn cancel(&self) {
        let aborted = async {
            let client = self.context.client().await?;
            client
                .call::<methods::AbortMessage>(&AbortMessageParams {
                    runtime: self.scope.clone(),
                    run_id: None,
                })
                .await?;
            Ok::<(), crate::error::CtlError>(())
        };
        if let Err(err) = aborted.await {
            eprintln!("letta-ctl acp: cannot cancel the turn: {err}");
        }
    }

    /// `session/set_mode`: the runtime's permission mode.
    pub async fn set_mode(&self, mode: &str) -> Result<(), Error> {
        let mode: PermissionMode = serde_json::from_value(Value::from(mode))
            .map_err(|_| Error::invalid_params().data(format!("no mode {mode}")))?;
        let client = self.context.client().await.map_err(internal)?;
        client
            .call::<methods::ChangeDeviceState>(&ChangeDeviceStateParams {
                runtime: self.scope.clone(),
                payload: DeviceStateChange {
                    mode: Some(mode),
                    ..DeviceStateChange::default()
                },
            })
            .await
            .map_err(internal)?;
        Ok(())
    }

    fn turn_ended(&self, turn_id: &str, end: TurnEnd) {
        let mut state = crate::util_lock(&self.state);
        match state.waiting.remove(turn_id) {
            Some(waiter) => {
                let _ = waiter.send(end);
            }
            None => {
                state.ended.push_back((turn_id.to_owned(), end));
                if state.ended.len() > REMEMBERED_ENDS {
                    state.ended.pop_front();
                }
            }
        }
    }

    /// Asks the editor about each approval pending now that it was not
    /// asked about; withdraws those no longer pending.
    fn ask_pending(self: &Arc<Self>, pending: &[(String, ControlRequestBody)]) {
        let mut state = crate::util_lock(&self.state);
        state.asked.retain(|id, withdraw| {
            let still = pending.iter().any(|(pending, _)| pending == id);
            if !still {
                withdraw.cancel();
            }
            still
        });
        for (request_id, ask) in pending {
            if state.asked.contains_key(request_id) {
                continue;
            }
            let withdraw = CancellationToken::new();
            state.asked.insert(request_id.clone(), withdraw.clone());
            tokio::spawn(super::permissions::ask(
                self.clone(),
                request_id.clone(),
                ask.clone(),
                withdraw,
            ));
        }
    }
}

/// Forwards the runtime's events to the editor for as long as the daemon
/// can be reached.
async fn forward(session: Arc<Session>, mut events: RuntimeEvents) {
    let mut translator = Translator::new(session.context_window);
    let mut pending: Vec<(String, ControlRequestBody)> = Vec::new();
    let mut history_due = session.history;
    // The ids and otids of messages shown from storage, which the log may
    // repeat: a Letta server dates messages to the second, so the time
    // boundary alone cannot tell.
    let mut shown: HashSet<String> = HashSet::new();
    if events.synced_through().is_none() {
        session.replayed.send_replace(Some("standard".to_owned()));
    }
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            () = session.closed.cancelled() => return,
        };
        let frame = match next {
            Ok(Update::Event(frame)) => frame,
            Ok(Update::Reconnecting(_) | Update::Reconnected) => continue,
            Err(err) => {
                session.say(&format!("\n[lost letta-daemon: {err}]"));
                return;
            }
        };
        // The stored messages older than the log go first. A trimmed log
        // may start in the middle of a turn: that turn comes from storage
        // too, and the log takes over at the next turn's start.
        if let Some(history) = history_due {
            let starts_turn = frame["type"] == "update_queue"
                && frame["removed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|removal| removal["disposition"] == "dequeued");
            let seq = frame["event_seq"].as_u64();
            let replay_over = seq.is_some() && seq == events.synced_through();
            if history == History::Whole || starts_turn || replay_over {
                history_due = None;
                let boundary = frame["emitted_at"].as_str().unwrap_or_default();
                shown = show_history(&session, &mut translator, boundary).await;
            } else if frame["type"] == "update_queue" {
                // What a later turn's start will show.
                translator.updates(&frame, |_| true);
                continue;
            } else if frame["type"] != "update_device_status" {
                continue;
            }
        }
        let own = |id: &str| {
            shown.contains(id)
                || crate::util_lock(&session.state)
                    .own_inputs
                    .iter()
                    .any(|own| own == id)
        };
        let repeated = frame["type"] == "stream_delta"
            && frame["delta"]["id"]
                .as_str()
                .is_some_and(|id| shown.contains(id));
        if !repeated {
            for update in translator.updates(&frame, own) {
                session.send(update);
            }
        }
        let seq = frame["event_seq"].as_u64();
        let boundary = events.synced_through();
        let live = match (seq, boundary) {
            (Some(seq), Some(boundary)) => seq >= boundary,
            _ => true,
        };
        match frame["type"].as_str() {
            Some("turn_finished") => {
                if let Some(turn_id) = frame["turn_id"].as_str() {
                    session.turn_ended(
                        turn_id,
                        TurnEnd {
                            stop_reason: frame["stop_reason"]
                                .as_str()
                                .unwrap_or("end_turn")
                                .to_owned(),
                            error: frame["error"].as_str().map(str::to_owned),
                        },
                    );
                }
            }
            Some("update_device_status") => {
                if let Some(skills) = frame["device_status"]["current_available_skills"].as_array()
                {
                    crate::util_lock(&session.state).skills = skills
                        .iter()
                        .filter_map(|skill| {
                            let id = skill["id"].as_str()?.to_owned();
                            Some((id, PathBuf::from(skill["path"].as_str()?)))
                        })
                        .collect();
                }
                pending = frame["device_status"]["pending_control_requests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|pending| {
                        let id = pending["request_id"].as_str()?.to_owned();
                        Some((id, serde_json::from_value(pending["request"].clone()).ok()?))
                    })
                    .collect();
            }
            _ => {}
        }
        // What is pending once the replay is over is asked now; what a
        // replayed event showed pending may have been answered since.
        if live {
            session.ask_pending(&pending);
        }
        if seq.is_some() && seq == boundary && session.replayed.borrow().is_none() {
            let mode = translator.mode().unwrap_or("standard").to_owned();
            session.replayed.send_replace(Some(mode));
        }
    }
}

/// Sends the conversation's stored messages dated before `boundary` (the
/// event log's first event shown); their ids and otids.
async fn show_history(
    session: &Session,
    translator: &mut Translator,
    boundary: &str,
) -> HashSet<String> {
    let older = async {
        let client = session.context.client().await?;
        super::history::older_than(&client, &session.scope, boundary).await
    };
    let (messages, left_out) = match older.await {
        Ok(older) => older,
        Err(err) => {
            session.say(&format!(
                "[cannot show the conversation's older messages: {err}]\n"
            ));
            return HashSet::new();
        }
    };
    if left_out {
        session.say(&format!(
            "[the conversation's older messages are left out; the newest {} are shown]\n",
            super::history::MAX_OLDER
        ));
    }
    for message in &messages {
        for update in translator.stored(message) {
            session.send(update);
        }
    }
    messages
        .iter()
        .flat_map(|message| [&message["id"], &message["otid"]])
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect()
}

fn internal(err: impl std::fmt::Display) -> Error {
    Error::internal_error().data(err.to_string())
}
