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
use std::time::Duration;

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
    /// Connections served at once; one more is refused with a reason.
    max_connections: usize,
    /// A write a client leaves unread this long cuts its connection.
    write_timeout: Duration,
    ready: AtomicBool,
    next_connection_id: AtomicUsize,
    open_connections: Arc<AtomicUsize>,
}

/// A connection being served: its responder, the receiving end of its
/// event queue, and the lease that ends it.
pub struct Opened {
    pub responder: Responder,
    pub events: mpsc::Receiver<String>,
    pub lease: ConnectionLease,
    pub write_timeout: Duration,
}

/// Held while a connection is served. Dropping it, however the connection
/// ended, frees its slot and withdraws what it registered (its external
/// tools, its file watches, its view of terminals — which go on), so
/// reconnecting frontends do not pile up registrations.
pub struct ConnectionLease {
    id: usize,
    state: Arc<DaemonState>,
    open_connections: Arc<AtomicUsize>,
    shutdown: CancellationToken,
}

impl Drop for ConnectionLease {
    fn drop(&mut self) {
        self.open_connections.fetch_sub(1, Ordering::AcqRel);
        self.state.watches.release(self.id);
        self.state.terminals.detach(self.id);
        self.state.watches.release(self.id);
        // While the daemon stops, registrations go with it anyway.
        if self.shutdown.is_cancelled() {
            return;
        }
        let (id, state) = (self.id, self.state.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { state.runtimes.connection_closed(id).await });
        }
    }
}

/// Why a connection was not taken.
#[derive(Debug, thiserror::Error)]
#[error("the daemon already serves {0} connections, its limit; close one and retry")]
pub struct TooManyConnections(usize);

impl Shared {
    pub fn new(
        methods: Methods,
        state: Arc<DaemonState>,
        max_message_bytes: usize,
        max_connections: usize,
        write_timeout: Duration,
    ) -> Self {
        Shared {
            methods,
            state,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            max_message_bytes,
            max_connections,
            write_timeout,
            ready: AtomicBool::new(false),
            next_connection_id: AtomicUsize::new(1),
            open_connections: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether the daemon takes work (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.shutdown.is_cancelled()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Takes a new connection on `transport`, unless the most allowed are
    /// already served.
    pub fn open_connection(&self, transport: Transport) -> Result<Opened, TooManyConnections> {
        if self.open_connections.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
            self.open_connections.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(
                limit = self.max_connections,
                "refusing a connection: too many open"
            );
            return Err(TooManyConnections(self.max_connections));
        }
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let lease = ConnectionLease {
            id,
            state: self.state.clone(),
            open_connections: self.open_connections.clone(),
            shutdown: self.shutdown.clone(),
        };
        let (events, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let connection = Arc::new(ConnectionInfo::new(id, transport, events));
        let codec = Codec::of(transport);
        tracing::debug!(connection = id, ?transport, "connection opened");
        let dispatcher = Dispatcher::new(self.methods.clone(), connection, self.max_message_bytes);
        Ok(Opened {
            responder: Responder::new(dispatcher, codec, self.max_message_bytes),
            events: events_rx,
            lease,
            write_timeout: self.write_timeout,
        })
    }

    /// The error a refused connection is told, as its transport carries it.
    pub fn refusal(&self, transport: Transport) -> String {
        let error = letta_protocol::errors::RpcError::new(
            letta_protocol::errors::ErrorCode::Overloaded,
            TooManyConnections(self.max_connections).to_string(),
        );
        Codec::of(transport).error(error)
    }
}
