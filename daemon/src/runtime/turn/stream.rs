//! Streaming one run: chunks become committed events, and a dropped or
//! stalled stream is resumed from the committed cursor.

use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use tokio::time::Instant;

use super::tools::assemble;
use super::{RunEnd, Turn, TurnError, resume};
use crate::backend::{BackendError, RunStream};
use crate::runtime::event_log::Draft;
use crate::store::{CursorAdvance, RunFinish};
use letta_api::{Chunk, StreamItem, StreamMessage, ToolCallDelta, backoff};

/// How long a run's stream may stay broken (dropped, stalled, or the
/// server unreachable) without a chunk before the turn gives up on it. The
/// run itself goes on on the server meanwhile; a server restarting or a
/// network coming back within this is waited for.
const RESUME_PATIENCE: Duration = Duration::from_secs(300);

/// A run stream's current outage: since when, and the attempts to reopen
/// it (for the backoff between them).
struct Outage {
    since: Instant,
    attempts: u32,
}

/// Most chunks committed in one transaction.
const MAX_BATCH: usize = 128;

/// Chunks read but not yet committed.
#[derive(Default)]
struct Batch {
    drafts: Vec<Draft>,
    /// The highest `seq_id` among them.
    seq_id: Option<u64>,
    /// One of them is a piece of a client-side tool call.
    has_tool_call_piece: bool,
    /// The run started with these chunks: its record is written with them.
    starts_run: bool,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.drafts.is_empty() && self.seq_id.is_none()
    }

    fn is_full(&self) -> bool {
        self.drafts.len() >= MAX_BATCH
    }
}

/// Events and a run-cursor advance to write in one transaction.
pub(super) struct EventWrite {
    pub(super) drafts: Vec<Draft>,
    pub(super) cursor: Option<CursorAdvance>,
}

/// What reading a run stream gave.
enum Next {
    Chunk(Chunk),
    Done,
    /// A failure resuming cannot fix.
    Failed(BackendError),
    /// Cut off, stalled, or a transient failure: resume from the cursor.
    Interrupted,
}

impl From<Option<Result<StreamItem, BackendError>>> for Next {
    fn from(next: Option<Result<StreamItem, BackendError>>) -> Next {
        match next {
            Some(Ok(StreamItem::Chunk(chunk))) => Next::Chunk(chunk),
            Some(Ok(StreamItem::Done)) => Next::Done,
            Some(Err(err)) if !err.is_transient() => Next::Failed(err),
            Some(Err(_)) | None => Next::Interrupted,
        }
    }
}

impl Turn<'_> {
    /// Opens run `run_id`'s stream again after `after`, waiting out a
    /// server that cannot be reached, with backoff, until the outage has
    /// lasted [`RESUME_PATIENCE`]. A refusal that waiting cannot fix ends
    /// the turn at once.
    async fn reopen(
        &self,
        run_id: &str,
        after: u64,
        outage: &mut Outage,
    ) -> Result<RunStream, TurnError> {
        loop {
            if outage.since.elapsed() > RESUME_PATIENCE {
                return Err(TurnError::Protocol(format!(
                    "the stream of run {run_id} could not be resumed for {} s (the Letta server \
                     is unreachable or keeps cutting it); the run may go on on the server",
                    RESUME_PATIENCE.as_secs()
                )));
            }
            outage.attempts += 1;
            tokio::time::sleep(backoff(outage.attempts)).await;
            tracing::info!(run = %run_id, after, attempt = outage.attempts, "resuming the run stream");
            match resume(self.runtime, run_id, after).await {
                Err(TurnError::Backend(err)) if err.is_transient() => {
                    tracing::info!(run = %run_id, error = %err, "the run stream cannot be resumed yet");
                }
                opened => return opened,
            }
        }
    }

    /// Streams a run to its end; `run_id` and `after` are known when
    /// reattaching. Chunks at or below `after` were committed before and are
    /// not emitted again, but they still count for the run's outcome: a
    /// stream read again from the start after a restart rebuilds the tool
    /// calls whose pieces arrived before the crash.
    pub(super) async fn stream_run(
        &self,
        mut stream: RunStream,
        run_id: Option<String>,
        after: u64,
    ) -> Result<RunEnd, TurnError> {
        let rt = self.runtime;
        let mut end = RunEnd {
            run_id: None,
            stop_reason: None,
            usage: None,
            calls: Vec::new(),
            last_events: None,
        };
        if let Some(run_id) = run_id {
            self.run_started(&run_id).await?;
            end.run_id = Some(run_id);
        }
        let mut pieces: Vec<ToolCallDelta> = Vec::new();
        let mut batch = Batch::default();
        let mut last_seq = after;
        let mut outage: Option<Outage> = None;
        loop {
            // Chunks that arrive together are committed together (one
            // transaction per batch, events still before anyone sees them);
            // a lone chunk is committed at once. The run's closing chunks
            // (stop_reason, usage) wait for its end and go with it: a Letta
            // server sends them without a seq_id, so committed on their own,
            // a stream resumed after a crash would bring them again.
            // A full batch is committed even then: a server that streams on
            // past stop_reason makes the daemon hold no more than a batch.
            let next = if batch.is_full() {
                self.commit(&mut batch, &end, None).await?;
                continue;
            } else if batch.is_empty() || end.stop_reason.is_some() {
                match tokio::time::timeout(rt.stall_timeout, stream.next()).await {
                    Ok(next) => Next::from(next),
                    Err(_) => Next::Interrupted,
                }
            } else {
                match stream.next().now_or_never() {
                    Some(next) => Next::from(next),
                    None => {
                        self.commit(&mut batch, &end, None).await?;
                        continue;
                    }
                }
            };
            let chunk = match next {
                Next::Chunk(chunk) => chunk,
                Next::Done => break,
                Next::Failed(err) => {
                    self.commit(&mut batch, &end, None).await?;
                    return Err(err.into());
                }
                Next::Interrupted => {
                    if end.stop_reason.is_some() {
                        // Everything that matters arrived; only [DONE] is missing.
                        break;
                    }
                    self.commit(&mut batch, &end, None).await?;
                    let Some(run_id) = end.run_id.clone() else {
                        return Err(TurnError::Protocol(
                            "the stream ended before the run started".to_owned(),
                        ));
                    };
                    let outage = outage.get_or_insert_with(|| Outage {
                        since: Instant::now(),
                        attempts: 0,
                    });
                    stream = self.reopen(&run_id, last_seq, outage).await?;
                    continue;
                }
            };
            outage = None;
            let committed_before = chunk.seq_id.is_some_and(|seq| seq <= last_seq);
            if end.run_id.is_none()
                && let Some(run_id) = &chunk.run_id
            {
                // The run's record and the loop status go out with its
                // first chunks, in their transaction.
                self.commit(&mut batch, &end, None).await?;
                batch.drafts.push(self.mark_run_started(run_id));
                batch.starts_run = true;
                end.run_id = Some(run_id.clone());
            }
            match &chunk.message {
                StreamMessage::StopReason { stop_reason } => {
                    end.stop_reason = Some(stop_reason.clone())
                }
                StreamMessage::UsageStatistics {} => {
                    end.usage = Some(Value::Object(chunk.raw.clone()))
                }
                StreamMessage::ApprovalRequestMessage { .. } => {
                    pieces.extend(chunk.message.tool_call_deltas());
                    batch.has_tool_call_piece |= !committed_before;
                }
                // Tool calls of a step that is run again are made again.
                StreamMessage::Retry {} => pieces.clear(),
                _ => {}
            }
            if committed_before {
                continue;
            }
            if let Some(seq) = chunk.seq_id {
                last_seq = seq;
                batch.seq_id = Some(seq);
            }
            if !matches!(chunk.message, StreamMessage::Ping {}) {
                let mut delta = chunk.raw;
                // Lifecycle messages are deltas of their own kind.
                if !chunk.message.is_lifecycle() {
                    delta.insert("type".to_owned(), Value::from("message"));
                }
                batch.drafts.push(rt.log.stream_delta(delta));
            }
        }
        end.calls = assemble(pieces);
        // The run is marked completed with its last events.
        let finish = RunFinish {
            stop_reason: end.stop_reason.clone(),
            approval_calls: (!end.calls.is_empty())
                .then(|| serde_json::to_string(&end.calls).unwrap_or_default()),
        };
        if end.ends_turn() && !batch.has_tool_call_piece {
            end.last_events = Some(self.take_write(&mut batch, &end, Some(finish)));
        } else {
            self.commit(&mut batch, &end, Some(finish)).await?;
        }
        Ok(end)
    }

    /// Writes a batch's events and run-cursor advance in one transaction,
    /// and with `finish`, the run's end.
    async fn commit(
        &self,
        batch: &mut Batch,
        end: &RunEnd,
        finish: Option<RunFinish>,
    ) -> Result<(), TurnError> {
        let write = self.take_write(batch, end, finish);
        if write.drafts.is_empty() && write.cursor.is_none() {
            return Ok(());
        }
        self.runtime
            .log
            .emit_all(write.drafts, write.cursor)
            .await?;
        if std::mem::take(&mut batch.has_tool_call_piece) {
            crate::faults::crash_point("tool-call-piece-committed");
        }
        Ok(())
    }

    /// What writing a batch (and with `finish`, the run's end) takes,
    /// leaving the batch empty.
    fn take_write(&self, batch: &mut Batch, end: &RunEnd, finish: Option<RunFinish>) -> EventWrite {
        let finish = finish.filter(|_| end.run_id.is_some());
        let seq_id = batch.seq_id.take();
        let starts_run = std::mem::take(&mut batch.starts_run);
        let cursor = end
            .run_id
            .as_deref()
            .filter(|_| seq_id.is_some() || starts_run || finish.is_some())
            .map(|run_id| CursorAdvance {
                run_id: run_id.to_owned(),
                turn_id: self.turn.turn_id.clone(),
                seq_id: seq_id.unwrap_or(0),
                finish,
            });
        EventWrite {
            drafts: std::mem::take(&mut batch.drafts),
            cursor,
        }
    }
}
