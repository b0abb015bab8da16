//! jsonrpsee client transports: newline-delimited JSON over the local
//! socket, and text messages over a WebSocket.

use std::io;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::codec::{FramedRead, LinesCodec};

/// Writes one JSON message per line.
pub struct LineSender<W> {
    writer: BufWriter<W>,
}

impl<W> LineSender<W> {
    pub fn new(writer: W) -> Self
    where
        W: AsyncWrite,
    {
        LineSender {
            writer: BufWriter::new(writer),
        }
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> TransportSenderT for LineSender<W> {
    type Error = io::Error;

    async fn send(&mut self, msg: String) -> Result<(), io::Error> {
        self.writer.write_all(msg.as_bytes()).await?;
        self.writer.write_all(b"\n").await?;
        self.writer.flush().await
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        self.writer.shutdown().await
    }
}

/// Reads one JSON message per line.
pub struct LineReceiver<R> {
    lines: FramedRead<R, LinesCodec>,
}

impl<R: AsyncRead> LineReceiver<R> {
    pub fn new(reader: R) -> Self {
        LineReceiver {
            lines: FramedRead::new(reader, LinesCodec::new()),
        }
    }
}

impl<R: AsyncRead + Unpin + Send + 'static> TransportReceiverT for LineReceiver<R> {
    type Error = io::Error;

    async fn receive(&mut self) -> Result<ReceivedMessage, io::Error> {
        match self.lines.next().await {
            Some(Ok(line)) => Ok(ReceivedMessage::Text(line)),
            Some(Err(err)) => Err(io::Error::other(err)),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            )),
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Sends each JSON message as one WebSocket text message.
pub struct WsSender(pub SplitSink<Socket, Message>);

impl TransportSenderT for WsSender {
    type Error = io::Error;

    async fn send(&mut self, msg: String) -> Result<(), io::Error> {
        self.0
            .send(Message::Text(msg.into()))
            .await
            .map_err(io::Error::other)
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        self.0.close().await.map_err(io::Error::other)
    }
}

/// Receives WebSocket text messages as JSON messages.
pub struct WsReceiver(pub SplitStream<Socket>);

impl TransportReceiverT for WsReceiver {
    type Error = io::Error;

    async fn receive(&mut self) -> Result<ReceivedMessage, io::Error> {
        loop {
            match self.0.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Ok(ReceivedMessage::Text(text.as_str().to_owned()));
                }
                Some(Ok(Message::Binary(bytes))) => {
                    return Ok(ReceivedMessage::Bytes(bytes.to_vec()));
                }
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame
                        .map(|frame| format!("{} {}", frame.code, frame.reason))
                        .unwrap_or_default();
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("closed by the daemon {reason}"),
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(io::Error::other(err)),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the daemon closed the connection",
                    ));
                }
            }
        }
    }
}
