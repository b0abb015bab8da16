//! Terminals frontends opened, and how each ended.

use super::{Store, StoreError};

/// How a terminal ended.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TerminalEnd {
    pub exit_code: i32,
    pub end_reason: Option<String>,
}

impl Store {
    /// Records a started terminal, replacing an ended one of the same id.
    pub async fn record_terminal_start(
        &self,
        id: &str,
        pid: u32,
        cwd: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO terminals (id, pid, cwd, started_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, cwd = excluded.cwd,
                 started_at = excluded.started_at, ended_at = NULL, exit_code = NULL,
                 end_reason = NULL",
        )
        .bind(id)
        .bind(pid)
        .bind(cwd)
        .bind(crate::util::now_rfc3339())
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    pub async fn record_terminal_end(
        &self,
        id: &str,
        exit_code: i32,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE terminals SET ended_at = ?, exit_code = ?, end_reason = ?
             WHERE id = ? AND ended_at IS NULL",
        )
        .bind(crate::util::now_rfc3339())
        .bind(exit_code)
        .bind(reason)
        .bind(id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// Ends every terminal an earlier daemon left recorded as running (it
    /// stopped or crashed with them); returns how many.
    pub async fn end_terminals_left_running(&self, reason: &str) -> Result<u64, StoreError> {
        let ended = sqlx::query(
            "UPDATE terminals SET ended_at = ?, exit_code = 129, end_reason = ?
             WHERE ended_at IS NULL",
        )
        .bind(crate::util::now_rfc3339())
        .bind(reason)
        .execute(&mut *self.connection().await?)
        .await?
        .rows_affected();
        Ok(ended)
    }

    /// How the terminal `id` ended, if it is known and ended.
    pub async fn terminal_end(&self, id: &str) -> Result<Option<TerminalEnd>, StoreError> {
        let end = sqlx::query_as(
            "SELECT exit_code, end_reason FROM terminals WHERE id = ? AND ended_at IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(end)
    }
}
