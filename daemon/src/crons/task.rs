//! Stored schedules as the protocol shows them.

use letta_protocol::{CronRunLogEntry, CronRunOutcome, CronRunReason, CronTask, CronTaskStatus};
use serde::de::DeserializeOwned;

use super::schedule::rfc3339;
use crate::store::crons::{CronRow, CronRunRow};

/// The conversation of a schedule that starts a new one each run.
pub const NEW_CONVERSATION: &str = "new";

/// A stored name of one of the protocol's enums, as stored by [`name`].
fn parsed<T: DeserializeOwned>(stored: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(stored.to_owned())).ok()
}

/// How an enum of the protocol is stored.
pub fn name<T: serde::Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn time(millis: Option<i64>) -> Option<String> {
    millis.map(rfc3339)
}

pub fn of(row: &CronRow) -> CronTask {
    CronTask {
        id: row.id.clone(),
        agent_id: row.agent_id.clone(),
        conversation_id: row.conversation_id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        cron: row.cron.clone(),
        timezone: row.timezone.clone(),
        recurring: row.recurring,
        prompt: row.prompt.clone(),
        status: parsed(&row.status).unwrap_or(CronTaskStatus::Paused),
        created_at: rfc3339(row.created_at),
        expires_at: None,
        last_fired_at: time(row.last_fired_at),
        fire_count: row.fire_count.max(0) as u64,
        cancel_reason: None,
        jitter_offset_ms: 0,
        last_run_at: time(row.last_run_at),
        last_run_outcome: row.last_run_outcome.as_deref().and_then(parsed),
        last_run_reason: row.last_run_reason.as_deref().and_then(parsed),
        last_run_error: row.last_run_error.clone(),
        last_missed_at: time(row.last_missed_at),
        missed_count: row.missed_count.max(0) as u64,
        failed_count: row.failed_count.max(0) as u64,
        scheduled_for: time(row.scheduled_for),
        fired_at: time(row.fired_at),
        missed_at: time(row.missed_at),
        next_run_at: time(row.next_run_at),
    }
}

pub fn run_of(row: &CronRunRow) -> CronRunLogEntry {
    CronRunLogEntry {
        ts: row.ts,
        job_id: row.task_id.clone(),
        action: "finished".to_owned(),
        status: row.status.clone(),
        outcome: parsed(&row.outcome).unwrap_or(CronRunOutcome::Failed),
        reason: parsed(&row.reason).unwrap_or(CronRunReason::SchedulerError),
        error: row.error.clone(),
        summary: row.summary.clone(),
        agent_id: row.agent_id.clone(),
        conversation_id: row.conversation_id.clone(),
        run_at_ms: row.ts,
        queue_item_id: row.queue_item_id.clone(),
        scheduled_for: time(row.scheduled_for),
        fired_at: time(row.fired_at),
        missed_count: row.missed_count.map(|count| count.max(0) as u64),
    }
}
