//! Wakes: the agent schedules a later turn of its conversation (`Wake`);
//! the daemon's maintenance task fires it when due — after a restart too,
//! at once if late — by accepting an input whose `client_message_id` is
//! derived from the wake, so a wake starts exactly one turn.

use serde_json::{Map, Value, json};

use super::{Runtime, Runtimes};
use crate::store::{StoreError, WakeRow};
use crate::tools::ToolOutput;
use crate::tools::wake::{self, MAX_ACTIVE_WAKES, WakeRequest};
use crate::util::now_millis;

fn record(wake: &WakeRow) -> Value {
    json!({
        "id": wake.id,
        "name": wake.name,
        "prompt": wake.prompt,
        "scheduled_at": wake::rfc3339(wake.due_at),
    })
}

impl Runtime {
    /// Runs a `Wake` call (already allowed). Creating is keyed by the call,
    /// so running it again after a crash schedules nothing more.
    pub(crate) async fn run_wake_call(
        &self,
        tool_call_id: &str,
        input: &Map<String, Value>,
    ) -> Result<ToolOutput, StoreError> {
        let request = match wake::parse(input, now_millis()) {
            Ok(request) => request,
            Err(error) => return Ok(ToolOutput::error(format!("Wake: {error}"))),
        };
        let answer = match request {
            WakeRequest::List => {
                let wakes = self.store.scheduled_wakes(self.id).await?;
                json!({ "action": "listed", "wakes": wakes.iter().map(record).collect::<Vec<_>>() })
            }
            WakeRequest::Cancel { id } => {
                if !self.store.cancel_wake(self.id, &id).await? {
                    return Ok(ToolOutput::error(format!(
                        "Wake: no scheduled wake {id:?} in this conversation (Wake list shows them)"
                    )));
                }
                self.announce_wakes().await?;
                json!({ "action": "cancelled", "id": id })
            }
            WakeRequest::Create {
                name,
                prompt,
                due_at,
            } => {
                let id = format!("wake-{}", tool_call_id.trim_start_matches("call_"));
                let scheduled = self.store.scheduled_wakes(self.id).await?;
                if scheduled.len() >= MAX_ACTIVE_WAKES && !scheduled.iter().any(|w| w.id == id) {
                    return Ok(ToolOutput::error(format!(
                        "Wake: this conversation already has {MAX_ACTIVE_WAKES} scheduled wakes; \
                         cancel one first"
                    )));
                }
                let row = WakeRow {
                    id,
                    runtime_id: self.id,
                    name,
                    prompt,
                    due_at,
                    status: "scheduled".to_owned(),
                };
                self.store.schedule_wake(&row).await?;
                self.announce_wakes().await?;
                let mut created = record(&row);
                created["action"] = json!("created");
                created
            }
        };
        Ok(ToolOutput::ok(answer.to_string()))
    }

    /// A frontend cancels a wake; false if it was not scheduled.
    pub async fn cancel_wake(&self, id: &str) -> Result<bool, StoreError> {
        let cancelled = self.store.cancel_wake(self.id, id).await?;
        if cancelled {
            self.announce_wakes().await?;
        }
        Ok(cancelled)
    }

    /// The scheduled wakes, as device status lists them.
    pub(crate) async fn wakes_listed(&self) -> Value {
        let version = self.store.wakes_version();
        let read = async {
            let wakes = self.store.scheduled_wakes(self.id).await?;
            Ok::<_, StoreError>(Value::Array(wakes.iter().map(record).collect()))
        };
        match self.copies.wakes.get(version, read).await {
            Ok(wakes) => wakes,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list the scheduled wakes");
                Value::Array(Vec::new())
            }
        }
    }

    async fn announce_wakes(&self) -> Result<(), StoreError> {
        let draft = self.device_status_draft().await;
        self.log.emit(draft).await?;
        Ok(())
    }

    /// Starts (or queues) the wake's turn; returns once its input is
    /// journaled.
    async fn fire(&self, wake: &WakeRow) -> Result<(), super::RuntimeError> {
        let text = format!(
            "<system-reminder>\nThis message comes from a wake you scheduled: \"{}\" (due {}). \
             Its prompt follows.\n</system-reminder>\n{}",
            wake.name,
            wake::rfc3339(wake.due_at),
            wake.prompt
        );
        self.accept_daemon_message(text, format!("cm-{}", wake.id))
            .await?;
        Ok(())
    }
}

impl Runtimes {
    /// Fires every wake that is due. Called by the maintenance task.
    pub async fn fire_due_wakes(&self) {
        let due = match self.store.due_wakes(now_millis()).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the due wakes");
                return;
            }
        };
        if due.is_empty() {
            return;
        }
        let runtimes = self.all().await;
        for wake in due {
            let Some(runtime) = runtimes
                .iter()
                .find(|runtime| runtime.id == wake.runtime_id)
            else {
                tracing::warn!(wake = %wake.id, "a wake's runtime is gone; it is dropped");
                let _ = self.store.wake_fired(&wake.id).await;
                continue;
            };
            match runtime.fire(&wake).await {
                Ok(()) => {
                    tracing::info!(wake = %wake.id, name = %wake.name, "wake fired");
                    if let Err(err) = self.store.wake_fired(&wake.id).await {
                        tracing::warn!(error = %err, "cannot record a fired wake");
                    }
                    if let Err(err) = runtime.announce_wakes().await {
                        tracing::warn!(error = %err, "cannot report the fired wake");
                    }
                }
                // Overloaded (a full queue) or a store failure: it stays
                // scheduled and is tried again on the next tick.
                Err(err) => tracing::warn!(wake = %wake.id, error = %err, "cannot fire a wake yet"),
            }
        }
    }
}
