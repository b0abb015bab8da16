//! WebSocket connections: each text message is one JSON-RPC message (`/rpc`)
//! or one Letta Code frame (`/ws`).
//!
//! Messages up to the configured limit are served; messages over it but
//! within twice the limit are read, discarded and answered with an error, so
//! the connection stays usable; anything larger is cut off by the WebSocket
//! layer and the connection is closed with code 1009 (message too big).

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};

use super::Shared;
use super::connection::{self, Inbound};
use super::http::transport_name;
use crate::rpc::Transport;

/// Bytes read from a WebSocket at a time.
const READ_BUFFER_BYTES: usize = 8 * 1024;

pub async fn upgrade_rpc(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade_to(shared, upgrade, Transport::WebSocketRpc)
}

pub async fn upgrade_frames(
    State(shared): State<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade_to(shared, upgrade, Transport::WebSocketFrames)
}

fn upgrade_to(shared: Arc<Shared>, upgrade: WebSocketUpgrade, transport: Transport) -> Response {
    let hard_limit = shared.max_message_bytes.saturating_mul(2);
    upgrade
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        // The default 128 KiB read buffer is zeroed on every read attempt;
        // a connection that is mostly written to would pay that per event.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let connections = shared.connections.clone();
            connections.track_future(serve_socket(shared, socket, transport))
        })
}

async fn serve_socket(shared: Arc<Shared>, mut socket: WebSocket, transport: Transport) {
    let Ok(opened) = shared.open_connection(transport) else {
        let _ = socket
            .send(Message::Text(shared.refusal(transport).into()))
            .await;
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: close_code::AGAIN,
                reason: "too many connections".into(),
            })))
            .await;
        return;
    };
    let (sink, stream) = socket.split();
    let close_frame = Arc::new(OnceLock::new());

    let limit = shared.max_message_bytes;
    let too_large = close_frame.clone();
    let inbound = stream
        .take_while(|message| std::future::ready(!matches!(message, Ok(Message::Close(_)))))
        .filter_map(move |message| {
            let inbound = match message {
                Ok(Message::Text(text)) => Some(Ok(Inbound::Text(text.as_str().to_owned()))),
                Ok(Message::Binary(_)) => Some(Ok(Inbound::NotText("binary WebSocket message"))),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => None,
                Err(err) => {
                    let err = err.to_string();
                    if err.contains("too long") || err.contains("Space limit") {
                        let reason = format!("message exceeds the {limit}-byte limit");
                        let _ = too_large.set(CloseFrame { code: close_code::SIZE, reason: reason.into() });
                    }
                    tracing::debug!(transport = transport_name(transport), error = %err, "WebSocket read failed");
                    Some(Err(std::io::Error::other(err)))
                }
            };
            std::future::ready(inbound)
        });
    let mut sink = sink
        .with(|text: String| std::future::ready(Ok::<_, axum::Error>(Message::Text(text.into()))));
    let shutdown = shared.shutdown.clone();
    let ended = connection::serve(
        opened.responder,
        Box::pin(inbound),
        &mut sink,
        opened.events,
        shutdown.clone(),
        opened.write_timeout,
    )
    .await;
    drop(opened.lease);
    if shutdown.is_cancelled() {
        let _ = close_frame.set(CloseFrame {
            code: close_code::AWAY,
            reason: "daemon shutting down".into(),
        });
    }
    if ended == connection::Ended::Cut {
        // The full reason, which says how to resume, went out as an error
        // message: a close frame's reason must fit in 123 bytes.
        let _ = close_frame.set(CloseFrame {
            code: close_code::AGAIN,
            reason: "cut by the daemon; the error sent before this frame says why".into(),
        });
    }
    let _ = tokio::time::timeout(
        connection::FAREWELL_GRACE,
        sink.get_mut()
            .send(Message::Close(close_frame.get().cloned())),
    )
    .await;
}
