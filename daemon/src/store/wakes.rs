//! Wakes: turns scheduled for later, fired by the daemon's maintenance task.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WakeRow {
    pub id: String,
    pub runtime_id: i64,
    pub name: String,
    pub prompt: String,
    /// Unix milliseconds.
    pub due_at: i64,
    pub status: String,
}

impl Store {
    /// Schedules a wake; a wake with this id already there stays as it is
    /// (the call that created it is being run again).
    pub async fn schedule_wake(&self, wake: &WakeRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO wakes (id, runtime_id, name, prompt, due_at, status, created_at)
             VALUES (?, ?, ?, ?, ?, 'scheduled', ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&wake.id)
        .bind(wake.runtime_id)
        .bind(&wake.name)
        .bind(&wake.prompt)
        .bind(wake.due_at)
        .bind(crate::util::now_rfc3339())
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// The runtime's scheduled wakes, soonest first.
    pub async fn scheduled_wakes(&self, runtime_id: i64) -> Result<Vec<WakeRow>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT id, runtime_id, name, prompt, due_at, status FROM wakes
             WHERE runtime_id = ? AND status = 'scheduled' ORDER BY due_at, id",
        )
        .bind(runtime_id)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// Cancels a scheduled wake of the runtime; false if there is none.
    pub async fn cancel_wake(&self, runtime_id: i64, id: &str) -> Result<bool, StoreError> {
        let cancelled = sqlx::query(
            "UPDATE wakes SET status = 'cancelled' WHERE id = ? AND runtime_id = ? AND status = 'scheduled'",
        )
        .bind(id)
        .bind(runtime_id)
        .execute(&mut *self.connection().await?)
        .await?
        .rows_affected();
        Ok(cancelled > 0)
    }

    /// Every scheduled wake due at `now` (Unix ms), oldest first.
    pub async fn due_wakes(&self, now: i64) -> Result<Vec<WakeRow>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT id, runtime_id, name, prompt, due_at, status FROM wakes
             WHERE status = 'scheduled' AND due_at <= ? ORDER BY due_at, id LIMIT 100",
        )
        .bind(now)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// Records that a wake fired (its input is journaled).
    pub async fn wake_fired(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE wakes SET status = 'fired', fired_at = ? WHERE id = ? AND status = 'scheduled'",
        )
        .bind(crate::util::now_rfc3339())
        .bind(id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }
}
