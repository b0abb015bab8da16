//! The states rows move through, as the database spells them. Every match
//! on a state is exhaustive, and a misspelt state does not compile.

/// How far a client-side tool call got: requested → decided → executing →
/// stored → delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum ToolCallState {
    /// Journaled; no decision yet (maybe waiting on a human).
    Requested,
    /// Allowed or denied; not started.
    Decided,
    /// Started; its outcome is unknown until stored.
    Executing,
    /// Its result is stored, not yet sent to the server.
    Stored,
    /// Its result reached the server.
    Delivered,
}

/// What was decided about a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum ToolDecision {
    Allow,
    Deny,
}

/// A tool result's status, as Letta takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Success,
    Error,
}

/// Whether an input started a turn at once or waited in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum Disposition {
    Started,
    Queued,
}

/// Where an accepted input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum InputStatus {
    Queued,
    Running,
    Finished,
    Cancelled,
    Failed,
}

/// Where a run's stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum RunStatus {
    Streaming,
    Completed,
}

/// Whether a frontend answered an external tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum ExternalCallStatus {
    Pending,
    Answered,
}
