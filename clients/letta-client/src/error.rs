use letta_protocol::errors::RpcError;

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an error.
    #[error("daemon error: {0}")]
    Rpc(RpcError),
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("connection lost: {0}")]
    Disconnected(String),
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("no daemon found: {0}")]
    NotRunning(String),
}
