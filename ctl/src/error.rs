//! What a command can fail with, and the exit code each failure means.

use letta_client::ClientError;

pub const EXIT_AGENT_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_DENIED: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Bad arguments that clap could not catch.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unreachable(String),
    /// The daemon answered with an error, or the turn failed.
    #[error("{0}")]
    Failed(String),
    /// A tool call needed an approval that this non-interactive run could
    /// not give.
    #[error("{0}")]
    Denied(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => EXIT_USAGE,
            CtlError::Unreachable(_) => EXIT_UNREACHABLE,
            CtlError::Denied(_) => EXIT_DENIED,
            CtlError::Failed(_) | CtlError::Io { .. } => EXIT_AGENT_ERROR,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CtlError {
        let context = context.into();
        move |source| CtlError::Io { context, source }
    }
}

impl From<ClientError> for CtlError {
    fn from(err: ClientError) -> CtlError {
        match err {
            ClientError::NotRunning(why) => {
                CtlError::Unreachable(format!("{why}\nstart it with: letta-ctl daemon start"))
            }
            ClientError::Connect { .. } | ClientError::Disconnected(_) => CtlError::Unreachable(
                format!("{err}\nis the daemon running? try: letta-ctl daemon status"),
            ),
            ClientError::Rpc(error) => CtlError::Failed(format!("daemon: {}", error.message)),
            other => CtlError::Failed(other.to_string()),
        }
    }
}
