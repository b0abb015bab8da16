//! Who is calling: the per-connection context every handler sees.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which transport a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    LocalSocket,
    WebSocketRpc,
    WebSocketFrames,
}

/// Per-connection context, visible to every handler the connection calls.
#[derive(Debug)]
pub struct ConnectionInfo {
    pub id: usize,
    pub transport: Transport,
    /// Bounded queue of encoded messages pushed to this connection.
    pub events: mpsc::Sender<String>,
    protocol_version: AtomicU32,
    closing: CancellationToken,
    close_reason: OnceLock<String>,
}

impl ConnectionInfo {
    pub fn new(id: usize, transport: Transport, events: mpsc::Sender<String>) -> Self {
        ConnectionInfo {
            id,
            transport,
            events,
            protocol_version: AtomicU32::new(letta_protocol::PROTOCOL_VERSION),
            closing: CancellationToken::new(),
            close_reason: OnceLock::new(),
        }
    }

    /// Asks the connection to close, telling the client why.
    pub fn close(&self, reason: impl Into<String>) {
        let _ = self.close_reason.set(reason.into());
        self.closing.cancel();
    }

    /// Resolves when [`ConnectionInfo::close`] was called; gives the reason.
    pub async fn closing(&self) -> &str {
        self.closing.cancelled().await;
        self.close_reason
            .get()
            .map(String::as_str)
            .unwrap_or("closed by the daemon")
    }

    /// Queues an event frame for this connection, as a frame on `/ws` and as
    /// an `event` notification on JSON-RPC transports. Waits while the
    /// queue is full; fails once the connection is gone.
    pub async fn push_event(&self, frame: &str) -> Result<(), ConnectionGone> {
        self.events
            .send(self.encode_event(frame))
            .await
            .map_err(|_| ConnectionGone)
    }

    /// An event frame as this connection's transport carries it.
    fn encode_event(&self, frame: &str) -> String {
        match self.transport {
            Transport::WebSocketFrames => frame.to_owned(),
            Transport::LocalSocket | Transport::WebSocketRpc => format!(
                r#"{{"jsonrpc":"2.0","method":"{}","params":{frame}}}"#,
                letta_protocol::EVENT_NOTIFICATION
            ),
        }
    }

    /// Queues an event frame if there is room right now.
    pub fn try_push_event(&self, frame: &str) -> Result<(), TryPushError> {
        self.events
            .try_send(self.encode_event(frame))
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => TryPushError::Full,
                mpsc::error::TrySendError::Closed(_) => TryPushError::Gone,
            })
    }

    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// The protocol version agreed in `initialize`, or the current one.
    pub fn protocol_version(&self) -> u32 {
        self.protocol_version.load(Ordering::Relaxed)
    }

    pub(super) fn set_protocol_version(&self, version: u32) {
        self.protocol_version.store(version, Ordering::Relaxed);
    }
}

/// Why an event could not be queued without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryPushError {
    /// The queue is full: the client reads more slowly than events come.
    Full,
    /// The connection has closed.
    Gone,
}

/// The connection an event was meant for has closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection is closed")]
pub struct ConnectionGone;
