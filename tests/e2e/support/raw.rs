//! Raw connections that can send anything, for malformed-input tests.

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TIMEOUT;

/// The local socket, line by line.
pub struct Lines {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Lines {
    pub async fn connect(path: &Path) -> Lines {
        let stream = super::within(UnixStream::connect(path)).await.unwrap();
        let (reader, writer) = stream.into_split();
        Lines {
            reader: BufReader::new(reader),
            writer,
        }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    pub async fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes()).await;
    }

    /// The next line, parsed.
    pub async fn recv(&mut self) -> Value {
        self.recv_or_end()
            .await
            .expect("the daemon closed the connection")
    }

    /// The next line, parsed, or `None` once the daemon has closed the
    /// connection.
    pub async fn recv_or_end(&mut self) -> Option<Value> {
        let mut line = String::new();
        let read = super::within(self.reader.read_line(&mut line))
            .await
            .unwrap();
        (read > 0).then(|| parsed(&line))
    }

    pub async fn request(&mut self, text: &str) -> Value {
        self.send(text).await;
        self.recv().await
    }

    /// Sends and reads the reply; `None` if the daemon closed the
    /// connection first (a refusal it wrote may race the request).
    pub async fn try_request(&mut self, text: &str) -> Option<Value> {
        let sent = self.writer.write_all(format!("{text}\n").as_bytes()).await;
        let mut line = String::new();
        let read = super::within(self.reader.read_line(&mut line)).await;
        if sent.is_err() && !matches!(read, Ok(read) if read > 0) {
            return None;
        }
        let read = read.ok()?;
        (read > 0).then(|| parsed(&line))
    }

    /// Waits for the daemon to close the connection.
    pub async fn expect_end(&mut self) {
        let mut line = String::new();
        let read = super::within(self.reader.read_line(&mut line))
            .await
            .unwrap_or(0);
        assert_eq!(read, 0, "expected the connection to end, got: {line}");
    }

    /// Asserts nothing arrives for a short while.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let mut line = String::new();
        if let Ok(read) = tokio::time::timeout(wait, self.reader.read_line(&mut line)).await {
            panic!("expected no reply, got {read:?}: {line}");
        }
    }
}

fn parsed(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
}

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a WebSocket, optionally with extra headers.
pub async fn websocket(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let (socket, _) = super::within(tokio_tungstenite::connect_async(request)).await?;
    Ok(socket)
}

/// The next text message, parsed.
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match super::within(socket.next()).await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

pub async fn send_text(socket: &mut Socket, text: impl Into<String>) {
    socket
        .send(Message::Text(text.into().into()))
        .await
        .unwrap();
}

pub async fn exchange(socket: &mut Socket, text: impl Into<String>) -> Value {
    send_text(socket, text).await;
    next_json(socket).await
}

/// Waits for the daemon to close the socket; returns the close code and reason.
pub async fn expect_close(socket: &mut Socket) -> (u16, String) {
    loop {
        match tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .expect("timed out waiting for close")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None => return (0, String::new()),
            Some(Ok(_)) => {}
            Some(Err(err)) => return (0, err.to_string()),
        }
    }
}
