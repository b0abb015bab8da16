//! The floor: a WebSocket server that does nothing but answer
//! `app_server_info` frames, so the cost of the transport and the client is
//! measured apart from the daemon's own work.

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

pub async fn serve(port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                let reply = json!({
                    "type": "app_server_info_response",
                    "request_id": frame.get("request_id").cloned().unwrap_or(Value::Null),
                    "success": true,
                    "backend": "api",
                    "letta_code_version": "0.0.0",
                    "protocol_version": 1,
                    "capabilities": {
                        "agent_management": false, "conversation_management": false,
                        "memory_management": false, "runtime_start": false, "split_channels": false,
                    },
                });
                if socket
                    .send(Message::Text(reply.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
