//! What a run streams and stores: chunks numbered by `seq_id`, handed to
//! readers as they come, stored with their step, and the run's ending.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Driver, Halt, MAX_MODEL_ATTEMPTS};
use crate::backend::local::{LiveEnding, new_id};
use crate::store::local::{LocalRunRow, LocalRunStatus, RunEnding, RunProgress};
use crate::store::{Store, StoreError};
use crate::util::{lock, now_rfc3339};

impl Driver {
    /// Queues a chunk with the run's id and the next `seq_id`.
    pub(super) fn chunk(&mut self, mut chunk: Value) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Value::Object(fields) = &mut chunk {
            fields.insert("run_id".into(), json!(self.run.id));
            fields.insert("seq_id".into(), json!(seq));
            fields.entry("date").or_insert_with(|| json!(now_rfc3339()));
        }
        self.pending.push((seq, chunk.to_string()));
    }

    pub(super) fn retry_notice(&mut self, message: &str, attempt: u32, delay: Duration) {
        self.chunk(json!({
            "message_type": "retry",
            "id": new_id("retry"),
            "message": message,
            "reason": "llm_api_error",
            "attempt": attempt,
            "max_attempts": MAX_MODEL_ATTEMPTS,
            "delay_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "retry_kind": "provider_retry",
        }));
    }

    /// Hands the queued chunks to readers (they are stored when the step
    /// ends).
    pub(super) async fn flush(&mut self) -> Result<(), Halt> {
        self.publish();
        Ok(())
    }

    pub(super) fn publish(&mut self) {
        let Some(last) = self.pending.last().map(|(seq, _)| *seq) else {
            return;
        };
        let chunks: Vec<(i64, letta_api::Chunk)> = self
            .pending
            .iter()
            .filter_map(|(seq, text)| Some((*seq, letta_api::Chunk::parse(text).ok()?)))
            .collect();
        lock(&self.live).publish(chunks);
        self.unstored.append(&mut self.pending);
        self.progress.send_replace(last);
    }

    /// Stores a step's progress with every chunk streamed since the last
    /// one, then hands readers what they have not seen.
    pub(super) async fn commit(&mut self, mut progress: RunProgress) -> Result<(), Halt> {
        self.pending.append(&mut progress.chunks);
        let mut chunks = std::mem::take(&mut self.unstored);
        chunks.extend(self.pending.iter().cloned());
        progress.chunks = chunks;
        let ending = progress.end.as_ref().map(|end| match end.status {
            LocalRunStatus::Failed => LiveEnding::Failed(
                end.error
                    .clone()
                    .unwrap_or_else(|| "the run failed".to_owned()),
            ),
            _ => LiveEnding::Stopped,
        });
        self.store()
            .record_run_progress(&self.run, progress, &now_rfc3339())
            .await?;
        if ending.is_some() {
            lock(&self.live).ending = ending;
        }
        self.publish();
        self.unstored.clear();
        Ok(())
    }

    /// Ends the run normally with `progress` and the stop reason.
    pub(super) async fn finish(
        &mut self,
        mut progress: RunProgress,
        stop_reason: &str,
    ) -> Result<(), Halt> {
        self.closing_chunks(stop_reason);
        progress.chunks = std::mem::take(&mut self.pending);
        progress.end = Some(RunEnding {
            status: LocalRunStatus::Completed,
            stop_reason: stop_reason.to_owned(),
            usage: Some(self.usage().to_string()),
            error: None,
        });
        self.commit(progress).await
    }

    pub(super) async fn end(
        &mut self,
        status: LocalRunStatus,
        stop_reason: &str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.pending.clear();
        self.closing_chunks(stop_reason);
        let progress = RunProgress {
            chunks: std::mem::take(&mut self.pending),
            end: Some(RunEnding {
                status,
                stop_reason: stop_reason.to_owned(),
                usage: Some(self.usage().to_string()),
                error,
            }),
            ..RunProgress::default()
        };
        match self.commit(progress).await {
            Ok(()) => Ok(()),
            Err(Halt::Store(err)) => Err(err),
            Err(_) => Ok(()),
        }
    }

    pub(super) fn closing_chunks(&mut self, stop_reason: &str) {
        self.chunk(json!({ "message_type": "stop_reason", "stop_reason": stop_reason }));
        let usage = self.usage();
        self.chunk(usage);
    }

    pub(super) fn usage(&self) -> Value {
        json!({
            "message_type": "usage_statistics",
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }
}

/// Ends a run nobody drives (after a restart), e.g. when it is cancelled
/// before being resumed.
pub(in crate::backend::local) async fn end_unattended(
    store: &Store,
    run: &LocalRunRow,
    status: LocalRunStatus,
    stop_reason: &str,
) -> Result<(), StoreError> {
    let seq = store.local_run_seen_seq(&run.id).await? + 1;
    let chunk = json!({
        "message_type": "stop_reason", "stop_reason": stop_reason,
        "run_id": run.id, "seq_id": seq,
    });
    let progress = RunProgress {
        chunks: vec![(seq, chunk.to_string())],
        end: Some(RunEnding {
            status,
            stop_reason: stop_reason.to_owned(),
            usage: None,
            error: None,
        }),
        ..RunProgress::default()
    };
    store
        .record_run_progress(run, progress, &now_rfc3339())
        .await
}
