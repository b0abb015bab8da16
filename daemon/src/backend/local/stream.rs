//! Reading a local run: the chunks stored after a cursor, then the ones the
//! driver publishes as they stream, until the run has ended and every chunk
//! was read.

use std::collections::VecDeque;

use letta_api::{Chunk, StreamItem};

use super::{LiveEnding, LiveView, LocalBackend};
use crate::backend::{BackendError, LocalError};
use crate::store::local::LocalRunStatus;
use crate::util::lock;

/// Chunks read from the store at once.
const PAGE: i64 = 256;

pub struct LocalRunStream {
    backend: LocalBackend,
    run_id: String,
    after: i64,
    buffered: VecDeque<Chunk>,
    /// The driver's chunks and progress; `None` once it stopped (or for a
    /// run that had ended).
    live: Option<LiveView>,
    ended: bool,
}

impl LocalRunStream {
    pub(super) fn new(
        backend: LocalBackend,
        run_id: String,
        after: i64,
        live: Option<LiveView>,
    ) -> LocalRunStream {
        LocalRunStream {
            backend,
            run_id,
            after,
            buffered: VecDeque::new(),
            live,
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
            match self.read_live().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => return Some(Err(err)),
            }
            // While a driver runs, wait for it; the database is asked only
            // when it stopped (or none ran).
            if let Some(live) = &mut self.live {
                if live.progress.changed().await.is_ok() {
                    continue;
                }
                // The driver stored the ending after publishing the last
                // chunk, which the read above took: nothing is left to read.
                let ending = lock(&live.chunks).ending.clone();
                if let Some(ending) = ending {
                    self.ended = true;
                    return Some(match ending {
                        LiveEnding::Stopped => Ok(StreamItem::Done),
                        LiveEnding::Failed(error) => Err(LocalError::RunFailed(error).into()),
                    });
                }
                self.live = None;
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
            if run.status != LocalRunStatus::Running {
                // Chunks stored with the ending are read first.
                match self.read_stored(i64::MAX).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(err) => return Some(Err(err)),
                }
                self.ended = true;
                if run.status == LocalRunStatus::Failed {
                    let error = run.error.unwrap_or_else(|| "the run failed".to_owned());
                    return Some(Err(LocalError::RunFailed(error).into()));
                }
                return Some(Ok(StreamItem::Done));
            }
            // Still running with no driver: start one.
            self.live = self.backend.watch(&run, false);
            if self.live.is_none() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Reads what is new: chunks from before this driver began from the
    /// database, then the ones it published. Whether there were any.
    async fn read_live(&mut self) -> Result<bool, BackendError> {
        let Some(live) = &mut self.live else {
            return self.read_stored(i64::MAX).await;
        };
        // Seen before reading, so a publish after the read wakes the wait.
        live.progress.mark_unchanged();
        let (first, published) = lock(&live.chunks).after(self.after);
        let mut found = false;
        if let Some(first) = first
            && self.after + 1 < first
        {
            found |= self.read_stored(first - 1).await?;
        }
        for chunk in published {
            if let Some(seq) = chunk.seq_id.and_then(|seq| i64::try_from(seq).ok()) {
                self.after = self.after.max(seq);
            }
            self.buffered.push_back(chunk);
            found = true;
        }
        Ok(found)
    }

    /// Reads stored chunks after the cursor, up to `upto`.
    async fn read_stored(&mut self, upto: i64) -> Result<bool, BackendError> {
        let mut found = false;
        loop {
            let rows = self
                .backend
                .inner
                .store
                .local_run_chunks(&self.run_id, self.after, PAGE)
                .await?;
            let page = rows.len();
            for (seq, text) in rows {
                if seq > upto {
                    return Ok(found);
                }
                self.after = seq;
                let chunk = Chunk::parse(&text).map_err(|err| {
                    LocalError::RunFailed(format!("a stored chunk is unreadable: {err}"))
                })?;
                self.buffered.push_back(chunk);
                found = true;
            }
            if i64::try_from(page).unwrap_or(i64::MAX) < PAGE {
                return Ok(found);
            }
        }
    }
}
