//! Where a subscriber's events go. The runtime defines this seam; the
//! transport layer implements it for its connections, so the runtime never
//! knows what a connection is.

use std::future::Future;
use std::pin::Pin;

/// Queuing an event for a subscriber, waiting for room.
pub type Pushing<'a> = Pin<Box<dyn Future<Output = Result<(), SinkGone>> + Send + 'a>>;

pub trait EventSink: Send + Sync {
    /// Tells the subscribers of one runtime apart.
    fn id(&self) -> usize;
    /// Queues an event if there is room right now.
    fn try_push(&self, frame: &str) -> Result<(), TryPushError>;
    /// Queues an event, waiting while the queue is full; fails once the
    /// subscriber is gone.
    fn push<'a>(&'a self, frame: &'a str) -> Pushing<'a>;
    fn is_closed(&self) -> bool;
    /// Ends the subscriber's connection, telling it why.
    fn close(&self, reason: String);
}

/// Why an event could not be queued without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryPushError {
    /// The queue is full: the subscriber reads more slowly than events come.
    Full,
    /// The subscriber has gone.
    Gone,
}

/// The subscriber an event was meant for has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber is gone")]
pub struct SinkGone;
