//! What a backend fails with: the Letta server's errors, or the local
//! backend's own.

use std::time::Duration;

use letta_api::LettaError;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Letta(#[from] LettaError),
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// Failures of agents kept by the daemon itself.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("no local {what} {id}")]
    NotFound { what: &'static str, id: String },
    /// The request is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The conversation is busy with another run.
    #[error("{0}")]
    Busy(String),
    /// The conversation waits for the results of these tool calls first.
    #[error("the conversation is waiting for the results of tool calls {0}; answer them first")]
    PendingApproval(String),
    /// No provider serves the model, or none is configured.
    #[error("{0}")]
    NoProvider(String),
    /// The run failed: the model provider refused or broke down.
    #[error("the run failed: {0}")]
    RunFailed(String),
    #[error("the daemon could not store the local agent's state: {0}")]
    Store(#[from] StoreError),
}

impl BackendError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            BackendError::Letta(err) => err.is_transient(),
            BackendError::Local(LocalError::Store(_)) => true,
            BackendError::Local(_) => false,
        }
    }

    /// The HTTP-like status: the server's, or what the local failure means.
    pub fn status(&self) -> Option<u16> {
        match self {
            BackendError::Letta(err) => err.status(),
            BackendError::Local(err) => Some(match err {
                LocalError::NotFound { .. } => 404,
                LocalError::Invalid(_) | LocalError::NoProvider(_) => 400,
                LocalError::Busy(_) | LocalError::PendingApproval(_) => 409,
                LocalError::RunFailed(_) => 502,
                LocalError::Store(_) => 500,
            }),
        }
    }

    /// The conversation waits for an approval answer before it takes new
    /// messages.
    pub fn is_pending_approval(&self) -> bool {
        match self {
            BackendError::Letta(err) => err.is_pending_approval(),
            BackendError::Local(err) => matches!(err, LocalError::PendingApproval(_)),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BackendError::Letta(err) => err.retry_after(),
            BackendError::Local(_) => None,
        }
    }
}

impl From<StoreError> for BackendError {
    fn from(err: StoreError) -> BackendError {
        BackendError::Local(LocalError::Store(err))
    }
}
