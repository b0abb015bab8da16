//! A runtime's event log and its subscribers.
//!
//! Emitting an event numbers it (`event_seq`, per runtime), writes it to the
//! database and only then makes it visible. A subscribed connection that is
//! keeping up is *live*: the emitter hands it each event directly, without
//! waiting. One whose queue is full, or that asked for events from the past,
//! is *catching up*: its own task sends what follows its cursor, from a ring
//! of recent events (bounded in bytes) or from the database, and hands it
//! back to live delivery once it has caught up. A slow connection therefore
//! only falls behind; it never holds up the runtime or other connections,
//! and what it has not received yet waits in the database, not in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::util::lock;

use letta_protocol::{Envelope, Event, RuntimeScope, events};
use serde_json::{Map, Value};
use tokio::sync::{OwnedMutexGuard, watch};

use super::{EventSink, TryPushError};
use crate::store::{CursorAdvance, StateChange, Store, StoreError};

/// Recent events kept in memory per runtime for delivery, by their size
/// (a few hundred events): a subscriber further behind catches up from the
/// database. Counted in events it held megabytes per busy runtime.
const RECENT_BYTES: usize = 256 * 1024;
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
    /// Events before `first_kept` were trimmed by retention.
    #[error("events before {first_kept} are no longer kept (retention)")]
    Expired { first_kept: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The newest events, consecutive, within [`RECENT_BYTES`].
#[derive(Default)]
struct Recent {
    events: VecDeque<(u64, Arc<str>)>,
    bytes: usize,
}

impl Recent {
    fn push(&mut self, seq: u64, frame: Arc<str>) {
        self.bytes += frame.len();
        self.events.push_back((seq, frame));
        while self.bytes > RECENT_BYTES && self.events.len() > 1 {
            if let Some((_, oldest)) = self.events.pop_front() {
                self.bytes -= oldest.len();
            }
        }
    }
}

pub struct EventLog {
    runtime_id: i64,
    scope: RuntimeScope,
    store: Store,
    /// Serializes emitters; holds the next `event_seq`.
    next_seq: Arc<tokio::sync::Mutex<u64>>,
    latest: watch::Sender<u64>,
    recent: Mutex<Recent>,
    subscribers: Mutex<HashMap<usize, Subscription>>,
    retention: u64,
    /// Events up to this `event_seq` have been trimmed (0: none by this
    /// log yet).
    trimmed_through: AtomicU64,
    /// This log, for the catch-up tasks it starts.
    this: Weak<EventLog>,
}

struct Subscription {
    connection: Arc<dyn EventSink>,
    /// The last `event_seq` queued for the connection.
    delivered: watch::Sender<u64>,
    mode: Mode,
}

enum Mode {
    Live,
    CatchingUp(tokio::task::JoinHandle<()>),
}

impl Subscription {
    fn cursor(&self) -> u64 {
        *self.delivered.borrow()
    }
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
        Ok(Arc::new_cyclic(|this| EventLog {
            runtime_id,
            scope,
            store,
            next_seq: Arc::new(tokio::sync::Mutex::new(last + 1)),
            latest,
            recent: Mutex::new(Recent::default()),
            subscribers: Mutex::new(HashMap::new()),
            retention,
            trimmed_through: AtomicU64::new(0),
            this: this.clone(),
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

    /// A `stream_delta` for a chunk as the server sent it. The same frame
    /// as `draft::<StreamDelta>` would make, without copying the chunk
    /// through a typed struct: this is the per-chunk hot path.
    pub fn stream_delta(&self, delta: Map<String, Value>) -> Draft {
        let mut frame = Map::new();
        frame.insert("type".to_owned(), Value::from(events::StreamDelta::NAME));
        frame.insert("delta".to_owned(), Value::Object(delta));
        frame.insert(
            "runtime".to_owned(),
            serde_json::to_value(&self.scope).unwrap_or(Value::Null),
        );
        Draft {
            kind: events::StreamDelta::NAME,
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
        cursor: Option<CursorAdvance>,
    ) -> Result<u64, StoreError> {
        let next_seq = Arc::clone(&self.next_seq).lock_owned().await;
        self.emit_locked(next_seq, drafts, cursor, None).await
    }

    /// Emits events with the change of state they tell of (a turn that
    /// starts or ends, a tool call that starts or ends) in the same
    /// transaction, and a run cursor's advance if given.
    pub async fn emit_with_change(
        &self,
        drafts: Vec<Draft>,
        cursor: Option<CursorAdvance>,
        change: StateChange,
    ) -> Result<u64, StoreError> {
        let next_seq = Arc::clone(&self.next_seq).lock_owned().await;
        self.emit_locked(next_seq, drafts, cursor, Some(change))
            .await
    }

    /// Emits events that `build` drafts while the emit lock is held, so a
    /// snapshot of the runtime's state is never overtaken by an event
    /// emitted between reading the state and taking its `event_seq`.
    pub async fn emit_built<F: Future<Output = Vec<Draft>>>(
        &self,
        build: impl FnOnce() -> F,
    ) -> Result<u64, StoreError> {
        let next_seq = Arc::clone(&self.next_seq).lock_owned().await;
        let drafts = build().await;
        self.emit_locked(next_seq, drafts, None, None).await
    }

    /// Numbers, writes and hands out events in a task of its own, which
    /// finishes even if the emitter is dropped midway (an aborted turn, a
    /// closed connection): events written but never counted here would
    /// have their numbers taken again by the next emit, which then fails.
    async fn emit_locked(
        &self,
        mut next_seq: OwnedMutexGuard<u64>,
        drafts: Vec<Draft>,
        cursor: Option<CursorAdvance>,
        change: Option<StateChange>,
    ) -> Result<u64, StoreError> {
        let Some(log) = self.this.upgrade() else {
            return Err(StoreError::Interrupted);
        };
        tokio::spawn(async move {
            log.write_and_hand_out(&mut next_seq, drafts, cursor, change)
                .await
        })
        .await
        .map_err(|_| StoreError::Interrupted)?
    }

    async fn write_and_hand_out(
        &self,
        next_seq: &mut u64,
        drafts: Vec<Draft>,
        cursor: Option<CursorAdvance>,
        change: Option<StateChange>,
    ) -> Result<u64, StoreError> {
        let emitted_at = crate::util::now_rfc3339();
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
        self.store
            .append_events(self.runtime_id, &rows, cursor, change)
            .await?;
        if rows.is_empty() {
            return Ok(*next_seq - 1);
        }
        let previous = *next_seq - 1;
        let last = rows.last().map_or(previous, |(seq, _)| *seq);
        *next_seq = last + 1;
        {
            let mut recent = lock(&self.recent);
            for (seq, frame) in frames {
                recent.push(seq, Arc::from(frame));
            }
        }
        self.latest.send_replace(last);
        self.hand_to_live_subscribers(last);
        Ok(last)
    }

    /// Gives each live subscriber the events it has not had, without
    /// waiting: a full queue moves it to catching up instead. Runs with the
    /// emit lock held, so events reach every subscriber in order.
    fn hand_to_live_subscribers(&self, last: u64) {
        let mut subscribers = lock(&self.subscribers);
        let mut gone = Vec::new();
        for (id, subscription) in subscribers.iter_mut() {
            if !matches!(subscription.mode, Mode::Live) || subscription.cursor() >= last {
                continue;
            }
            let pending = self
                .recent_after(subscription.cursor(), usize::MAX)
                .unwrap_or_default();
            // An empty list means the ring no longer reaches the cursor.
            let mut fell_behind = pending.is_empty();
            for (seq, frame) in pending {
                match subscription.connection.try_push(&frame) {
                    Ok(()) => {
                        subscription.delivered.send_replace(seq);
                    }
                    Err(TryPushError::Full) => {
                        fell_behind = true;
                        break;
                    }
                    Err(TryPushError::Gone) => {
                        gone.push(*id);
                        break;
                    }
                }
            }
            if fell_behind
                && !gone.contains(id)
                && let Some(log) = self.this.upgrade()
            {
                subscription.mode = Mode::CatchingUp(tokio::spawn(catch_up(
                    log,
                    subscription.connection.clone(),
                    subscription.cursor(),
                    subscription.delivered.clone(),
                )));
            }
        }
        for id in gone {
            subscribers.remove(&id);
        }
    }

    /// Applies retention: keeps the newest events. Called by the daemon's
    /// maintenance task, off the path from chunk to frontend. Deletes only
    /// once the log has outgrown retention by a sixteenth, so a busy log is
    /// trimmed in batches and an idle one never takes the write lock.
    pub async fn trim(&self) {
        let through = self.latest().saturating_sub(self.retention);
        let slack = self.retention / 16;
        if through <= self.trimmed_through.load(Ordering::Relaxed) + slack {
            return;
        }
        match self
            .store
            .trim_events(self.runtime_id, self.retention)
            .await
        {
            Ok(_) => self.trimmed_through.store(through, Ordering::Relaxed),
            Err(err) => tracing::warn!(error = %err, "cannot trim the event log"),
        }
    }

    /// Subscribes `connection`. With `after`, delivery (re)starts after that
    /// `event_seq`; without, an existing subscription is kept and a new one
    /// starts with the next event. Returns a watch of the last delivered seq.
    pub async fn subscribe(
        self: &Arc<Self>,
        connection: &Arc<dyn EventSink>,
        after: Option<u64>,
    ) -> Result<watch::Receiver<u64>, SubscribeError> {
        if let Some(after) = after
            && let Some(first) = self.store.first_event_seq(self.runtime_id).await?
            && after + 1 < first
        {
            return Err(SubscribeError::Expired { first_kept: first });
        }
        // No event may be emitted between reading the latest seq and
        // registering the subscription.
        let _emitting = self.next_seq.lock().await;
        let latest = self.latest();
        let mut subscribers = lock(&self.subscribers);
        if after.is_none()
            && let Some(existing) = subscribers.get(&connection.id())
            && !existing.connection.is_closed()
        {
            return Ok(existing.delivered.subscribe());
        }
        let start = after.unwrap_or(latest).min(latest);
        let (delivered, watcher) = watch::channel(start);
        let mode = if start == latest {
            Mode::Live
        } else {
            Mode::CatchingUp(tokio::spawn(catch_up(
                self.clone(),
                connection.clone(),
                start,
                delivered.clone(),
            )))
        };
        let subscription = Subscription {
            connection: connection.clone(),
            delivered,
            mode,
        };
        if let Some(previous) = subscribers.insert(connection.id(), subscription)
            && let Mode::CatchingUp(task) = previous.mode
        {
            task.abort();
        }
        Ok(watcher)
    }

    pub fn subscriber_count(&self) -> usize {
        lock(&self.subscribers)
            .values()
            .filter(|subscription| !subscription.connection.is_closed())
            .count()
    }

    /// Up to `limit` events after `cursor` from the ring, or `None` when the
    /// ring no longer reaches back to `cursor`.
    fn recent_after(&self, cursor: u64, limit: usize) -> Option<Vec<(u64, Arc<str>)>> {
        let recent = &lock(&self.recent).events;
        let (oldest, _) = recent.front()?;
        if *oldest > cursor + 1 {
            return None;
        }
        // The ring holds consecutive seqs, so the cursor gives the index.
        let start = usize::try_from(cursor + 1 - oldest).unwrap_or(usize::MAX);
        Some(
            recent
                .range(start.min(recent.len())..)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// Events after `cursor`, from memory when possible.
    async fn after(&self, cursor: u64) -> Result<Vec<(u64, Arc<str>)>, StoreError> {
        if let Some(events) = self.recent_after(cursor, CATCH_UP_BATCH as usize) {
            return Ok(events);
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

/// Sends a connection the events after `cursor`, waiting for room in its
/// queue, until it has caught up; then hands it back to live delivery.
async fn catch_up(
    log: Arc<EventLog>,
    connection: Arc<dyn EventSink>,
    mut cursor: u64,
    delivered: watch::Sender<u64>,
) {
    loop {
        let events = match log.after(cursor).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(connection = connection.id(), error = %err, "cannot read the event log");
                return;
            }
        };
        if events.is_empty() {
            // Caught up. Under the emit lock nothing new can slip by between
            // this check and going live.
            let _emitting = log.next_seq.lock().await;
            if log.latest() > cursor {
                continue;
            }
            if let Some(subscription) = lock(&log.subscribers).get_mut(&connection.id()) {
                subscription.mode = Mode::Live;
            }
            return;
        }
        if events.first().is_some_and(|(first, _)| *first > cursor + 1) {
            // Retention removed events this connection has not received.
            connection.close(format!(
                "this connection fell behind the event log: events after {cursor} are no longer kept; reconnect and sync without after_event_seq"
            ));
            return;
        }
        for (seq, frame) in events {
            if connection.push(&frame).await.is_err() {
                return;
            }
            cursor = seq;
            delivered.send_replace(cursor);
        }
    }
}

#[cfg(test)]
mod tests;
