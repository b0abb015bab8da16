//! Transports: the local socket and the HTTP/WebSocket listener, both
//! feeding the same per-connection pipeline ([`connection`]) into the same
//! method table ([`dispatch`]).

pub mod connection;
pub mod dispatch;
pub mod http;
pub mod local_socket;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use jsonrpsee::Methods;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::rpc::{ConnectionInfo, DaemonState, Transport};
use connection::{Codec, EVENT_CAPACITY, Responder};
use dispatch::Dispatcher;
use tokio::sync::mpsc;

/// What every transport shares.
pub struct Shared {
    pub methods: Methods,
    pub state: Arc<DaemonState>,
    /// Cancelled when the daemon starts shutting down.
    pub shutdown: CancellationToken,
    /// Every live connection, so shutdown can wait for their last replies.
    pub connections: TaskTracker,
    pub max_message_bytes: usize,
    ready: AtomicBool,
    next_connection_id: AtomicUsize,
}

impl Shared {
    pub fn new(methods: Methods, state: Arc<DaemonState>, max_message_bytes: usize) -> Self {
        Shared {
            methods,
            state,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            max_message_bytes,
            ready: AtomicBool::new(false),
            next_connection_id: AtomicUsize::new(1),
        }
    }

    /// Whether the daemon takes work (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.shutdown.is_cancelled()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// A responder for a new connection on `transport`, and the receiving
    /// end of the connection's event queue.
    pub fn open_connection(&self, transport: Transport) -> (Responder, mpsc::Receiver<String>) {
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let (events, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let connection = Arc::new(ConnectionInfo::new(id, transport, events));
        let codec = match transport {
            Transport::LocalSocket | Transport::WebSocketRpc => Codec::JsonRpc,
            Transport::WebSocketFrames => Codec::Frames,
        };
        tracing::debug!(connection = id, ?transport, "connection opened");
        let dispatcher = Dispatcher::new(self.methods.clone(), connection, self.max_message_bytes);
        (
            Responder::new(dispatcher, codec, self.max_message_bytes),
            events_rx,
        )
    }
}
