//! Schedules a frontend sets for an agent: a prompt sent to a conversation
//! on a cron pattern, or once at a time. Durable in the daemon, fired by
//! the same scheduler as the agent's own wakes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a schedule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CronTaskStatus {
    Active,
    Paused,
    /// A one-off schedule that ran.
    Fired,
    /// A one-off schedule that could not run.
    Missed,
    Cancelled,
}

/// What became of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CronRunOutcome {
    /// Its prompt was queued on the conversation.
    Queued,
    /// It was due while the daemon was not running.
    Missed,
    Failed,
    Skipped,
}

/// Why a run had its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CronRunReason {
    ScheduledTimeMatched,
    OneOffDue,
    /// Run by `cron_trigger`.
    Manual,
    SchedulerInactive,
    StartedTooLate,
    QueueFull,
    RuntimeUnavailable,
    TaskCancelled,
    InvalidCron,
    SchedulerError,
}

/// One schedule. Times are RFC 3339 (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronTask {
    pub id: String,
    pub agent_id: String,
    /// `default` (the agent's default conversation), `new` (a new
    /// conversation each run) or a conversation id.
    pub conversation_id: String,
    pub name: String,
    pub description: String,
    /// Five fields: minute, hour, day of month, month, day of week.
    pub cron: String,
    /// The IANA time zone the pattern is read in.
    pub timezone: String,
    pub recurring: bool,
    pub prompt: String,
    pub status: CronTaskStatus,
    pub created_at: String,
    /// Always null: schedules do not expire.
    pub expires_at: Option<String>,
    pub last_fired_at: Option<String>,
    pub fire_count: u64,
    /// Always null: schedules are deleted, not cancelled.
    pub cancel_reason: Option<String>,
    /// Always 0: runs are not spread out on one machine.
    pub jitter_offset_ms: i64,
    pub last_run_at: Option<String>,
    pub last_run_outcome: Option<CronRunOutcome>,
    pub last_run_reason: Option<CronRunReason>,
    pub last_run_error: Option<String>,
    /// The newest due time that was missed.
    pub last_missed_at: Option<String>,
    pub missed_count: u64,
    pub failed_count: u64,
    /// When a one-off schedule is due (otherwise the pattern decides).
    pub scheduled_for: Option<String>,
    pub fired_at: Option<String>,
    pub missed_at: Option<String>,
    /// When it runs next, if it is active.
    pub next_run_at: Option<String>,
}

/// Params of `cron_list`; both filters are optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronListResult {
    pub success: bool,
    /// Oldest first.
    pub tasks: Vec<CronTask>,
}

/// Params of `cron_add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronAddParams {
    pub agent_id: String,
    /// `new` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub cron: String,
    /// The daemon's time zone when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub recurring: bool,
    pub prompt: String,
    /// A one-off schedule's time (RFC 3339); without it a one-off runs at
    /// the pattern's next match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
}

/// The reply of commands that answer with one schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronTaskResult {
    pub success: bool,
    pub found: bool,
    pub task: CronTask,
}

/// Params of `cron_get`, `cron_trigger`, `cron_pause` and `cron_delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronTaskParams {
    pub task_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronGetResult {
    pub success: bool,
    pub found: bool,
    pub task: Option<CronTask>,
}

/// Params of `cron_runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronRunsParams {
    pub task_id: String,
    /// 50 when absent, at most 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Only the runs that queued this input (`queueItemId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// One line of a schedule's run history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronRunLogEntry {
    /// Unix milliseconds.
    pub ts: i64,
    pub job_id: String,
    /// Always `finished`.
    pub action: String,
    /// `ok`, `error` or `skipped`.
    pub status: String,
    pub outcome: CronRunOutcome,
    pub reason: CronRunReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// When the scheduler ran it (Unix milliseconds).
    pub run_at_ms: i64,
    /// The input its prompt became (its `client_message_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_item_id: Option<String>,
    /// The due time it ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<String>,
    /// Due times it stands for that did not run (missed runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_count: Option<u64>,
}

/// A page of a schedule's run history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronRunLogPage {
    pub entries: Vec<CronRunLogEntry>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub has_more: bool,
    pub next_offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronRunsResult {
    pub success: bool,
    pub page: CronRunLogPage,
}

/// Params of `cron_resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronResumeParams {
    pub task_id: String,
    /// A new time for a one-off schedule whose time has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
}

/// Params of `cron_update`: the fields to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronUpdateParams {
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// A time sets it; `null` clears it; absent leaves it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[schemars(with = "Option<String>")]
    pub scheduled_for: Option<Option<String>>,
}

/// A field that is there, even as `null` (absent stays `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronDeleteResult {
    pub success: bool,
    pub found: bool,
}

/// Params of `cron_delete_all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronDeleteAllParams {
    pub agent_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronDeleteAllResult {
    pub success: bool,
    pub agent_id: String,
    pub deleted: u64,
}

/// `crons_updated`: schedules changed (added, changed, run, deleted); list
/// them again. Sent to every connection that used a `cron_*` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CronsUpdatedEvent {
    /// Unix milliseconds.
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}
