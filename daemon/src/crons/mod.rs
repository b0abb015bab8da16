//! Schedules frontends set (`cron_*`): a prompt for an agent's conversation
//! on a cron pattern or once, kept in SQLite and run by the daemon's
//! maintenance task beside the agent's wakes. A schedule due while the
//! daemon was not running runs once when it is back; the due times it
//! missed besides are counted and written to its history, never run in a
//! burst.

mod fire;
pub mod schedule;
mod task;

use std::sync::{Arc, Mutex};

use letta_protocol::{
    CronAddParams, CronRunLogPage, CronRunsParams, CronTask, CronTaskStatus, CronUpdateParams,
    CronsUpdatedEvent,
};

use crate::runtime::{EventSink, Runtimes};
use crate::store::crons::{CronRow, MAX_CRONS};
use crate::store::{Store, StoreError};
use crate::util::now_millis;
use schedule::{Pattern, parse_time};

/// Active and paused schedules one agent may have.
pub const MAX_SCHEDULES_PER_AGENT: i64 = 50;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_PROMPT_BYTES: usize = 64 * 1024;
/// How long a one-off schedule that ran stays listed.
const KEEP_FINISHED_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error("{0}")]
    Invalid(String),
    #[error("no schedule {0:?} (cron_list shows them)")]
    NotFound(String),
    /// The schedule's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Overloaded(String),
    /// The schedule could not run now (its agent or conversation could not
    /// be reached); the message says why.
    #[error("{0}")]
    NotRun(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every schedule of the daemon.
pub struct Crons {
    store: Store,
    runtimes: Arc<Runtimes>,
    /// One change at a time: commands and the scheduler read a row, change
    /// it and write it whole.
    changing: tokio::sync::Mutex<()>,
    /// Connections that used a `cron_*` command, told of changes.
    listeners: Mutex<Vec<Arc<dyn EventSink>>>,
    /// When finished schedules were last looked for (Unix ms).
    last_forgotten: Mutex<Option<i64>>,
}

impl Crons {
    pub fn new(store: Store, runtimes: Arc<Runtimes>) -> Crons {
        Crons {
            store,
            runtimes,
            changing: tokio::sync::Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
            last_forgotten: Mutex::new(None),
        }
    }

    /// Sends `crons_updated` to `connection` from now on, until it closes.
    pub fn listen(&self, connection: Arc<dyn EventSink>) {
        let mut listeners = crate::util::lock(&self.listeners);
        listeners.retain(|listener| !listener.is_closed());
        if !listeners.iter().any(|known| known.id() == connection.id()) {
            listeners.push(connection);
        }
    }

    /// Tells every listener that schedules of this agent (and conversation)
    /// changed. A connection too busy to take it now lists them when it
    /// next does.
    fn announce(&self, agent_id: Option<&str>, conversation_id: Option<&str>) {
        let body = CronsUpdatedEvent {
            timestamp: now_millis(),
            agent_id: agent_id.map(str::to_owned),
            conversation_id: conversation_id.map(str::to_owned),
        };
        let Ok(frame) = letta_protocol::event_frame::<letta_protocol::events::CronsUpdated>(&body)
        else {
            return;
        };
        let frame = frame.to_string();
        let mut listeners = crate::util::lock(&self.listeners);
        listeners.retain(|listener| !listener.is_closed());
        for listener in listeners.iter() {
            let _ = listener.try_push(&frame);
        }
    }

    pub async fn list(
        &self,
        agent_id: Option<&str>,
        conversation_id: Option<&str>,
    ) -> Result<Vec<CronTask>, CronError> {
        let rows = self.store.crons(agent_id, conversation_id).await?;
        Ok(rows.iter().map(task::of).collect())
    }

    pub async fn get(&self, id: &str) -> Result<Option<CronTask>, CronError> {
        Ok(self.store.cron(id).await?.as_ref().map(task::of))
    }

    pub async fn add(&self, params: CronAddParams) -> Result<CronTask, CronError> {
        let _changing = self.changing.lock().await;
        let agent_id = required("agent_id", &params.agent_id)?;
        let (scheduled, all) = self.store.count_crons(&agent_id).await?;
        if scheduled >= MAX_SCHEDULES_PER_AGENT {
            return Err(CronError::Overloaded(format!(
                "agent {agent_id} has {scheduled} active or paused schedules, the most it may \
                 have; delete one first"
            )));
        }
        if all >= MAX_CRONS {
            return Err(CronError::Overloaded(format!(
                "the daemon keeps {MAX_CRONS} schedules, the most it keeps; delete one first"
            )));
        }
        let now = now_millis();
        let mut row = CronRow {
            id: new_id(),
            agent_id,
            conversation_id: params
                .conversation_id
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| task::NEW_CONVERSATION.to_owned()),
            name: params.name,
            description: params.description,
            cron: params.cron.trim().to_owned(),
            timezone: params
                .timezone
                .map(|zone| zone.trim().to_owned())
                .filter(|zone| !zone.is_empty())
                .unwrap_or_else(schedule::system_timezone),
            recurring: params.recurring,
            prompt: params.prompt,
            status: task::name(CronTaskStatus::Active),
            created_at: now,
            scheduled_for: params
                .scheduled_for
                .as_deref()
                .map(|at| parse_time("scheduled_for", at))
                .transpose()
                .map_err(CronError::Invalid)?,
            ..CronRow::default()
        };
        check(&row)?;
        row.next_run_at = next_run(&row, now)?;
        self.store.put_cron(&row).await?;
        self.announce(Some(&row.agent_id), Some(&row.conversation_id));
        Ok(task::of(&row))
    }

    pub async fn update(&self, params: CronUpdateParams) -> Result<CronTask, CronError> {
        let _changing = self.changing.lock().await;
        let mut row = self.existing(&params.task_id).await?;
        let before = row.clone();
        if let Some(name) = params.name {
            row.name = name;
        }
        if let Some(description) = params.description {
            row.description = description;
        }
        if let Some(conversation_id) = params.conversation_id {
            row.conversation_id = required("conversation_id", &conversation_id)?;
        }
        if let Some(cron) = params.cron {
            row.cron = cron.trim().to_owned();
        }
        if let Some(timezone) = params.timezone {
            row.timezone = timezone.trim().to_owned();
        }
        if let Some(recurring) = params.recurring {
            row.recurring = recurring;
        }
        if let Some(prompt) = params.prompt {
            row.prompt = prompt;
        }
        if let Some(scheduled_for) = params.scheduled_for {
            row.scheduled_for = scheduled_for
                .as_deref()
                .map(|at| parse_time("scheduled_for", at))
                .transpose()
                .map_err(CronError::Invalid)?;
        }
        check(&row)?;
        let timing_changed = (&row.cron, &row.timezone, row.recurring, row.scheduled_for)
            != (
                &before.cron,
                &before.timezone,
                before.recurring,
                before.scheduled_for,
            );
        if timing_changed && row.status == task::name(CronTaskStatus::Active) {
            row.next_run_at = next_run(&row, now_millis())?;
        }
        if row != before {
            self.store.put_cron(&row).await?;
            self.announce(Some(&row.agent_id), Some(&row.conversation_id));
        }
        Ok(task::of(&row))
    }

    pub async fn pause(&self, id: &str) -> Result<CronTask, CronError> {
        let _changing = self.changing.lock().await;
        let mut row = self.existing(id).await?;
        match row.status.as_str() {
            "paused" => {}
            "active" => {
                row.status = task::name(CronTaskStatus::Paused);
                row.next_run_at = None;
                self.store.put_cron(&row).await?;
                self.announce(Some(&row.agent_id), Some(&row.conversation_id));
            }
            status => {
                return Err(CronError::Conflict(format!(
                    "schedule {id} has {status} and cannot be paused"
                )));
            }
        }
        Ok(task::of(&row))
    }

    /// Resumes a paused schedule from its next due time after now.
    pub async fn resume(
        &self,
        id: &str,
        scheduled_for: Option<&str>,
    ) -> Result<CronTask, CronError> {
        let _changing = self.changing.lock().await;
        let mut row = self.existing(id).await?;
        match row.status.as_str() {
            "active" => return Ok(task::of(&row)),
            "paused" => {}
            status => {
                return Err(CronError::Conflict(format!(
                    "schedule {id} has {status} and cannot be resumed; add a new one"
                )));
            }
        }
        if let Some(at) = scheduled_for {
            if row.recurring {
                return Err(CronError::Invalid(
                    "scheduled_for is for one-off schedules (recurring: false)".to_owned(),
                ));
            }
            row.scheduled_for = Some(parse_time("scheduled_for", at).map_err(CronError::Invalid)?);
        }
        row.status = task::name(CronTaskStatus::Active);
        row.next_run_at = next_run(&row, now_millis())?;
        self.store.put_cron(&row).await?;
        self.announce(Some(&row.agent_id), Some(&row.conversation_id));
        Ok(task::of(&row))
    }

    pub async fn delete(&self, id: &str) -> Result<bool, CronError> {
        let _changing = self.changing.lock().await;
        let Some(row) = self.store.cron(id).await? else {
            return Ok(false);
        };
        self.store.delete_cron(id).await?;
        self.announce(Some(&row.agent_id), Some(&row.conversation_id));
        Ok(true)
    }

    pub async fn delete_all(&self, agent_id: &str) -> Result<u64, CronError> {
        let _changing = self.changing.lock().await;
        let deleted = self.store.delete_crons_of(agent_id).await?;
        if deleted > 0 {
            self.announce(Some(agent_id), None);
        }
        Ok(deleted)
    }

    pub async fn runs(&self, params: &CronRunsParams) -> Result<CronRunLogPage, CronError> {
        self.existing(&params.task_id).await?;
        let limit = params.limit.unwrap_or(50).clamp(1, 200) as i64;
        let offset = params.offset.unwrap_or(0).min(i64::MAX as u64) as i64;
        let (rows, total) = self
            .store
            .cron_runs(&params.task_id, params.run_id.as_deref(), limit, offset)
            .await?;
        let after = offset.saturating_add(rows.len() as i64);
        Ok(CronRunLogPage {
            entries: rows.iter().map(task::run_of).collect(),
            total: total as u64,
            offset: offset as u64,
            limit: limit as u64,
            has_more: after < total,
            next_offset: (after < total).then_some(after as u64),
        })
    }

    async fn existing(&self, id: &str) -> Result<CronRow, CronError> {
        self.store
            .cron(id)
            .await?
            .ok_or_else(|| CronError::NotFound(id.to_owned()))
    }
}

fn required(field: &str, value: &str) -> Result<String, CronError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CronError::Invalid(format!("{field} must not be empty")));
    }
    Ok(value.to_owned())
}

/// Checks what a frontend may set.
fn check(row: &CronRow) -> Result<(), CronError> {
    let invalid = |message: String| Err(CronError::Invalid(message));
    if row.name.trim().is_empty() || row.prompt.trim().is_empty() {
        return invalid("a schedule needs a name and a prompt".to_owned());
    }
    if row.name.chars().count() > MAX_NAME_CHARS {
        return invalid(format!(
            "a schedule's name is at most {MAX_NAME_CHARS} characters"
        ));
    }
    if row.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return invalid(format!(
            "a schedule's description is at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    if row.prompt.len() > MAX_PROMPT_BYTES {
        return invalid(format!(
            "a schedule's prompt is at most {MAX_PROMPT_BYTES} bytes"
        ));
    }
    if row.recurring && row.scheduled_for.is_some() {
        return invalid("scheduled_for is for one-off schedules (recurring: false)".to_owned());
    }
    Pattern::parse(&row.cron, &row.timezone).map_err(CronError::Invalid)?;
    Ok(())
}

/// When an active schedule is next due, counting from `now`.
fn next_run(row: &CronRow, now: i64) -> Result<Option<i64>, CronError> {
    if let Some(at) = row.scheduled_for.filter(|_| !row.recurring) {
        if at <= now {
            return Err(CronError::Invalid(
                "scheduled_for must be in the future".to_owned(),
            ));
        }
        return Ok(Some(at));
    }
    let pattern = Pattern::parse(&row.cron, &row.timezone).map_err(CronError::Invalid)?;
    match pattern.next_after(now) {
        Some(next) => Ok(Some(next)),
        None => Err(CronError::Invalid(format!(
            "the pattern {:?} never matches again",
            row.cron
        ))),
    }
}

/// A schedule's id: 16 random hex digits.
fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}
