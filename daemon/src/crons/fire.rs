//! Running schedules: when due (the maintenance task calls
//! [`Crons::fire_due`]) or at once (`cron_trigger`). A run queues the
//! schedule's prompt on its conversation as an input whose
//! `client_message_id` names the schedule and the due time, so a run
//! repeated after a crash starts nothing new.

use letta_protocol::{CronRunOutcome, CronRunReason, CronTask, CronTaskStatus};
use serde_json::json;

use super::schedule::{Pattern, rfc3339};
use super::task::{self, NEW_CONVERSATION, name};
use super::{CronError, Crons, KEEP_FINISHED_MS};
use crate::runtime::RuntimeError;
use crate::store::crons::{CronRow, CronRunRow};
use crate::util::now_millis;

/// A one-off schedule run later than this after its time says so in its
/// history.
const LATE_MS: i64 = 60_000;
/// How often finished one-off schedules are looked for.
const FORGET_EVERY_MS: i64 = 60 * 60 * 1000;

/// Why a run did not queue its prompt.
struct NotQueued {
    reason: CronRunReason,
    error: String,
}

impl NotQueued {
    fn new(reason: CronRunReason, error: impl ToString) -> NotQueued {
        NotQueued {
            reason,
            error: error.to_string(),
        }
    }
}

/// How a run came about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Due,
    Manual,
}

impl Crons {
    /// Runs every active schedule that is due, once each: one due while the
    /// daemon was not running runs now, and the other due times it missed
    /// are counted in its history.
    pub async fn fire_due(&self) {
        let now = now_millis();
        if self.forget_due(now) {
            match self
                .store
                .delete_finished_crons(now - KEEP_FINISHED_MS)
                .await
            {
                Ok(0) => {}
                Ok(forgotten) => tracing::debug!(forgotten, "finished one-off schedules forgotten"),
                Err(err) => tracing::warn!(error = %err, "cannot forget finished schedules"),
            }
        }
        let due = match self.store.due_crons(now).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the due schedules");
                return;
            }
        };
        for row in due {
            if let Err(err) = self.fire(&row.id, now).await {
                tracing::warn!(schedule = %row.id, error = %err, "cannot run a due schedule");
            }
        }
    }

    /// Whether finished schedules are looked for now: once an hour, not on
    /// every tick.
    fn forget_due(&self, now: i64) -> bool {
        let mut last = crate::util::lock(&self.last_forgotten);
        if last.is_some_and(|at| now - at < FORGET_EVERY_MS) {
            return false;
        }
        *last = Some(now);
        true
    }

    async fn fire(&self, id: &str, now: i64) -> Result<(), CronError> {
        let _changing = self.changing.lock().await;
        // A command may have changed it since it was read as due.
        let Some(mut row) = self.store.cron(id).await? else {
            return Ok(());
        };
        let first_due = match row.next_run_at {
            Some(at) if at <= now && row.status == name(CronTaskStatus::Active) => at,
            _ => return Ok(()),
        };
        let pattern = Pattern::parse(&row.cron, &row.timezone);
        let due = match &pattern {
            Ok(pattern) if row.recurring => {
                let (count, newest) = pattern.due_through(first_due, now);
                if count > 1 {
                    self.record_missed(&mut row, pattern, first_due, newest, count - 1)
                        .await?;
                }
                newest
            }
            Ok(_) => first_due,
            Err(error) => {
                let failure = NotQueued::new(CronRunReason::InvalidCron, error);
                self.record_failure(&mut row, first_due, now, &failure)
                    .await?;
                row.status = name(CronTaskStatus::Paused);
                row.next_run_at = None;
                self.store.put_cron(&row).await?;
                self.announce(Some(&row.agent_id), Some(&row.conversation_id));
                return Ok(());
            }
        };
        let outcome = self.run(&mut row, due, now, Trigger::Due).await;
        if let Err(failure) = &outcome {
            self.record_failure(&mut row, due, now, failure).await?;
        }
        if row.recurring {
            row.next_run_at = pattern.ok().and_then(|pattern| pattern.next_after(now));
        } else {
            // A one-off schedule runs once, or is reported missed.
            row.next_run_at = None;
            if outcome.is_err() {
                row.status = name(CronTaskStatus::Missed);
                row.missed_at = Some(now);
            }
        }
        self.store.put_cron(&row).await?;
        self.announce(Some(&row.agent_id), Some(&row.conversation_id));
        Ok(())
    }

    /// Runs a schedule now, whatever its pattern says; a one-off schedule
    /// stays due at its time.
    pub async fn trigger(&self, id: &str) -> Result<CronTask, CronError> {
        let _changing = self.changing.lock().await;
        let mut row = self.existing(id).await?;
        if row.status != name(CronTaskStatus::Active) && row.status != name(CronTaskStatus::Paused)
        {
            return Err(CronError::Conflict(format!(
                "schedule {id} has {} and cannot run again; add a new one",
                row.status
            )));
        }
        let now = now_millis();
        let outcome = self.run(&mut row, now, now, Trigger::Manual).await;
        if let Err(failure) = &outcome {
            self.record_failure(&mut row, now, now, failure).await?;
        }
        self.store.put_cron(&row).await?;
        self.announce(Some(&row.agent_id), Some(&row.conversation_id));
        match outcome {
            Ok(()) => Ok(task::of(&row)),
            Err(NotQueued {
                reason: CronRunReason::QueueFull,
                error,
            }) => Err(CronError::Overloaded(error)),
            Err(failure) => Err(CronError::NotRun(failure.error)),
        }
    }

    /// Queues the schedule's prompt for the due time `due` and records the
    /// run in the row (which the caller writes) and the history.
    async fn run(
        &self,
        row: &mut CronRow,
        due: i64,
        now: i64,
        trigger: Trigger,
    ) -> Result<(), NotQueued> {
        let conversation = self.conversation_for(row, due).await?;
        let runtime = self
            .runtimes
            .open_with(Some(&row.agent_id), &conversation, None, None)
            .await
            .map_err(|err| NotQueued::new(CronRunReason::RuntimeUnavailable, err))?;
        let client_message_id = match trigger {
            Trigger::Due => format!("cm-cron-{}-{due}", row.id),
            Trigger::Manual => format!("cm-cron-{}-manual-{now}", row.id),
        };
        runtime
            .accept_daemon_message(prompt(row, due, now), client_message_id.clone())
            .await
            .map_err(|err| match err {
                RuntimeError::Overloaded(message) => {
                    NotQueued::new(CronRunReason::QueueFull, message)
                }
                other => NotQueued::new(CronRunReason::RuntimeUnavailable, other),
            })?;
        let reason = match (trigger, row.recurring) {
            (Trigger::Manual, _) => CronRunReason::Manual,
            (Trigger::Due, true) => CronRunReason::ScheduledTimeMatched,
            (Trigger::Due, false) => CronRunReason::OneOffDue,
        };
        row.firing_at = None;
        row.firing_conversation = None;
        row.fire_count += 1;
        row.last_fired_at = Some(now);
        set_last_run(row, now, CronRunOutcome::Queued, reason, None);
        if trigger == Trigger::Due && !row.recurring {
            row.status = name(CronTaskStatus::Fired);
            row.fired_at = Some(now);
        }
        let late = now - due;
        let summary = (trigger == Trigger::Due && late > LATE_MS).then(|| {
            format!(
                "due {}, run {} s late: the daemon was not running then",
                rfc3339(due),
                late / 1000
            )
        });
        let run = CronRunRow {
            status: "ok".to_owned(),
            outcome: name(CronRunOutcome::Queued),
            reason: name(reason),
            summary,
            conversation_id: Some(conversation),
            queue_item_id: Some(client_message_id),
            fired_at: Some(now),
            ..history(row, now, due)
        };
        self.store
            .add_cron_run(&run)
            .await
            .map_err(|err| NotQueued::new(CronRunReason::SchedulerError, err))
    }

    /// The conversation a run goes to: a `new` schedule's is created once
    /// per due time and kept in the row until the run is recorded.
    async fn conversation_for(&self, row: &mut CronRow, due: i64) -> Result<String, NotQueued> {
        if row.conversation_id != NEW_CONVERSATION {
            return Ok(row.conversation_id.clone());
        }
        if let (Some(at), Some(conversation)) = (row.firing_at, &row.firing_conversation)
            && at == due
        {
            return Ok(conversation.clone());
        }
        let unavailable = |err: String| NotQueued::new(CronRunReason::RuntimeUnavailable, err);
        let backend = self
            .runtimes
            .backends()
            .for_agent(&row.agent_id)
            .await
            .map_err(|err| unavailable(err.to_string()))?;
        let created = backend
            .create_conversation(&row.agent_id, &json!({ "summary": row.name }))
            .await
            .map_err(|err| unavailable(format!("cannot create its conversation: {err}")))?;
        let conversation = crate::util::id_of(&created)
            .ok_or_else(|| unavailable("the created conversation has no id".to_owned()))?;
        row.firing_at = Some(due);
        row.firing_conversation = Some(conversation.clone());
        self.store
            .put_cron(row)
            .await
            .map_err(|err| NotQueued::new(CronRunReason::SchedulerError, err))?;
        Ok(conversation)
    }

    async fn record_missed(
        &self,
        row: &mut CronRow,
        pattern: &Pattern,
        first_due: i64,
        newest: i64,
        missed: u64,
    ) -> Result<(), CronError> {
        let now = now_millis();
        row.missed_count += missed as i64;
        row.last_missed_at = pattern.previous_before(newest);
        set_last_run(
            row,
            now,
            CronRunOutcome::Missed,
            CronRunReason::SchedulerInactive,
            None,
        );
        let more = if missed >= super::schedule::MAX_COUNTED - 1 {
            " or more"
        } else {
            ""
        };
        let run = CronRunRow {
            status: "skipped".to_owned(),
            outcome: name(CronRunOutcome::Missed),
            reason: name(CronRunReason::SchedulerInactive),
            summary: Some(format!(
                "{missed}{more} due times from {} on passed while the daemon was not running; \
                 the newest, {}, runs now",
                rfc3339(first_due),
                rfc3339(newest)
            )),
            missed_count: Some(missed as i64),
            ..history(row, now, first_due)
        };
        self.store.add_cron_run(&run).await?;
        Ok(())
    }

    async fn record_failure(
        &self,
        row: &mut CronRow,
        due: i64,
        now: i64,
        failure: &NotQueued,
    ) -> Result<(), CronError> {
        tracing::warn!(schedule = %row.id, error = %failure.error, "a schedule could not run");
        row.failed_count += 1;
        set_last_run(
            row,
            now,
            CronRunOutcome::Failed,
            failure.reason,
            Some(failure.error.clone()),
        );
        let run = CronRunRow {
            status: "error".to_owned(),
            outcome: name(CronRunOutcome::Failed),
            reason: name(failure.reason),
            error: Some(failure.error.clone()),
            ..history(row, now, due)
        };
        self.store.add_cron_run(&run).await?;
        Ok(())
    }
}

fn set_last_run(
    row: &mut CronRow,
    now: i64,
    outcome: CronRunOutcome,
    reason: CronRunReason,
    error: Option<String>,
) {
    row.last_run_at = Some(now);
    row.last_run_outcome = Some(name(outcome));
    row.last_run_reason = Some(name(reason));
    row.last_run_error = error;
}

/// A history line of `row` with nothing but its names and times.
fn history(row: &CronRow, now: i64, due: i64) -> CronRunRow {
    CronRunRow {
        task_id: row.id.clone(),
        ts: now,
        status: String::new(),
        outcome: String::new(),
        reason: String::new(),
        error: None,
        summary: None,
        agent_id: row.agent_id.clone(),
        conversation_id: None,
        queue_item_id: None,
        scheduled_for: Some(due),
        fired_at: None,
        missed_count: None,
    }
}

/// What the agent receives when a schedule runs.
fn prompt(row: &CronRow, due: i64, now: i64) -> String {
    let description = if row.description.trim().is_empty() {
        String::new()
    } else {
        format!(" ({})", row.description.trim())
    };
    let recurrence = if row.recurring {
        format!(
            "It repeats on the cron pattern `{}`; this is run {}.",
            row.cron,
            row.fire_count + 1
        )
    } else {
        "It runs once.".to_owned()
    };
    format!(
        "<system-reminder>\nThis message comes from a schedule set for you: \"{}\"{description}. \
         It was due {} (time zone {}); it is now {}. {recurrence}\nNo one may be watching this \
         turn: work until the task is done or you are blocked, and leave the result where it \
         will be found.\n</system-reminder>\n{}",
        row.name,
        rfc3339(due),
        row.timezone,
        rfc3339(now),
        row.prompt
    )
}
