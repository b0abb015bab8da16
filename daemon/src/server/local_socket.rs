//! The local socket: newline-delimited JSON-RPC 2.0, one message per line,
//! usable from `nc -U`, `socat` or any JSONL parser.
//!
//! On Unix it is a socket file, `0600` in a `0700` directory. A leftover file
//! from a daemon that died is detected (nothing accepts on it) and replaced;
//! a live one means another daemon owns it and this one refuses to start.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::{Listener as _, Stream as _};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{
    AnyDelimiterCodec, AnyDelimiterCodecError, Decoder, FramedRead, FramedWrite, LinesCodec,
};

use super::Shared;
use super::connection::{self, Inbound};
use crate::rpc::Transport;

#[derive(Debug, thiserror::Error)]
pub enum LocalSocketError {
    #[error(
        "another letta-daemon is already listening on {path}; stop it first (letta-ctl daemon stop) or pass a different --socket"
    )]
    InUse { path: PathBuf },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error("cannot prepare socket directory {path}: {source}")]
    Directory { path: PathBuf, source: io::Error },
    #[error("cannot listen on {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
}

/// A bound local socket, not yet serving.
pub struct LocalSocket {
    listener: Listener,
    path: PathBuf,
}

impl LocalSocket {
    /// Binds `path`, replacing a stale socket file and refusing a live one.
    pub async fn bind(path: &Path) -> Result<LocalSocket, LocalSocketError> {
        prepare_directory(path)?;
        clear_stale_socket(path).await?;
        let bind_error = |source| LocalSocketError::Bind {
            path: path.to_path_buf(),
            source,
        };
        let name = path.to_fs_name::<GenericFilePath>().map_err(bind_error)?;
        let listener = ListenerOptions::new()
            .name(name)
            .create_tokio()
            .map_err(bind_error)?;
        restrict_to_owner(path, 0o600).map_err(bind_error)?;
        Ok(LocalSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Accepts connections until shutdown, then removes the socket file.
    pub async fn serve(self, shared: Arc<Shared>) {
        loop {
            let accepted = tokio::select! {
                () = shared.shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok(stream) => match shared.open_connection(Transport::LocalSocket) {
                    Ok(opened) => {
                        let shutdown = shared.shutdown.clone();
                        let limit = shared.max_message_bytes;
                        shared
                            .connections
                            .spawn(serve_stream(stream, opened, limit, shutdown));
                    }
                    Err(_) => {
                        let refusal = shared.refusal(Transport::LocalSocket);
                        shared.connections.spawn(refuse(stream, refusal));
                    }
                },
                Err(err) => {
                    // Typically out of file descriptors; back off instead of spinning.
                    tracing::warn!(error = %err, "local socket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(self.listener);
        if let Err(err) = std::fs::remove_file(&self.path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot remove socket file");
        }
    }
}

async fn serve_stream(
    stream: Stream,
    opened: super::Opened,
    limit: usize,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (reader, writer) = tokio::io::split(stream);
    let inbound = FramedRead::new(reader, JsonLines::new(limit));
    let mut sink = FramedWrite::new(writer, LinesCodec::new());
    connection::serve(
        opened.responder,
        inbound,
        &mut sink,
        opened.events,
        shutdown,
        opened.write_timeout,
    )
    .await;
    let _ = tokio::time::timeout(
        connection::FAREWELL_GRACE,
        SinkExt::<String>::close(&mut sink),
    )
    .await;
    drop(opened.lease);
}

/// Tells a connection over the limit why it is closed.
async fn refuse(stream: Stream, refusal: String) {
    let (_, writer) = tokio::io::split(stream);
    let mut sink = FramedWrite::new(writer, LinesCodec::new());
    let _ = sink.send(refusal).await;
    let _ = SinkExt::<String>::close(&mut sink).await;
}

/// Splits a byte stream into lines. An over-long line or one that is not
/// UTF-8 becomes an [`Inbound`] the connection answers with an error, and
/// reading goes on with the next line.
struct JsonLines {
    lines: AnyDelimiterCodec,
}

impl JsonLines {
    fn new(max_message_bytes: usize) -> Self {
        // One extra byte for a trailing '\r'.
        let max = max_message_bytes.saturating_add(1);
        JsonLines {
            lines: AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), max),
        }
    }

    fn inbound(line: Result<Option<Bytes>, AnyDelimiterCodecError>) -> io::Result<Option<Inbound>> {
        match line {
            Ok(Some(bytes)) => {
                let bytes = bytes.strip_suffix(b"\r").unwrap_or(&bytes);
                Ok(Some(match std::str::from_utf8(bytes) {
                    Ok(text) => Inbound::Text(text.to_owned()),
                    Err(_) => Inbound::NotText("the line is not valid UTF-8"),
                }))
            }
            Ok(None) => Ok(None),
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => Ok(Some(Inbound::TooLarge)),
            Err(AnyDelimiterCodecError::Io(err)) => Err(err),
        }
    }
}

impl Decoder for JsonLines {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Inbound>> {
        Self::inbound(self.lines.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Inbound>> {
        Self::inbound(self.lines.decode_eof(buf))
    }
}

/// Creates the socket's directory `0700` if it does not exist, and warns
/// when an existing one lets others in.
fn prepare_directory(path: &Path) -> Result<(), LocalSocketError> {
    let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
        return Ok(());
    };
    let directory_error = |source| LocalSocketError::Directory {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        crate::fs::create_private_dir(dir).map_err(directory_error)?;
    } else if crate::fs::is_shared_with_others(dir).map_err(directory_error)? {
        tracing::warn!(dir = %dir.display(), "socket directory is accessible to other users; the socket itself is 0600");
    }
    Ok(())
}

/// Removes a socket file nobody listens on; refuses a live one or a file
/// that is not a socket.
async fn clear_stale_socket(path: &Path) -> Result<(), LocalSocketError> {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !crate::fs::is_socket(&metadata) {
        return Err(LocalSocketError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    let name = path
        .to_fs_name::<GenericFilePath>()
        .map_err(|source| LocalSocketError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
    match Stream::connect(name).await {
        Ok(_) => Err(LocalSocketError::InUse {
            path: path.to_path_buf(),
        }),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing stale socket left by a daemon that did not stop cleanly");
            std::fs::remove_file(path).map_err(|source| LocalSocketError::Bind {
                path: path.to_path_buf(),
                source,
            })
        }
        Err(source) => Err(LocalSocketError::Bind {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn restrict_to_owner(path: &Path, mode: u32) -> io::Result<()> {
    crate::fs::set_mode(path, mode)
}
