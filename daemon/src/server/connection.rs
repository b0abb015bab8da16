//! The life of one client connection, whatever its transport.
//!
//! A transport turns its socket into a stream of [`Inbound`] messages and a
//! sink of outgoing texts; [`serve`] does the rest. One task per connection
//! reads, answers and writes, so a request costs no hop between threads.
//! Commands on one connection take effect in the order they were sent (two
//! inputs sent back to back queue in that order): the next message is read
//! once the previous one is answered. Events for the connection arrive
//! through a bounded channel and keep being written while a command is being
//! answered; events queued before an answer are written before it, which is
//! what lets `sync` promise "replay, then sync_response". A slow client only
//! ever slows its own connection, and one that leaves a write unread for the
//! connection's write timeout is cut, told why: what it missed stays in the
//! event log for it to resume from. At shutdown it stops reading and lets
//! the answer in flight finish before closing.

use crate::rpc::Transport;
use futures_util::stream::FuturesUnordered;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::frames::{self, MalformedFrame};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::dispatch::{Dispatcher, error_response};

/// Messages answered at once per connection: one, to keep commands in order.
const MAX_IN_FLIGHT: usize = 1;
/// Most queued events written behind one message before a flush.
const WRITE_BURST: usize = 256;
/// Events buffered per connection before it counts as too slow.
pub const EVENT_CAPACITY: usize = 1024;
/// How long a close frame may wait for a client that is not reading.
pub const FAREWELL_GRACE: Duration = Duration::from_secs(1);

/// One message read off a transport.
#[derive(Debug)]
pub enum Inbound {
    Text(String),
    /// A message over the size limit (already discarded).
    TooLarge,
    /// Something that is not a UTF-8 text message.
    NotText(&'static str),
}

/// Which language the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    JsonRpc,
    Frames,
}

/// Answers the messages of one connection.
pub struct Responder {
    dispatcher: Dispatcher,
    codec: Codec,
    max_message_bytes: usize,
}

impl Responder {
    pub fn new(dispatcher: Dispatcher, codec: Codec, max_message_bytes: usize) -> Self {
        Responder {
            dispatcher,
            codec,
            max_message_bytes,
        }
    }

    /// The text owed back for one message, if any.
    pub async fn respond(&self, inbound: Inbound) -> Option<String> {
        match inbound {
            Inbound::Text(text) if text.len() > self.max_message_bytes => {
                Some(self.error(RpcError::message_too_large(self.max_message_bytes)))
            }
            Inbound::Text(text) if text.trim().is_empty() => None,
            Inbound::Text(text) => match self.codec {
                Codec::JsonRpc => self.dispatcher.handle_jsonrpc(&text).await,
                Codec::Frames => self.dispatcher.handle_frame(&text).await,
            },
            Inbound::TooLarge => {
                Some(self.error(RpcError::message_too_large(self.max_message_bytes)))
            }
            Inbound::NotText(what) => Some(self.error(RpcError::new(
                ErrorCode::ParseError,
                format!("{what}: send UTF-8 JSON text"),
            ))),
        }
    }

    pub fn error(&self, error: RpcError) -> String {
        self.codec.error(error)
    }
}

impl Codec {
    pub fn of(transport: Transport) -> Codec {
        match transport {
            Transport::LocalSocket | Transport::WebSocketRpc => Codec::JsonRpc,
            Transport::WebSocketFrames => Codec::Frames,
        }
    }

    /// An error that answers no request in particular.
    pub fn error(self, error: RpcError) -> String {
        match self {
            Codec::JsonRpc => error_response(Value::Null, error),
            Codec::Frames => frames::malformed_frame(&MalformedFrame {
                request_id: None,
                error: Box::new(error),
            })
            .to_string(),
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client left, or the daemon shut down.
    Closed,
    /// The daemon cut the connection, after sending the client an error
    /// saying why (if it could still take one).
    Cut,
}

/// What the loop writes next, ahead of the events queued behind it.
enum Next {
    Event(String),
    /// An answer; the events queued while it was computed go first.
    Reply(String),
}

/// Serves one connection until the client leaves, the daemon shuts down or
/// cuts it; a write the client leaves unread for `write_timeout` cuts it.
pub async fn serve<S, W>(
    responder: Responder,
    mut inbound: S,
    sink: &mut W,
    mut events: mpsc::Receiver<String>,
    shutdown: CancellationToken,
    write_timeout: Duration,
) -> Ended
where
    S: Stream<Item = std::io::Result<Inbound>> + Unpin,
    W: Sink<String> + Unpin,
    W::Error: std::fmt::Display,
{
    let info = responder.dispatcher.connection_arc();
    let connection = info.id;
    let mut in_flight = FuturesUnordered::new();
    let mut reading = true;
    loop {
        if !reading && in_flight.is_empty() {
            break;
        }
        let outgoing = tokio::select! {
            biased;
            () = shutdown.cancelled(), if reading => {
                reading = false;
                continue;
            }
            reason = info.closing() => {
                tracing::info!(connection, reason, "closing connection");
                let reason = reason.to_owned();
                return cut(sink, &responder, &mut events, reason, write_timeout).await;
            }
            Some(event) = events.recv() => Next::Event(event),
            Some(reply) = in_flight.next(), if !in_flight.is_empty() => match reply {
                Some(reply) => Next::Reply(reply),
                None => continue,
            },
            next = inbound.next(), if reading && in_flight.len() < MAX_IN_FLIGHT => match next {
                Some(Ok(message)) => {
                    in_flight.push(responder.respond(message));
                    continue;
                }
                Some(Err(err)) => {
                    tracing::debug!(connection, error = %err, "connection read failed");
                    reading = false;
                    continue;
                }
                None => {
                    reading = false;
                    continue;
                }
            },
        };
        let written = tokio::time::timeout(
            write_timeout,
            write_with_queued(sink, outgoing, &mut events),
        )
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!(connection, error = %err, "connection write failed");
                return Ended::Closed;
            }
            Err(_) => {
                tracing::warn!(connection, "cutting a connection that does not read");
                let reason = format!(
                    "this connection left the daemon's writes unread for {} s and was cut; \
                     reconnect and sync each runtime with after_event_seq set to the last \
                     event_seq received",
                    write_timeout.as_secs()
                );
                return cut(sink, &responder, &mut events, reason, write_timeout).await;
            }
        }
    }
    tracing::debug!(connection, "connection closed");
    Ended::Closed
}

/// Stops the connection's events (its subscriptions end with them) and
/// tells the client why, after what it was already sent, if it reads that
/// within `linger`.
async fn cut<W>(
    sink: &mut W,
    responder: &Responder,
    events: &mut mpsc::Receiver<String>,
    reason: String,
    linger: Duration,
) -> Ended
where
    W: Sink<String> + Unpin,
{
    events.close();
    let farewell = responder.error(RpcError::new(ErrorCode::Overloaded, reason));
    let _ = tokio::time::timeout(linger, sink.send(farewell)).await;
    Ended::Cut
}

/// Writes a message and whatever events are already queued behind it,
/// then flushes once: one system call for a burst instead of one per event.
async fn write_with_queued<W>(
    sink: &mut W,
    next: Next,
    events: &mut mpsc::Receiver<String>,
) -> Result<(), W::Error>
where
    W: Sink<String> + Unpin,
{
    match next {
        Next::Event(event) => sink.feed(event).await?,
        Next::Reply(reply) => {
            // Events queued while the answer was computed (another thread
            // may have queued them after `recv` came up empty) go out
            // first: `sync` relies on it.
            while let Ok(event) = events.try_recv() {
                sink.feed(event).await?;
            }
            sink.feed(reply).await?;
        }
    }
    for _ in 0..WRITE_BURST {
        match events.try_recv() {
            Ok(event) => sink.feed(event).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}
