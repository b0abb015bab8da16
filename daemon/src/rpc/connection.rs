//! Who is calling: the per-connection context every handler sees.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::mpsc;

use crate::runtime::{EventSink, Pushing, SinkGone, TryPushError};
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

    /// Resolves when [`ConnectionInfo::close`] was called; gives the reason.
    pub async fn closing(&self) -> &str {
        self.closing.cancelled().await;
        self.close_reason
            .get()
            .map(String::as_str)
            .unwrap_or("closed by the daemon")
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

    /// The protocol version agreed in `initialize`, or the current one.
    pub fn protocol_version(&self) -> u32 {
        self.protocol_version.load(Ordering::Relaxed)
    }

    pub(super) fn set_protocol_version(&self, version: u32) {
        self.protocol_version.store(version, Ordering::Relaxed);
    }
}

/// Runtime events reach a connection as frames on `/ws` and as `event`
/// notifications on JSON-RPC transports.
impl EventSink for ConnectionInfo {
    fn id(&self) -> usize {
        self.id
    }

    fn try_push(&self, frame: &str) -> Result<(), TryPushError> {
        self.events
            .try_send(self.encode_event(frame))
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => TryPushError::Full,
                mpsc::error::TrySendError::Closed(_) => TryPushError::Gone,
            })
    }

    fn push<'a>(&'a self, frame: &'a str) -> Pushing<'a> {
        Box::pin(async move {
            self.events
                .send(self.encode_event(frame))
                .await
                .map_err(|_| SinkGone)
        })
    }

    fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// Asks the connection to close, telling the client why.
    fn close(&self, reason: String) {
        let _ = self.close_reason.set(reason);
        self.closing.cancel();
    }
}
