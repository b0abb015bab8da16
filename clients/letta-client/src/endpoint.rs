//! Where a client finds the daemon.

use std::path::PathBuf;

use crate::discovery::read_daemon_file;
use crate::{ClientError, RpcClient};

/// How to reach a daemon. Resolved again on every connect, so a client that
/// reconnects after the daemon restarted follows its new `daemon.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The daemon owning this data directory, through its local socket (the
    /// default way in).
    DataDir(PathBuf),
    /// A local socket path.
    Socket(PathBuf),
    /// A daemon's `/rpc` WebSocket, e.g. `ws://127.0.0.1:4500/rpc`.
    WebSocket(String),
}

impl Endpoint {
    pub async fn connect(&self) -> Result<RpcClient, ClientError> {
        match self {
            Endpoint::DataDir(dir) => {
                let file = read_daemon_file(dir)?;
                RpcClient::connect_socket(std::path::Path::new(&file.socket)).await
            }
            Endpoint::Socket(path) => RpcClient::connect_socket(path).await,
            Endpoint::WebSocket(url) => RpcClient::connect_ws(url).await,
        }
    }
}
