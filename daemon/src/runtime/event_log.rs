//! A runtime's event log and its subscribers.
//!
//! Emitting an event numbers it (`event_seq`, per runtime), writes it to the
//! database and only then makes it visible. Each subscribed connection has
//! its own delivery task with a cursor: it sends the events after its
//! cursor, from a ring of recent events or, when it has fallen behind, from
//! the database. A slow connection therefore only falls behind; it never
//! holds up the runtime or other connections, and what it has not received
//! yet waits in the database, not in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::lock;

use letta_protocol::{Envelope, Event, RuntimeScope};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::rpc::ConnectionInfo;
use crate::store::{CursorAdvance, Store, StoreError};

/// Recent events kept in memory for delivery.
const RECENT_EVENTS: usize = 4096;
/// Events read from the database per query when catching up.
const CATCH_UP_BATCH: u32 = 512;

/// An event about to be emitted: the frame, its envelope filled in at emit.
pub struct Draft {
    kind: &'static str,
    frame: Map<String, Value>,
}

/// Why a subscription could not start.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(
        "events up to {oldest_kept} are no longer kept (retention); sync without after_event_seq to get the current state"
    )]
    Expired { oldest_kept: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct EventLog {
    runtime_id: i64,
    scope: RuntimeScope,
    store: Store,
    /// Serializes emitters; holds the next `event_seq`.
    next_seq: tokio::sync::Mutex<u64>,
    latest: watch::Sender<u64>,
    recent: Mutex<VecDeque<(u64, Arc<str>)>>,
    subscribers: Mutex<HashMap<usize, Subscription>>,
    retention: u64,
}

struct Subscription {
    delivered: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl EventLog {
    pub async fn open(
        runtime_id: i64,
        scope: RuntimeScope,
        store: Store,
        retention: u64,
    ) -> Result<Arc<EventLog>, StoreError> {
        let last = store.last_event_seq(runtime_id).await?;
        let (latest, _) = watch::channel(last);
        Ok(Arc::new(EventLog {
            runtime_id,
            scope,
            store,
            next_seq: tokio::sync::Mutex::new(last + 1),
            latest,
            recent: Mutex::new(VecDeque::with_capacity(RECENT_EVENTS)),
            subscribers: Mutex::new(HashMap::new()),
            retention,
        }))
    }

    /// The last emitted `event_seq`.
    pub fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// Prepares an event of type `E`; the envelope is completed at emit.
    pub fn draft<E: Event>(&self, build: impl FnOnce(Envelope) -> E::Frame) -> Draft {
        let envelope = Envelope {
            runtime: self.scope.clone(),
            event_seq: 0,
            emitted_at: String::new(),
            idempotency_key: String::new(),
        };
        let frame = match letta_protocol::event_frame::<E>(&build(envelope)) {
            Ok(Value::Object(frame)) => frame,
            // Event frames are structs; serialization cannot fail or be anything else.
            _ => Map::new(),
        };
        Draft {
            kind: E::NAME,
            frame,
        }
    }

    /// Emits one event.
    pub async fn emit(&self, draft: Draft) -> Result<u64, StoreError> {
        self.emit_all(vec![draft], None).await
    }

    /// Emits events, advancing a run cursor in the same transaction; returns
    /// the last `event_seq`.
    pub async fn emit_all(
        &self,
        drafts: Vec<Draft>,
        cursor: Option<CursorAdvance<'_>>,
    ) -> Result<u64, StoreError> {
        let mut next_seq = self.next_seq.lock().await;
        let emitted_at = crate::app::now_rfc3339();
        let mut frames = Vec::with_capacity(drafts.len());
        for (offset, mut draft) in drafts.into_iter().enumerate() {
            let seq = *next_seq + offset as u64;
            draft.frame.insert("event_seq".to_owned(), Value::from(seq));
            draft
                .frame
                .insert("emitted_at".to_owned(), Value::from(emitted_at.clone()));
            draft.frame.insert(
                "idempotency_key".to_owned(),
                Value::from(format!(
                    "{}:{seq}:{}",
                    draft.kind, self.scope.conversation_id
                )),
            );
            frames.push((seq, Value::Object(draft.frame).to_string()));
        }
        let rows: Vec<(u64, &str)> = frames
            .iter()
            .map(|(seq, frame)| (*seq, frame.as_str()))
            .collect();
        if rows.is_empty() {
            if let Some(cursor) = cursor {
                self.store
                    .append_events(self.runtime_id, &[], Some(cursor))
                    .await?;
            }
            return Ok(*next_seq - 1);
        }
        self.store
            .append_events(self.runtime_id, &rows, cursor)
            .await?;
        let previous = *next_seq - 1;
        let last = rows.last().map_or(previous, |(seq, _)| *seq);
        *next_seq = last + 1;
        {
            let mut recent = lock(&self.recent);
            for (seq, frame) in frames {
                if recent.len() == RECENT_EVENTS {
                    recent.pop_front();
                }
                recent.push_back((seq, Arc::from(frame)));
            }
        }
        self.latest.send_replace(last);
        Ok(last)
    }

    /// Applies retention: keeps the newest events. Called by the daemon's
    /// maintenance task, off the path from chunk to frontend.
    pub async fn trim(&self) {
        if let Err(err) = self
            .store
            .trim_events(self.runtime_id, self.retention)
            .await
        {
            tracing::warn!(error = %err, "cannot trim the event log");
        }
    }

    /// Subscribes `connection`. With `after`, delivery (re)starts after that
    /// `event_seq`; without, an existing subscription is kept and a new one
    /// starts with the next event. Returns a watch of the last delivered seq.
    pub async fn subscribe(
        self: &Arc<Self>,
        connection: &Arc<ConnectionInfo>,
        after: Option<u64>,
    ) -> Result<watch::Receiver<u64>, SubscribeError> {
        if let Some(after) = after
            && let Some(first) = self.store.first_event_seq(self.runtime_id).await?
            && after + 1 < first
        {
            return Err(SubscribeError::Expired {
                oldest_kept: first - 1,
            });
        }
        let mut subscribers = lock(&self.subscribers);
        subscribers.retain(|_, subscription| !subscription.task.is_finished());
        if after.is_none()
            && let Some(existing) = subscribers.get(&connection.id)
        {
            return Ok(existing.delivered.clone());
        }
        let start = after.unwrap_or_else(|| self.latest()).min(self.latest());
        let (delivered_tx, delivered) = watch::channel(start);
        let task = tokio::spawn(deliver(
            self.clone(),
            connection.clone(),
            start,
            delivered_tx,
        ));
        if let Some(previous) = subscribers.insert(
            connection.id,
            Subscription {
                delivered: delivered.clone(),
                task,
            },
        ) {
            previous.task.abort();
        }
        Ok(delivered)
    }

    pub fn subscriber_count(&self) -> usize {
        lock(&self.subscribers)
            .values()
            .filter(|subscription| !subscription.task.is_finished())
            .count()
    }

    /// Events after `cursor`, from memory when possible.
    async fn after(&self, cursor: u64) -> Result<Vec<(u64, Arc<str>)>, StoreError> {
        {
            let recent = lock(&self.recent);
            if let Some((oldest, _)) = recent.front()
                && *oldest <= cursor + 1
            {
                // The ring holds consecutive seqs, so the cursor gives the index.
                let start = usize::try_from(cursor + 1 - oldest).unwrap_or(usize::MAX);
                return Ok(recent
                    .range(start.min(recent.len())..)
                    .take(CATCH_UP_BATCH as usize)
                    .cloned()
                    .collect());
            }
        }
        let rows = self
            .store
            .events_after(self.runtime_id, cursor, CATCH_UP_BATCH)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, frame)| (seq, Arc::from(frame)))
            .collect())
    }
}

/// Sends a connection every event after `cursor`, then each new one.
async fn deliver(
    log: Arc<EventLog>,
    connection: Arc<ConnectionInfo>,
    mut cursor: u64,
    delivered: watch::Sender<u64>,
) {
    let mut latest = log.latest.subscribe();
    loop {
        while cursor < *latest.borrow_and_update() {
            let events = match log.after(cursor).await {
                Ok(events) if !events.is_empty() => events,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(connection = connection.id, error = %err, "cannot read the event log");
                    return;
                }
            };
            if events.first().is_some_and(|(first, _)| *first > cursor + 1) {
                // Retention removed events this connection has not received.
                connection.close(format!(
                    "this connection fell behind the event log: events after {cursor} are no longer kept; reconnect and sync without after_event_seq"
                ));
                return;
            }
            for (seq, frame) in events {
                if connection.push_event(&frame).await.is_err() {
                    return;
                }
                cursor = seq;
                delivered.send_replace(cursor);
            }
        }
        tokio::select! {
            changed = latest.changed() => if changed.is_err() { return },
            () = connection.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::Transport;
    use letta_protocol::{LoopState, LoopStatus, LoopStatusEvent, events};
    use std::time::Duration;

    async fn log() -> (tempfile::TempDir, Arc<EventLog>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("events.db")).await.unwrap();
        let row = store
            .upsert_runtime("agent-1", "conv-1", "/", "standard", "now")
            .await
            .unwrap();
        let scope = RuntimeScope {
            agent_id: Some("agent-1".into()),
            conversation_id: "conv-1".into(),
            acting_user_id: None,
        };
        (
            dir,
            EventLog::open(row.id, scope, store, 100_000).await.unwrap(),
        )
    }

    fn draft(log: &EventLog) -> Draft {
        let loop_status = LoopState {
            status: LoopStatus::WaitingOnInput,
            active_run_ids: vec![],
            client_message_ids_by_run_id: None,
            executing_tool_call_ids: vec![],
        };
        log.draft::<events::UpdateLoopStatus>(|envelope| LoopStatusEvent {
            envelope,
            loop_status,
        })
    }

    fn connection(
        id: usize,
        capacity: usize,
    ) -> (Arc<ConnectionInfo>, tokio::sync::mpsc::Receiver<String>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity);
        (
            Arc::new(ConnectionInfo::new(id, Transport::WebSocketFrames, sender)),
            receiver,
        )
    }

    fn seq_of(frame: &str) -> u64 {
        serde_json::from_str::<Value>(frame).unwrap()["event_seq"]
            .as_u64()
            .unwrap()
    }

    #[tokio::test]
    async fn a_stalled_subscriber_holds_up_nobody_and_loses_nothing() {
        let (_dir, log) = log().await;
        let (slow, mut slow_rx) = connection(1, 8);
        let (fast, mut fast_rx) = connection(2, 8);
        log.subscribe(&slow, Some(0)).await.unwrap();
        log.subscribe(&fast, Some(0)).await.unwrap();
        // More events than the in-memory ring: the slow one catches up from
        // the database.
        let total = (RECENT_EVENTS + 1000) as u64;
        let emitter = {
            let log = log.clone();
            tokio::spawn(async move {
                for _ in 0..total {
                    log.emit(draft(&log)).await.unwrap();
                }
            })
        };
        for expected in 1..=total {
            let frame = tokio::time::timeout(Duration::from_secs(10), fast_rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(seq_of(&frame), expected);
        }
        emitter.await.unwrap();
        // The slow connection held at most its queue while it did not read.
        assert!(slow_rx.len() <= 8);
        for expected in 1..=total {
            let frame = tokio::time::timeout(Duration::from_secs(10), slow_rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                seq_of(&frame),
                expected,
                "in order, none lost, none repeated"
            );
        }
    }

    #[tokio::test]
    async fn resubscribing_with_a_cursor_replays_from_it() {
        let (_dir, log) = log().await;
        for _ in 0..5 {
            log.emit(draft(&log)).await.unwrap();
        }
        let (client, mut rx) = connection(3, 64);
        let mut delivered = log.subscribe(&client, Some(2)).await.unwrap();
        delivered.wait_for(|seq| *seq >= 5).await.unwrap();
        let seqs: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|frame| seq_of(&frame))
            .collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        // A plain subscribe keeps the existing subscription.
        log.subscribe(&client, None).await.unwrap();
        log.emit(draft(&log)).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seq_of(&next), 6);
        assert_eq!(log.subscriber_count(), 1);
    }
}
