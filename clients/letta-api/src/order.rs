//! A run's chunks put back in `seq_id` order.
//!
//! Letta 0.16.8 writes a background run's chunks to a Redis stream in
//! batches, from the run's own task and from a periodic flush; when the two
//! race, a chunk can land in the Redis stream ahead of the few before it,
//! and every reader of the run, now or after a resume, gets that order.
//! Taken as it comes, such a chunk garbles the text (or a tool call's
//! arguments), and a cursor advanced past it skips the ones it overtook.
//! So numbered chunks are handed on strictly in order: one that comes early
//! is held until the gap before it fills, for a bounded time and count.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::stream::{Chunk, StreamMessage};

/// How long a gap is waited for before the chunks after it are handed on
/// without it. Racing writes land milliseconds apart; a gap that outlasts
/// this is taken to be one the server will never fill. Well under the
/// shortest stall timeout (1 s), so a gap is never taken for a stall.
pub(crate) const GAP_PATIENCE: Duration = Duration::from_millis(500);

/// Most chunks held behind one gap.
const MAX_HELD: usize = 256;

/// Numbered chunks in, chunks in `seq_id` order out.
#[derive(Debug)]
pub(crate) struct InOrder {
    /// The `seq_id` to hand on next; unknown for a stream read from the
    /// start until its first numbered chunk.
    next: Option<u64>,
    /// Chunks that came ahead of `next`.
    held: BTreeMap<u64, Chunk>,
    /// Unnumbered chunks that came while others were held: they go after
    /// them.
    behind: Vec<Chunk>,
    ready: VecDeque<Chunk>,
    /// Since when the chunks held have waited.
    waiting_since: Option<Instant>,
}

impl InOrder {
    /// For a stream of the chunks after `after` (0: from the start).
    pub(crate) fn new(after: u64) -> InOrder {
        InOrder {
            next: (after > 0).then(|| after + 1),
            held: BTreeMap::new(),
            behind: Vec::new(),
            ready: VecDeque::new(),
            waiting_since: None,
        }
    }

    /// The next chunk that may be handed on.
    pub(crate) fn pop(&mut self) -> Option<Chunk> {
        self.ready.pop_front()
    }

    /// When the chunks held stop waiting for the gap before them.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.waiting_since.map(|since| since + GAP_PATIENCE)
    }

    pub(crate) fn push(&mut self, mut chunk: Chunk, now: Instant) {
        let Some(seq) = chunk.seq_id else {
            if self.held.is_empty() {
                self.ready.push_back(chunk);
            } else {
                self.behind.push(chunk);
            }
            return;
        };
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.held.contains_key(&seq) {
            // Letta's keepalive pings repeat the last seq_id read; they
            // still show the stream is alive. Anything else numbered twice
            // was handed on already.
            if chunk.message == (StreamMessage::Ping {}) {
                chunk.seq_id = None;
                self.ready.push_back(chunk);
            }
            return;
        }
        if seq > next {
            self.held.insert(seq, chunk);
            self.waiting_since.get_or_insert(now);
            if self.held.len() > MAX_HELD {
                self.skip_gap(now);
            }
            return;
        }
        self.ready.push_back(chunk);
        self.next = Some(seq + 1);
        self.release(now);
    }

    /// Gives up on the gap before the first chunk held: the chunks after it
    /// are handed on.
    pub(crate) fn skip_gap(&mut self, now: Instant) {
        let (Some(next), Some(&first)) = (self.next, self.held.keys().next()) else {
            return;
        };
        tracing::warn!(
            missing = %format!("{next}..{first}"),
            "a run stream never brought these seq_ids; going on without them"
        );
        self.next = Some(first);
        self.release(now);
    }

    /// The stream ended as the server meant it to: whatever is held is
    /// handed on, in order, gaps and all.
    pub(crate) fn flush(&mut self) {
        if let Some((&last, _)) = self.held.last_key_value() {
            self.next = Some(last + 1);
        }
        self.ready
            .extend(std::mem::take(&mut self.held).into_values());
        self.ready.extend(self.behind.drain(..));
        self.waiting_since = None;
    }

    /// Hands on the held chunks that follow without a gap; the unnumbered
    /// ones behind them go too once none is left waiting.
    fn release(&mut self, now: Instant) {
        while let Some(next) = self.next
            && let Some(chunk) = self.held.remove(&next)
        {
            self.ready.push_back(chunk);
            self.next = Some(next + 1);
        }
        if self.held.is_empty() {
            self.ready.extend(self.behind.drain(..));
            self.waiting_since = None;
        } else {
            // The chunks still held wait afresh for the next gap.
            self.waiting_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(seq: Option<u64>, kind: &str) -> Chunk {
        let mut text = format!(r#"{{"message_type":"{kind}","stop_reason":"end_turn""#);
        if let Some(seq) = seq {
            text.push_str(&format!(r#","seq_id":{seq}"#));
        }
        text.push('}');
        Chunk::parse(&text).unwrap()
    }

    fn word(seq: u64) -> Chunk {
        chunk(Some(seq), "assistant_message")
    }

    fn drain(order: &mut InOrder) -> Vec<Option<u64>> {
        std::iter::from_fn(|| order.pop())
            .map(|chunk| chunk.seq_id)
            .collect()
    }

    fn push_all(order: &mut InOrder, seqs: &[u64], now: Instant) {
        for &seq in seqs {
            order.push(word(seq), now);
        }
    }

    #[test]
    fn an_early_chunk_waits_for_the_ones_it_overtook() {
        let now = Instant::now();
        let mut order = InOrder::new(0);
        push_all(&mut order, &[1, 2, 6], now);
        assert_eq!(drain(&mut order), vec![Some(1), Some(2)]);
        assert_eq!(order.deadline(), Some(now + GAP_PATIENCE));
        push_all(&mut order, &[3, 4], now);
        assert_eq!(drain(&mut order), vec![Some(3), Some(4)]);
        push_all(&mut order, &[5, 7], now);
        assert_eq!(drain(&mut order), vec![Some(5), Some(6), Some(7)]);
        assert_eq!(order.deadline(), None);
    }

    #[test]
    fn a_resumed_stream_starts_after_its_cursor() {
        let now = Instant::now();
        let mut order = InOrder::new(4);
        push_all(&mut order, &[8, 5, 6], now);
        assert_eq!(drain(&mut order), vec![Some(5), Some(6)]);
        push_all(&mut order, &[7], now);
        assert_eq!(drain(&mut order), vec![Some(7), Some(8)]);
    }

    #[test]
    fn chunks_already_handed_on_are_dropped_and_pings_kept_unnumbered() {
        let now = Instant::now();
        let mut order = InOrder::new(0);
        push_all(&mut order, &[1, 2, 2, 5], now);
        // A keepalive ping repeating the last seq_id read (held or not).
        order.push(chunk(Some(5), "ping"), now);
        order.push(chunk(Some(1), "ping"), now);
        assert_eq!(drain(&mut order), vec![Some(1), Some(2), None, None]);
        push_all(&mut order, &[5], now);
        assert_eq!(drain(&mut order), vec![]);
    }

    #[test]
    fn unnumbered_chunks_go_behind_the_held_ones() {
        let now = Instant::now();
        let mut order = InOrder::new(0);
        push_all(&mut order, &[1, 3], now);
        order.push(chunk(None, "stop_reason"), now);
        assert_eq!(drain(&mut order), vec![Some(1)]);
        push_all(&mut order, &[2], now);
        assert_eq!(drain(&mut order), vec![Some(2), Some(3), None]);
        order.push(chunk(None, "usage_statistics"), now);
        assert_eq!(drain(&mut order), vec![None]);
    }

    #[test]
    fn a_gap_never_filled_is_skipped_and_the_next_waits_afresh() {
        let start = Instant::now();
        let mut order = InOrder::new(0);
        push_all(&mut order, &[1, 4, 5, 8], start);
        assert_eq!(drain(&mut order), vec![Some(1)]);
        let later = start + GAP_PATIENCE;
        order.skip_gap(later);
        assert_eq!(drain(&mut order), vec![Some(4), Some(5)]);
        assert_eq!(order.deadline(), Some(later + GAP_PATIENCE));
        push_all(&mut order, &[2, 6], later);
        assert_eq!(drain(&mut order), vec![Some(6)]);
    }

    #[test]
    fn at_the_end_everything_held_goes_in_order() {
        let now = Instant::now();
        let mut order = InOrder::new(0);
        push_all(&mut order, &[1, 5, 3], now);
        order.push(chunk(None, "stop_reason"), now);
        order.flush();
        assert_eq!(drain(&mut order), vec![Some(1), Some(3), Some(5), None]);
        assert_eq!(order.deadline(), None);
    }

    #[test]
    fn the_chunks_held_are_bounded() {
        let now = Instant::now();
        let mut order = InOrder::new(0);
        push_all(&mut order, &[1], now);
        let early: Vec<u64> = (3..3 + MAX_HELD as u64 + 1).collect();
        push_all(&mut order, &early, now);
        let handed: Vec<Option<u64>> = drain(&mut order);
        assert_eq!(handed.len(), 1 + early.len());
        assert!(order.held.is_empty());
    }
}
