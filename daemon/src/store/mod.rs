//! The daemon's SQLite database (WAL), opened and migrated at start.
//!
//! Every durable state change goes through a function here whose name says
//! the transition, each one transaction.

mod events;
pub mod local;
mod runtimes;
mod states;
mod tool_calls;
mod turns;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use events::CursorAdvance;
pub use runtimes::RuntimeRow;
pub use states::{
    Disposition, ExternalCallStatus, InputStatus, ResultStatus, RunStatus, ToolCallState,
    ToolDecision,
};
pub use tool_calls::{Decision, ToolCallRow};
pub use turns::{ExternalCallRow, InputRow, Recorded, RunRow};

/// Migrations from `migrations/`, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "daemon.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// A previous run that did not stop cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncleanRun {
    pub pid: i64,
    pub started_at: String,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL loses no committed transaction on a process
            // crash; only an OS crash can drop the last few.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Checkpoints run in the background (`checkpoint`), not inside
            // whichever commit crosses the threshold: that commit would
            // otherwise wait for an fsync of the database file, and a chunk
            // would reach frontends tens of milliseconds late.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Records this run's start; returns its id and the earlier runs that
    /// never recorded a clean stop (which are then marked as seen).
    pub async fn record_daemon_start(
        &self,
        pid: u32,
        version: &str,
        started_at: &str,
    ) -> Result<(i64, Vec<UncleanRun>), StoreError> {
        let mut tx = self.write_transaction().await?;
        let unclean: Vec<(i64, String)> = sqlx::query_as(
            "SELECT pid, started_at FROM daemon_runs WHERE stopped_at IS NULL ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE daemon_runs SET stopped_at = 'unclean' WHERE stopped_at IS NULL")
            .execute(&mut *tx)
            .await?;
        let id = sqlx::query("INSERT INTO daemon_runs (pid, version, started_at) VALUES (?, ?, ?)")
            .bind(i64::from(pid))
            .bind(version)
            .bind(started_at)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
        tx.commit().await?;
        let unclean = unclean
            .into_iter()
            .map(|(pid, started_at)| UncleanRun { pid, started_at })
            .collect();
        Ok((id, unclean))
    }

    /// Records that run `id` stopped cleanly.
    pub async fn record_daemon_stop(&self, id: i64, stopped_at: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE daemon_runs SET stopped_at = ? WHERE id = ?")
            .bind(stopped_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts a transaction that writes. `BEGIN IMMEDIATE` takes the write
    /// lock up front, so the busy timeout applies; a deferred transaction
    /// that reads first fails at once with SQLITE_BUSY when another
    /// connection wrote in between.
    async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Copies committed WAL content into the database file without blocking
    /// writers. Called periodically by the daemon's maintenance task.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Waits for open connections to finish and closes the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unclean_run_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let store = Store::open(&path).await.unwrap();
        let (first, unclean) = store.record_daemon_start(10, "0.1.0", "t1").await.unwrap();
        assert!(unclean.is_empty());
        store.close().await;

        // The first run never recorded a stop: the next start reports it.
        let store = Store::open(&path).await.unwrap();
        let (second, unclean) = store.record_daemon_start(11, "0.1.0", "t2").await.unwrap();
        assert_eq!(
            unclean,
            vec![UncleanRun {
                pid: 10,
                started_at: "t1".into()
            }]
        );
        assert_ne!(first, second);
        store.record_daemon_stop(second, "t3").await.unwrap();
        store.close().await;

        let store = Store::open(&path).await.unwrap();
        let (_, unclean) = store.record_daemon_start(12, "0.1.0", "t4").await.unwrap();
        assert!(unclean.is_empty());
    }
}
