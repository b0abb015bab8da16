//! Reading a local run: its committed chunks after a cursor, then new ones
//! as the driver commits them, until the run has ended and every chunk was
//! read.

use std::collections::VecDeque;

use letta_api::{Chunk, StreamItem};
use tokio::sync::watch;

use super::LocalBackend;
use crate::backend::{BackendError, LocalError};
use crate::store::local::LocalRunStatus;

/// Chunks read from the store at once.
const PAGE: i64 = 256;

pub struct LocalRunStream {
    backend: LocalBackend,
    run_id: String,
    after: i64,
    buffered: VecDeque<Chunk>,
    /// The driver's progress; `None` once it stopped (or for a run that
    /// had ended).
    progress: Option<watch::Receiver<i64>>,
    ended: bool,
}

impl LocalRunStream {
    pub(super) fn new(
        backend: LocalBackend,
        run_id: String,
        after: i64,
        progress: Option<watch::Receiver<i64>>,
    ) -> LocalRunStream {
        LocalRunStream {
            backend,
            run_id,
            after,
            buffered: VecDeque::new(),
            progress,
            ended: false,
        }
    }

    pub async fn next(&mut self) -> Option<Result<StreamItem, BackendError>> {
        loop {
            if let Some(chunk) = self.buffered.pop_front() {
                return Some(Ok(StreamItem::Chunk(chunk)));
            }
            if self.ended {
                return None;
            }
            // Mark the progress seen before reading, so a commit between the
            // read and the wait still wakes the wait.
            if let Some(progress) = &mut self.progress {
                progress.mark_unchanged();
            }
            match self.read_page().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => return Some(Err(err)),
            }
            let store = &self.backend.inner.store;
            let run = match store.local_run(&self.run_id).await {
                Ok(Some(run)) => run,
                Ok(None) => {
                    self.ended = true;
                    return Some(Err(LocalError::NotFound {
                        what: "run",
                        id: self.run_id.clone(),
                    }
                    .into()));
                }
                Err(err) => return Some(Err(err.into())),
            };
            match run.status {
                LocalRunStatus::Running => {}
                LocalRunStatus::Failed => {
                    // Chunks committed with the ending are read first.
                    if matches!(self.read_page().await, Ok(true)) {
                        continue;
                    }
                    self.ended = true;
                    let error = run.error.unwrap_or_else(|| "the run failed".to_owned());
                    return Some(Err(LocalError::RunFailed(error).into()));
                }
                LocalRunStatus::Completed | LocalRunStatus::Cancelled => {
                    if matches!(self.read_page().await, Ok(true)) {
                        continue;
                    }
                    self.ended = true;
                    return Some(Ok(StreamItem::Done));
                }
            }
            let waited = match &mut self.progress {
                Some(progress) => progress.changed().await.is_ok(),
                None => false,
            };
            if !waited {
                // The driver stopped, or none ran: start one if the run still
                // needs it.
                self.progress = self.backend.watch(&run);
                if self.progress.is_none() {
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    /// Reads the next page of committed chunks; whether there were any.
    async fn read_page(&mut self) -> Result<bool, BackendError> {
        let rows = self
            .backend
            .inner
            .store
            .local_run_chunks(&self.run_id, self.after, PAGE)
            .await?;
        let found = !rows.is_empty();
        for (seq, text) in rows {
            self.after = seq;
            let chunk = Chunk::parse(&text).map_err(|err| {
                LocalError::RunFailed(format!("a stored chunk is unreadable: {err}"))
            })?;
            self.buffered.push_back(chunk);
        }
        Ok(found)
    }
}
