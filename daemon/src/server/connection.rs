//! The life of one client connection, whatever its transport.
//!
//! A transport turns its socket into a stream of [`Inbound`] messages and a
//! writer task fed by a bounded channel of outgoing texts; [`serve`] does the
//! rest: it answers each message (several at once, so a slow method does not
//! hold up the next), stops reading at shutdown, and lets the answers in
//! flight finish before the connection closes. The writer owns the socket, so
//! a slow client never blocks request handling for anyone else.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::frames::{self, MalformedFrame};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::dispatch::{Dispatcher, error_response};

/// Messages a connection may have in flight at once before it stops reading.
const MAX_IN_FLIGHT: usize = 64;
/// Outgoing messages buffered per connection.
pub const OUTBOUND_CAPACITY: usize = 1024;

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

    fn error(&self, error: RpcError) -> String {
        match self.codec {
            Codec::JsonRpc => error_response(Value::Null, error),
            Codec::Frames => frames::malformed_frame(&MalformedFrame {
                request_id: None,
                error,
            })
            .to_string(),
        }
    }
}

/// Serves one connection until the client leaves or the daemon shuts down.
pub async fn serve<S>(
    responder: Responder,
    mut inbound: S,
    outbound: mpsc::Sender<String>,
    shutdown: CancellationToken,
) where
    S: Stream<Item = std::io::Result<Inbound>> + Unpin,
{
    let responder = Arc::new(responder);
    let connection = responder.dispatcher.connection().id;
    let mut in_flight = JoinSet::new();
    loop {
        if in_flight.len() >= MAX_IN_FLIGHT {
            in_flight.join_next().await;
            continue;
        }
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
            next = inbound.next() => next,
        };
        let message = match next {
            None => break,
            Some(Ok(message)) => message,
            Some(Err(err)) => {
                tracing::debug!(connection, error = %err, "connection read failed");
                break;
            }
        };
        let responder = responder.clone();
        let outbound = outbound.clone();
        in_flight.spawn(async move {
            if let Some(reply) = responder.respond(message).await {
                // A closed channel means the client is gone; nothing to do.
                let _ = outbound.send(reply).await;
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
    tracing::debug!(connection, "connection closed");
}
