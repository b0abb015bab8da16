//! Schedules frontends set, and their run history. Rows are read, changed
//! and written whole by the one task that changes schedules at a time.

use super::{Store, StoreError};

/// Schedules kept at most, in every state.
pub const MAX_CRONS: i64 = 1000;
/// Run history lines kept per schedule; older ones are dropped.
pub const MAX_RUNS_KEPT: i64 = 200;

/// One schedule. Times are Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct CronRow {
    pub id: String,
    pub agent_id: String,
    pub conversation_id: String,
    pub name: String,
    pub description: String,
    pub cron: String,
    pub timezone: String,
    pub recurring: bool,
    pub prompt: String,
    pub status: String,
    pub created_at: i64,
    pub scheduled_for: Option<i64>,
    pub next_run_at: Option<i64>,
    pub last_fired_at: Option<i64>,
    pub fire_count: i64,
    pub last_run_at: Option<i64>,
    pub last_run_outcome: Option<String>,
    pub last_run_reason: Option<String>,
    pub last_run_error: Option<String>,
    pub last_missed_at: Option<i64>,
    pub missed_count: i64,
    pub failed_count: i64,
    pub fired_at: Option<i64>,
    pub missed_at: Option<i64>,
    pub firing_at: Option<i64>,
    pub firing_conversation: Option<String>,
}

/// One line of a schedule's run history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CronRunRow {
    pub task_id: String,
    pub ts: i64,
    pub status: String,
    pub outcome: String,
    pub reason: String,
    pub error: Option<String>,
    pub summary: Option<String>,
    pub agent_id: String,
    pub conversation_id: Option<String>,
    pub queue_item_id: Option<String>,
    pub scheduled_for: Option<i64>,
    pub fired_at: Option<i64>,
    pub missed_count: Option<i64>,
}

/// The columns of `crons`, in [`CronRow`]'s order, for `concat!`.
macro_rules! columns {
    () => {
        "id, agent_id, conversation_id, name, description, cron, timezone, recurring, prompt, \
         status, created_at, scheduled_for, next_run_at, last_fired_at, fire_count, last_run_at, \
         last_run_outcome, last_run_reason, last_run_error, last_missed_at, missed_count, \
         failed_count, fired_at, missed_at, firing_at, firing_conversation"
    };
}

/// Schedules that ran or were missed before `?` (Unix ms), for `concat!`.
macro_rules! finished_before {
    () => {
        "SELECT id FROM crons WHERE status IN ('fired', 'missed')
         AND MAX(COALESCE(fired_at, 0), COALESCE(missed_at, 0), created_at) < ?"
    };
}

/// Lines of one schedule's history (`?1`), of one input (`?2`) if named.
macro_rules! runs_of {
    () => {
        "FROM cron_runs WHERE task_id = ?1 AND (?2 IS NULL OR queue_item_id = ?2)"
    };
}

impl Store {
    /// Writes a schedule whole, new or changed.
    pub async fn put_cron(&self, row: &CronRow) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT OR REPLACE INTO crons (",
            columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
            .bind(&row.id)
            .bind(&row.agent_id)
            .bind(&row.conversation_id)
            .bind(&row.name)
            .bind(&row.description)
            .bind(&row.cron)
            .bind(&row.timezone)
            .bind(row.recurring)
            .bind(&row.prompt)
            .bind(&row.status)
            .bind(row.created_at)
            .bind(row.scheduled_for)
            .bind(row.next_run_at)
            .bind(row.last_fired_at)
            .bind(row.fire_count)
            .bind(row.last_run_at)
            .bind(&row.last_run_outcome)
            .bind(&row.last_run_reason)
            .bind(&row.last_run_error)
            .bind(row.last_missed_at)
            .bind(row.missed_count)
            .bind(row.failed_count)
            .bind(row.fired_at)
            .bind(row.missed_at)
            .bind(row.firing_at)
            .bind(&row.firing_conversation)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    pub async fn cron(&self, id: &str) -> Result<Option<CronRow>, StoreError> {
        Ok(
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM crons WHERE id = ?"))
                .bind(id)
                .fetch_optional(&mut *self.connection().await?)
                .await?,
        )
    }

    /// Schedules, oldest first, of one agent and conversation if named.
    pub async fn crons(
        &self,
        agent_id: Option<&str>,
        conversation_id: Option<&str>,
    ) -> Result<Vec<CronRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM crons WHERE (?1 IS NULL OR agent_id = ?1)
             AND (?2 IS NULL OR conversation_id = ?2) ORDER BY created_at, id LIMIT ?3"
        ))
        .bind(agent_id)
        .bind(conversation_id)
        .bind(MAX_CRONS)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// How many schedules there are: of the agent that are active or
    /// paused, and in all.
    pub async fn count_crons(&self, agent_id: &str) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(SUM(agent_id = ? AND status IN ('active', 'paused')), 0), COUNT(*)
             FROM crons",
        )
        .bind(agent_id)
        .fetch_one(&mut *self.connection().await?)
        .await?)
    }

    /// Active schedules due at `now`, most overdue first.
    pub async fn due_crons(&self, now: i64) -> Result<Vec<CronRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM crons WHERE status = 'active' AND next_run_at <= ?
             ORDER BY next_run_at, id LIMIT 100"
        ))
        .bind(now)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// Deletes a schedule and its history; false if there was none.
    pub async fn delete_cron(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM cron_runs WHERE task_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM crons WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Deletes every schedule of an agent; returns how many.
    pub async fn delete_crons_of(&self, agent_id: &str) -> Result<u64, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "DELETE FROM cron_runs WHERE task_id IN (SELECT id FROM crons WHERE agent_id = ?)",
        )
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM crons WHERE agent_id = ?")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes one-off schedules that ran or were missed before `before`
    /// (Unix ms), with their history; returns how many.
    pub async fn delete_finished_crons(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(concat!(
            "DELETE FROM cron_runs WHERE task_id IN (",
            finished_before!(),
            ")"
        ))
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(concat!(
            "DELETE FROM crons WHERE id IN (",
            finished_before!(),
            ")"
        ))
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// Adds a line to a schedule's history, dropping the oldest past
    /// [`MAX_RUNS_KEPT`].
    pub async fn add_cron_run(&self, run: &CronRunRow) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO cron_runs (task_id, ts, status, outcome, reason, error, summary, agent_id,
                 conversation_id, queue_item_id, scheduled_for, fired_at, missed_count)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&run.task_id)
        .bind(run.ts)
        .bind(&run.status)
        .bind(&run.outcome)
        .bind(&run.reason)
        .bind(&run.error)
        .bind(&run.summary)
        .bind(&run.agent_id)
        .bind(&run.conversation_id)
        .bind(&run.queue_item_id)
        .bind(run.scheduled_for)
        .bind(run.fired_at)
        .bind(run.missed_count)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM cron_runs WHERE task_id = ?1 AND seq NOT IN
                 (SELECT seq FROM cron_runs WHERE task_id = ?1 ORDER BY seq DESC LIMIT ?2)",
        )
        .bind(&run.task_id)
        .bind(MAX_RUNS_KEPT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of a schedule's history, newest first, and how many lines
    /// match in all.
    pub async fn cron_runs(
        &self,
        task_id: &str,
        queue_item_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CronRunRow>, i64), StoreError> {
        let rows = sqlx::query_as(concat!(
            "SELECT task_id, ts, status, outcome, reason, error, summary, agent_id,
                 conversation_id, queue_item_id, scheduled_for, fired_at, missed_count ",
            runs_of!(),
            " ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
        ))
        .bind(task_id)
        .bind(queue_item_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        let (total,): (i64,) = sqlx::query_as(concat!("SELECT COUNT(*) ", runs_of!()))
            .bind(task_id)
            .bind(queue_item_id)
            .fetch_one(&mut *self.connection().await?)
            .await?;
        Ok((rows, total))
    }
}
