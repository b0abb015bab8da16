//! Inputs and the queue: a message starts a turn or waits behind the
//! running one; an abort cancels the turn and parks the queue until the
//! next message or `resume_queue`.

use letta_protocol::{
    AbortMessageResult, CreateMessage, InputAccepted, InputDisposition, QueueRemoval,
    QueueRemovalDisposition, ResumeQueueResult, events,
};

use super::event_log::Draft;
use super::state::QueuedInput;
use super::{MAX_QUEUED_INPUTS, Runtime, RuntimeError, approvals, context, turn};
use crate::store::{Disposition, NewInput, Recorded};
use crate::util::lock;

/// Longest `terminal_consumer_id`, as Letta Code bounds it.
const MAX_CONSUMER_ID_CHARS: usize = 256;

/// Checks a terminal consumer's id, named `field` in the command.
pub fn check_consumer_id(id: &str, field: &str) -> Result<(), RuntimeError> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_CONSUMER_ID_CHARS {
        return Err(RuntimeError::Invalid(format!(
            "{field} must have 1 to {MAX_CONSUMER_ID_CHARS} characters"
        )));
    }
    Ok(())
}

impl Runtime {
    /// Accepts a user turn: starts it, or queues it behind the running one.
    /// A `client_message_id` seen before returns the first answer and starts
    /// nothing.
    pub async fn accept_input(
        &self,
        message: CreateMessage,
        terminal_consumer_id: Option<String>,
    ) -> Result<InputAccepted, RuntimeError> {
        if let Some(id) = &terminal_consumer_id {
            check_consumer_id(id, "terminal_consumer_id")?;
        }
        if message.messages.is_empty() {
            return Err(RuntimeError::Invalid(
                "create_message needs at least one message".into(),
            ));
        }
        if let Some(rules) = &message.permission_rules {
            approvals::check_rules(rules)?;
        }
        if !lock(&self.state).takes_images && message.messages.iter().any(has_image) {
            return Err(RuntimeError::Invalid(
                "this agent lives on the local backend, which passes text only to its model: \
                 send the message without images"
                    .into(),
            ));
        }
        self.store.check_room().await?;
        let client_message_id = message
            .messages
            .iter()
            .find_map(|message| message.client_message_id.clone())
            .unwrap_or_else(|| format!("cm-{:016x}", fastrand::u64(..)));
        let mut message = message;
        let context = self.session_context().await;
        if let Some(context) = &context {
            context::prepend(&mut message.messages, context.reminder.clone());
        }
        let payload = serde_json::to_string(&message)
            .map_err(|err| RuntimeError::Invalid(err.to_string()))?;
        let (busy, queued) = {
            let state = lock(&self.state);
            (
                state.running.is_some() || !state.queue.is_empty(),
                state.queue.len(),
            )
        };
        let disposition = if busy {
            InputDisposition::Queued
        } else {
            InputDisposition::Started
        };
        let turn_id = format!("turn-{:016x}", fastrand::u64(..));
        let recorded = self
            .store
            .record_input(
                self.id,
                NewInput {
                    client_message_id: &client_message_id,
                    turn_id: &turn_id,
                    disposition: stored_disposition(disposition),
                    payload: &payload,
                    room: queued < MAX_QUEUED_INPUTS,
                    described_cwd: context.as_ref().and_then(|context| context.cwd.as_deref()),
                    described_skills: context.as_ref().map(|context| context.skills.as_str()),
                    terminal_consumer_id: terminal_consumer_id.as_deref(),
                },
            )
            .await?;
        let (row, fresh) = match recorded {
            Recorded::Accepted(row) => {
                if let Some(context) = context {
                    let mut state = lock(&self.state);
                    state.context_skills = Some(context.skills);
                    if context.cwd.is_some() {
                        state.context_cwd = context.cwd;
                    }
                }
                (row, true)
            }
            Recorded::Repeated(row) => (row, false),
            Recorded::Refused => {
                return Err(RuntimeError::Overloaded(format!(
                    "this runtime already holds {MAX_QUEUED_INPUTS} queued inputs, the most it \
                         takes; wait for the queue to drain (update_queue) and send again"
                )));
            }
        };
        let disposition = match row.disposition {
            Disposition::Queued => InputDisposition::Queued,
            Disposition::Started => InputDisposition::Started,
        };
        let turn_id = row.turn_id.clone();
        if fresh {
            let content = turn::content_of(&row.payload);
            lock(&self.state).queue.push(QueuedInput { row, content });
            crate::faults::stall_point("input-queued").await;
            // A new message also releases a queue parked by an abort.
            self.set_queue_paused(false).await?;
        }
        Ok(InputAccepted {
            runtime: self.scope.clone(),
            accepted: true,
            disposition: Some(disposition),
            turn_id: Some(turn_id),
            error: None,
        })
    }

    /// Cancels the running turn (if any) and parks the queue.
    pub async fn abort(&self) -> Result<AbortMessageResult, RuntimeError> {
        let running = lock(&self.state).running.clone();
        if let Some(turn) = &running {
            turn.cancel.cancel();
        }
        self.set_queue_paused(true).await?;
        Ok(AbortMessageResult {
            runtime: self.scope.clone(),
            aborted: running.is_some(),
            success: true,
            error: None,
        })
    }

    /// Takes a waiting input out of the queue: it will not run, and its
    /// turn finishes `cancelled` (in the same transaction that marks the
    /// input so). An input that already started is not waiting.
    pub async fn remove_queue_item(&self, item_id: &str) -> Result<(), RuntimeError> {
        let (position, input) = {
            let mut state = lock(&self.state);
            let position = state
                .queue
                .iter()
                .position(|input| {
                    input.row.client_message_id == item_id
                        || format!("input-{}", input.row.id) == item_id
                })
                .ok_or_else(|| {
                    RuntimeError::NotPending(format!(
                        "no input {item_id} waits in the queue (it may have started or finished)"
                    ))
                })?;
            (position, state.queue.remove(position))
        };
        let removed = vec![QueueRemoval {
            client_message_id: input.row.client_message_id.clone(),
            disposition: QueueRemovalDisposition::Cancelled,
        }];
        let turn_id = input.row.turn_id.clone();
        let finished =
            self.log
                .draft::<events::TurnFinished>(|envelope| letta_protocol::TurnFinishedEvent {
                    envelope,
                    turn_id,
                    stop_reason: "cancelled".to_owned(),
                    terminal_consumer_ids: input
                        .row
                        .terminal_consumer_id
                        .clone()
                        .map(|id| vec![id]),
                    run_id: None,
                    error: Some("removed from the queue before it started".to_owned()),
                    usage: None,
                });
        let end = crate::store::InputStatusUpdate {
            input_id: input.row.id,
            status: crate::store::InputStatus::Cancelled,
        };
        if let Err(err) = self
            .log
            .emit_with_change(
                vec![self.queue_draft(removed), finished],
                None,
                crate::store::StateChange::Input(end),
            )
            .await
        {
            // Still stored as waiting: it stays in the queue.
            let mut state = lock(&self.state);
            let position = position.min(state.queue.len());
            state.queue.insert(position, input);
            return Err(err.into());
        }
        Ok(())
    }

    /// Releases a queue parked by an abort.
    pub async fn resume_queue(&self) -> Result<ResumeQueueResult, RuntimeError> {
        let was_paused = lock(&self.state).paused;
        let waiting = self.set_queue_paused(false).await?;
        let resumed = if was_paused { waiting } else { 0 };
        Ok(ResumeQueueResult {
            runtime: self.scope.clone(),
            resumed: u32::try_from(resumed).unwrap_or(u32::MAX),
            success: true,
            error: None,
        })
    }

    /// Parks or releases the queue, durably, tells frontends, and wakes the
    /// worker when released. Returns how many inputs are waiting.
    async fn set_queue_paused(&self, paused: bool) -> Result<usize, RuntimeError> {
        let (waiting, changed) = {
            let mut state = lock(&self.state);
            let changed = state.paused != paused;
            state.paused = paused;
            (state.queue.len(), changed)
        };
        // Every new input releases the queue; most find it released.
        if changed {
            self.store.set_queue_paused(self.id, paused).await?;
        }
        self.log.emit(self.queue_draft(Vec::new())).await?;
        if !paused {
            self.wake.notify_one();
        }
        Ok(waiting)
    }

    pub(crate) fn queue_draft(&self, removed: Vec<QueueRemoval>) -> Draft {
        let queue = lock(&self.state).queue_messages();
        self.log
            .draft::<events::UpdateQueue>(|envelope| letta_protocol::QueueEvent {
                envelope,
                queue,
                removed,
            })
    }

    pub(crate) fn dequeued(client_message_id: &str) -> QueueRemoval {
        QueueRemoval {
            client_message_id: client_message_id.to_owned(),
            disposition: QueueRemovalDisposition::Dequeued,
        }
    }
}

fn stored_disposition(disposition: InputDisposition) -> Disposition {
    match disposition {
        InputDisposition::Started => Disposition::Started,
        InputDisposition::Queued => Disposition::Queued,
    }
}

/// Whether a message carries an image content part.
fn has_image(message: &letta_protocol::MessageCreate) -> bool {
    message
        .content
        .as_array()
        .is_some_and(|parts| parts.iter().any(|part| part["type"] == "image"))
}
