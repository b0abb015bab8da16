//! What runtime operations fail with. The runtime names the failure; the
//! RPC layer decides how each one looks on the wire.

use crate::backend::BackendError;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The request is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    #[error("no runtime for agent {agent} conversation {conversation}: call runtime_start first")]
    UnknownRuntime { agent: String, conversation: String },
    /// The approval or call answered is no longer waiting.
    #[error("{0}")]
    NotPending(String),
    /// A bound was reached; the message names it. Retrying later may work.
    #[error("{0}")]
    Overloaded(String),
    #[error("the daemon could not store its state: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Internal(String),
    /// Events after the seq asked for were trimmed by retention.
    #[error(
        "events up to {} are no longer kept (retention): sync after {} or later, or without after_event_seq for the current state",
        first_kept - 1,
        first_kept - 1
    )]
    EventsExpired { first_kept: u64 },
}
