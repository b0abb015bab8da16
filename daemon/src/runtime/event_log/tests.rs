use super::*;
use crate::runtime::{Pushing, SinkGone};
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

/// An emitter dropped at any moment (an aborted turn, a closed
/// connection) either emitted its events or did not: the next emit
/// still goes through and the numbers stay consecutive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emit_abandoned_midway_leaves_the_log_consistent() {
    let (_dir, log) = log().await;
    for yields in 0..400 {
        let emitter = tokio::spawn({
            let log = log.clone();
            async move {
                let drafts = (0..50).map(|_| draft(&log)).collect();
                log.emit_all(drafts, None).await
            }
        });
        for _ in 0..yields % 40 {
            tokio::task::yield_now().await;
        }
        emitter.abort();
        let _ = emitter.await;

        let next = tokio::time::timeout(Duration::from_secs(2), log.emit(draft(&log))).await;
        let Ok(Ok(seq)) = next else {
            panic!("the emit after abandoning emit {yields}: {next:?}");
        };
        assert_eq!(seq, log.latest());
    }
    let stored = log
        .store
        .events_after(log.runtime_id, 0, u32::MAX)
        .await
        .unwrap();
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    let expected: Vec<u64> = (1..=log.latest()).collect();
    assert_eq!(seqs, expected);
}

#[tokio::test]
async fn a_snapshot_drafted_under_the_lock_is_not_overtaken() {
    let (_dir, log) = log().await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (drafting, started) = tokio::sync::oneshot::channel::<()>();
    let snapshot = tokio::spawn({
        let log = log.clone();
        async move {
            log.emit_built(|| async {
                let _ = drafting.send(());
                let _ = released.await;
                vec![draft(&log)]
            })
            .await
            .unwrap()
        }
    });
    started.await.unwrap();
    // An event emitted while the snapshot is being drafted waits for it.
    let racing = tokio::spawn({
        let log = log.clone();
        async move { log.emit(draft(&log)).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!racing.is_finished(), "the emit went ahead of the snapshot");
    release.send(()).unwrap();
    let snapshot_seq = snapshot.await.unwrap();
    assert!(racing.await.unwrap() > snapshot_seq);
}

/// A subscriber whose events land in a bounded channel.
struct ChannelSink {
    id: usize,
    events: tokio::sync::mpsc::Sender<String>,
}

impl EventSink for ChannelSink {
    fn id(&self) -> usize {
        self.id
    }

    fn try_push(&self, frame: &str) -> Result<(), TryPushError> {
        self.events
            .try_send(frame.to_owned())
            .map_err(|err| match err {
                tokio::sync::mpsc::error::TrySendError::Full(_) => TryPushError::Full,
                tokio::sync::mpsc::error::TrySendError::Closed(_) => TryPushError::Gone,
            })
    }

    fn push<'a>(&'a self, frame: &'a str) -> Pushing<'a> {
        Box::pin(async move {
            self.events
                .send(frame.to_owned())
                .await
                .map_err(|_| SinkGone)
        })
    }

    fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    fn close(&self, _reason: String) {}
}

fn connection(
    id: usize,
    capacity: usize,
) -> (Arc<dyn EventSink>, tokio::sync::mpsc::Receiver<String>) {
    let (events, receiver) = tokio::sync::mpsc::channel(capacity);
    (Arc::new(ChannelSink { id, events }), receiver)
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
    let total = (RECENT_BYTES / 64 + 1000) as u64;
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
async fn the_fast_stream_delta_is_the_typed_one() {
    let (_dir, log) = log().await;
    let mut delta = Map::new();
    delta.insert("message_type".into(), Value::from("assistant_message"));
    delta.insert("content".into(), Value::from("hi"));
    let fast = log.stream_delta(delta.clone());
    let typed = log.draft::<events::StreamDelta>(|envelope| letta_protocol::StreamDeltaEvent {
        envelope,
        delta: Value::Object(delta),
        subagent_id: None,
    });
    let without_envelope_values = |draft: &Draft| {
        let mut frame = draft.frame.clone();
        for key in ["event_seq", "emitted_at", "idempotency_key"] {
            frame.remove(key);
        }
        frame
    };
    assert_eq!(
        without_envelope_values(&fast),
        without_envelope_values(&typed)
    );
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
