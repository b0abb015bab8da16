//! Where a turn picks up after the daemon stopped, and what an earlier
//! attempt at a send may already have started: looked up on the backend,
//! never sent again.

use letta_protocol::CreateMessage;
use serde_json::json;

use super::tools::Offered;
use super::{RunEnd, Step, Turn, TurnError, approval_calls};
use crate::store::RunStatus;

impl Turn<'_> {
    /// Where a turn that was running when the daemon stopped picks up. What
    /// the server may already have is looked up, never sent again: a run in
    /// flight is reattached from its cursor; a message or approval that may
    /// have reached the server is found there by its run; the calls of a
    /// finished run are answered; a first message the server never took is
    /// sent.
    pub(super) async fn recovery_step(
        &self,
        message: &CreateMessage,
        tools: &Offered,
    ) -> Result<(Step, Vec<String>), TurnError> {
        let rt = self.runtime;
        let step = match rt.store.latest_run_of_turn(&self.turn.turn_id).await? {
            Some(run) if run.status == RunStatus::Streaming => Step::Reattach {
                run_id: run.run_id,
                after: u64::try_from(run.last_seq_id).unwrap_or(0),
            },
            Some(run) => match self
                .newest_run()
                .await?
                .filter(|newest| *newest != run.run_id)
            {
                // The approval answering this run was sent and started a run.
                Some(newer) => Step::Reattach {
                    run_id: newer,
                    after: 0,
                },
                None => Step::Finished(RunEnd {
                    calls: approval_calls(&run),
                    run_id: Some(run.run_id),
                    stop_reason: run.stop_reason,
                    usage: None,
                    last_events: None,
                }),
            },
            None if self.server_has_message().await? => match self.newest_run().await? {
                Some(run_id) => Step::Reattach { run_id, after: 0 },
                None => {
                    return Err(TurnError::Protocol(
                        "the message reached the server but its run cannot be found".to_owned(),
                    ));
                }
            },
            None => return self.first_step(message, tools).await,
        };
        self.note_results_taken(&step).await?;
        Ok((step, Vec::new()))
    }

    /// The server took every result sent before the run a recovered turn
    /// goes on from (it starts no run while a call waits for one), though
    /// the daemon may have stopped before noting it. Noted now, so the
    /// next message does not send them again, which the server refuses;
    /// only the calls of a finished run still need theirs.
    async fn note_results_taken(&self, step: &Step) -> Result<(), TurnError> {
        let rt = self.runtime;
        let waiting: Vec<&str> = match step {
            Step::Finished(end) => end.calls.iter().map(|call| call.id.as_str()).collect(),
            _ => Vec::new(),
        };
        let taken: Vec<String> = rt
            .store
            .undelivered_results(rt.id)
            .await?
            .into_iter()
            .map(|row| row.tool_call_id)
            .filter(|id| !waiting.contains(&id.as_str()))
            .collect();
        if !taken.is_empty() {
            rt.store.deliver_tool_results(&taken).await?;
        }
        Ok(())
    }

    /// Whether the server stored this turn's message (found by its otid).
    async fn server_has_message(&self) -> Result<bool, TurnError> {
        let rt = self.runtime;
        let query = rt.scoped(json!({ "limit": 50, "order": "desc" }));
        let messages = rt
            .backend
            .list_conversation_messages(&rt.scope.conversation_id, &query)
            .await?;
        Ok(messages.as_array().is_some_and(|messages| {
            messages
                .iter()
                .any(|message| message["otid"] == self.turn.client_message_id.as_str())
        }))
    }

    /// The conversation's most recent run on the server.
    async fn newest_run(&self) -> Result<Option<String>, TurnError> {
        let rt = self.runtime;
        // Runs of the default conversation are found by their agent.
        let query = if rt.is_default_conversation() {
            json!({ "agent_id": rt.scope.agent_id, "order": "desc", "limit": 1 })
        } else {
            json!({ "conversation_id": rt.scope.conversation_id, "order": "desc", "limit": 1 })
        };
        let runs = rt.backend.list_runs(&query).await?;
        Ok(runs
            .as_array()
            .and_then(|runs| runs.first())
            .and_then(|run| run["id"].as_str())
            .map(str::to_owned))
    }

    /// The run an earlier attempt at this request started, if any: for the
    /// user's message, the newest run once the message (by otid) is stored;
    /// for an approval, a run newer than the one it answers.
    pub(super) async fn run_started_by_earlier_attempt(
        &self,
        answering: Option<&str>,
    ) -> Result<Option<String>, TurnError> {
        let newest = match answering {
            Some(answered) => self.newest_run().await?.filter(|newest| newest != answered),
            None if self.server_has_message().await? => self.newest_run().await?,
            None => None,
        };
        Ok(newest)
    }
}
