//! Letta Code frames over `/ws`: `{type, request_id, ...}` commands, reply
//! frames matched by `request_id`, and everything else (events, error
//! frames without a request id) delivered in order as unsolicited frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use letta_protocol::Method;
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ClientError;

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// Unsolicited frames kept for the caller before the oldest are dropped.
const UNSOLICITED_CAPACITY: usize = 4096;

/// A Letta Code frame connection.
pub struct FrameClient {
    sink: tokio::sync::Mutex<Sink>,
    pending: Pending,
    unsolicited: tokio::sync::Mutex<mpsc::Receiver<Value>>,
    next_request: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl FrameClient {
    /// Connects to `url` (e.g. `ws://127.0.0.1:4500/ws`), sending
    /// `Authorization: Bearer <token>` when a token is given.
    pub async fn connect(url: &str, auth_token: Option<&str>) -> Result<FrameClient, ClientError> {
        let connect_error = |err: &dyn std::fmt::Display| ClientError::Connect {
            target: url.to_owned(),
            source: std::io::Error::other(err.to_string()),
        };
        let mut request = url
            .into_client_request()
            .map_err(|err| connect_error(&err))?;
        if let Some(token) = auth_token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|err| connect_error(&err))?;
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _) = tokio_tungstenite::connect_async_with_config(
            request,
            Some(crate::websocket_config()),
            true,
        )
        .await
        .map_err(|err| connect_error(&err))?;
        let (sink, mut stream) = socket.split();
        let pending: Pending = Arc::default();
        let (unsolicited_tx, unsolicited) = mpsc::channel(UNSOLICITED_CAPACITY);
        let routes = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                let waiter = frame.get("request_id").map(request_key).and_then(|key| {
                    routes
                        .lock()
                        .ok()
                        .and_then(|mut routes| routes.remove(&key))
                });
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(frame);
                    }
                    None => {
                        let _ = unsolicited_tx.try_send(frame);
                    }
                }
            }
        });
        Ok(FrameClient {
            sink: tokio::sync::Mutex::new(sink),
            pending,
            unsolicited: tokio::sync::Mutex::new(unsolicited),
            next_request: AtomicU64::new(1),
            reader,
        })
    }

    /// Sends a command frame and waits for the frame that answers it. A
    /// `request_id` is added when the frame has none.
    pub async fn request(
        &self,
        mut frame: Map<String, Value>,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let request_id = match frame.get("request_id") {
            Some(id) => id.clone(),
            None => {
                let kind = frame.get("type").and_then(Value::as_str).unwrap_or("req");
                let id = Value::from(format!(
                    "{kind}-{}",
                    self.next_request.fetch_add(1, Ordering::Relaxed)
                ));
                frame.insert("request_id".to_owned(), id.clone());
                id
            }
        };
        let key = request_key(&request_id);
        let (reply_tx, reply_rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(key.clone(), reply_tx);
        }
        if let Err(err) = self.send(Value::Object(frame)).await {
            self.forget(&key);
            return Err(err);
        }
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(ClientError::Disconnected(
                "the connection closed before the reply".to_owned(),
            )),
            Err(_) => {
                self.forget(&key);
                Err(ClientError::Timeout(timeout))
            }
        }
    }

    /// Calls method `M` as a frame and returns its typed result; a failure
    /// frame becomes [`ClientError::Rpc`].
    pub async fn call<M: Method>(
        &self,
        params: &M::Params,
        timeout: Duration,
    ) -> Result<M::Result, ClientError> {
        let Value::Object(mut frame) =
            serde_json::to_value(params).map_err(|err| ClientError::Protocol(err.to_string()))?
        else {
            return Err(ClientError::Protocol(format!(
                "{} params are not an object",
                M::NAME
            )));
        };
        frame.insert("type".to_owned(), Value::from(M::NAME));
        let Value::Object(mut reply) = self.request(frame, timeout).await? else {
            return Err(ClientError::Protocol("reply is not an object".to_owned()));
        };
        if let Some(message) = reply.get("error").and_then(Value::as_str) {
            let code = reply
                .get("error_code")
                .and_then(Value::as_i64)
                .and_then(|code| i32::try_from(code).ok())
                .unwrap_or(0);
            return Err(ClientError::Rpc(letta_protocol::errors::RpcError {
                code,
                message: message.to_owned(),
                data: reply.get("error_data").cloned(),
            }));
        }
        reply.remove("type");
        reply.remove("request_id");
        serde_json::from_value(Value::Object(reply))
            .map_err(|err| ClientError::Protocol(err.to_string()))
    }

    /// Sends a frame without waiting for anything.
    pub async fn send(&self, frame: Value) -> Result<(), ClientError> {
        self.send_text(frame.to_string()).await
    }

    /// Sends raw text, valid JSON or not.
    pub async fn send_text(&self, text: String) -> Result<(), ClientError> {
        self.sink
            .lock()
            .await
            .send(Message::Text(text.into()))
            .await
            .map_err(|err| ClientError::Disconnected(err.to_string()))
    }

    /// The next frame that answered no request, waiting up to `timeout`.
    pub async fn next_unsolicited(&self, timeout: Duration) -> Result<Value, ClientError> {
        let mut unsolicited = self.unsolicited.lock().await;
        match tokio::time::timeout(timeout, unsolicited.recv()).await {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(ClientError::Disconnected(
                "the connection closed".to_owned(),
            )),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    fn forget(&self, key: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(key);
        }
    }
}

impl Drop for FrameClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Request ids may be strings or numbers; match them by their JSON text.
fn request_key(id: &Value) -> String {
    id.to_string()
}
