//! Monitors the agent started, kept so a daemon restart starts them again
//! (or reports them ended) instead of losing them.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MonitorRow {
    pub id: String,
    pub runtime_id: i64,
    pub description: String,
    pub command: String,
    pub cwd: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// `None`: persistent.
    pub timeout_ms: Option<i64>,
}

impl Store {
    /// Records a started monitor; one with this id already there stays as
    /// it is.
    pub async fn monitor_started(&self, monitor: &MonitorRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO monitors (id, runtime_id, description, command, cwd, started_at, timeout_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&monitor.id)
        .bind(monitor.runtime_id)
        .bind(&monitor.description)
        .bind(&monitor.command)
        .bind(&monitor.cwd)
        .bind(monitor.started_at)
        .bind(monitor.timeout_ms)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// The runtime's monitors meant to be running: those that were when
    /// the daemon last stopped, and those running now.
    pub async fn running_monitors(&self, runtime_id: i64) -> Result<Vec<MonitorRow>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT id, runtime_id, description, command, cwd, started_at, timeout_ms
             FROM monitors WHERE runtime_id = ? ORDER BY started_at, id",
        )
        .bind(runtime_id)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// Forgets a monitor that ended: it is not to be started again.
    pub async fn monitor_ended(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM monitors WHERE id = ?")
            .bind(id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }
}
