//! The daemon's SQLite database (WAL), opened and migrated at start.
//!
//! Every durable state change goes through a function here whose name says
//! the transition, each one transaction.

mod batch;
mod connection;
pub mod crons;
pub mod daemon_settings;
mod events;
pub mod local;
mod monitors;
mod plans;
mod runtimes;
mod states;
mod subagents;
pub mod terminals;
mod tool_calls;
mod turns;
mod wakes;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, SqliteConnection, SqlitePool};

pub use connection::Transaction;
pub use events::{CursorAdvance, InputStatusUpdate, RunFinish, StateChange};
pub use monitors::MonitorRow;
pub use runtimes::RuntimeRow;
pub use states::{
    Disposition, ExternalCallStatus, InputStatus, ResultStatus, RunStatus, ToolCallState,
    ToolDecision,
};
pub use subagents::SubagentRow;
pub use tool_calls::{Decision, ToolCallRow, ToolResult};
pub use turns::{ExternalCallRow, InputRow, NewInput, Recorded, RunRow};
pub use wakes::WakeRow;

/// Migrations from `migrations/`, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "daemon.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite's `SQLITE_FULL`, or new work refused as the database nears
    /// its limit. Nothing already committed is lost.
    #[error(
        "the database is full (its limit, --max-database-mib, or the disk): new work is refused \
         until there is room; nothing already stored is lost"
    )]
    Full,
    /// The daemon stopped (or a bug struck) before a write finished; a
    /// write that began either committed whole or left nothing.
    #[error("the write was interrupted before it finished")]
    Interrupted,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> StoreError {
        const SQLITE_FULL: i64 = 13;
        let full = err
            .as_database_error()
            .and_then(|err| err.code())
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| code & 0xff == SQLITE_FULL);
        if full {
            StoreError::Full
        } else {
            StoreError::Sqlx(err)
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// The connection all work but checkpoints goes through.
    connection: connection::Shared,
    /// A connection of its own for checkpoints, which then never hold up
    /// the work on `connection`.
    checkpoints: SqlitePool,
    /// Transactions committed since the database was opened.
    commits: Arc<AtomicU64>,
    /// Versions of the tables the runtimes keep copies of.
    versions: Arc<TableVersions>,
    /// The database's file.
    path: Arc<Path>,
    /// The most the database may grow to, in bytes.
    limit: Option<u64>,
}

/// Bumped whenever a row of the table changes (SQLite's update hook).
#[derive(Debug, Default)]
struct TableVersions {
    tool_calls: AtomicU64,
    wakes: AtomicU64,
    runtimes: AtomicU64,
}

impl TableVersions {
    fn bump(&self, table: &str) {
        let version = match table {
            "tool_calls" => &self.tool_calls,
            "wakes" => &self.wakes,
            "runtimes" => &self.runtimes,
            _ => return,
        };
        version.fetch_add(1, Ordering::AcqRel);
    }
}

/// The share of its size limit past which the database takes no new work
/// (inputs, runtimes), in percent: the turns already running keep room to
/// finish and record how they ended.
const NEARLY_FULL: u64 = 90;

/// The free space on the database's disk below which it takes no new work,
/// for the same reason: a disk that fills up entirely fails every write,
/// even a frontend's `sync` (which records what it was sent).
const DISK_RESERVE: u64 = 16 * 1024 * 1024;

/// A previous run that did not stop cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncleanRun {
    pub pid: i64,
    pub started_at: String,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`, with
    /// no limit on its size.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_limited(path, None).await
    }

    /// Opens (creating if needed) and migrates the database at `path`,
    /// which grows no larger than `limit_bytes`.
    pub async fn open_limited(path: &Path, limit_bytes: Option<u64>) -> Result<Store, StoreError> {
        let mut options = SqliteConnectOptions::from_str("sqlite://")?
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
        if let Some(limit) = limit_bytes {
            // Pages of SQLite's default size, 4 KiB.
            options = options.pragma("max_page_count", (limit / 4096).max(1).to_string());
        }
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let versions = Arc::new(TableVersions::default());
        let changed = versions.clone();
        // One connection: each connection's page cache is dropped whenever
        // another connection writes, and SQLite has one writer at a time
        // anyway; with several, a turn's statements paid for re-reading
        // their pages (first frame of a local turn: 1.8 ms -> 0.9 ms).
        let mut connection = SqliteConnection::connect_with(&options).await?;
        {
            let mut handle = connection.lock_handle().await?;
            handle.set_commit_hook(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                true
            });
            // Called as each row changes, on the only connection that
            // writes: a reader that read a version before its query gets
            // the connection only after the change's transaction ended, so
            // it never keeps an older copy under a newer version.
            handle.set_update_hook(move |change| changed.bump(change.table));
        }
        MIGRATOR.run(&mut connection).await?;
        let checkpoints = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Store {
            connection: connection::Shared::new(connection),
            checkpoints,
            commits,
            versions,
            path: Arc::from(path),
            limit: limit_bytes,
        })
    }

    /// Refuses new work (inputs, runtimes) while the database uses more
    /// than [`NEARLY_FULL`] of its limit, or its disk has less than
    /// [`DISK_RESERVE`] free; it takes work again once there is room
    /// (retention trims old events, the limit is raised, the disk is
    /// cleared). The sizes of the database and WAL files bound what it uses
    /// from above, so SQLite's page counts are only asked for when they
    /// come near.
    pub async fn check_room(&self) -> Result<(), StoreError> {
        let available = nix::sys::statvfs::statvfs(&*self.path)
            .map(|disk| disk.blocks_available().saturating_mul(disk.fragment_size()));
        if let Ok(available) = available
            && available < DISK_RESERVE
        {
            tracing::warn!(available, "the disk is nearly full: new work is refused");
            return Err(StoreError::Full);
        }
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let size = |path: &std::ffi::OsStr| std::fs::metadata(path).map_or(0, |meta| meta.len());
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        let files = size(self.path.as_os_str()) + size(&wal);
        if files.saturating_mul(100) <= limit.saturating_mul(NEARLY_FULL) {
            return Ok(());
        }
        let (pages, free, page_size): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT page_count FROM pragma_page_count()), \
                    (SELECT freelist_count FROM pragma_freelist_count()), \
                    (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&mut *self.connection().await?)
        .await?;
        let used = u64::try_from((pages - free).max(0) * page_size).unwrap_or(u64::MAX);
        if used.saturating_mul(100) > limit.saturating_mul(NEARLY_FULL) {
            tracing::warn!(
                used,
                limit,
                "the database is nearly full: new work is refused"
            );
            return Err(StoreError::Full);
        }
        Ok(())
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
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    /// Starts a transaction that writes. `BEGIN IMMEDIATE` takes the write
    /// lock up front, so the busy timeout applies; a deferred transaction
    /// that reads first fails at once with SQLITE_BUSY when another
    /// connection wrote in between.
    async fn write_transaction(&self) -> Result<Transaction, StoreError> {
        Transaction::begin(&self.connection, "BEGIN IMMEDIATE").await
    }

    /// The connection, for one statement or a few; others wait meanwhile.
    async fn connection(&self) -> Result<connection::Held, StoreError> {
        self.connection.hold().await
    }

    /// The version of the `tool_calls` table: read it before reading
    /// tool calls; while it stays the same, what was read is still true.
    pub fn tool_calls_version(&self) -> u64 {
        self.versions.tool_calls.load(Ordering::Acquire)
    }

    /// The version of the `wakes` table, as [`Store::tool_calls_version`].
    pub fn wakes_version(&self) -> u64 {
        self.versions.wakes.load(Ordering::Acquire)
    }

    /// The version of the `runtimes` table, as [`Store::tool_calls_version`].
    pub fn runtimes_version(&self) -> u64 {
        self.versions.runtimes.load(Ordering::Acquire)
    }

    /// Transactions committed since the database was opened.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Copies committed WAL content into the database file without blocking
    /// writers. Called by the daemon's maintenance task when
    /// [`CheckpointSchedule`] says so.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.checkpoints)
            .await?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    /// Waits for open connections to finish and closes the database.
    pub async fn close(&self) {
        self.checkpoints.close().await;
        self.connection.close().await;
    }
}

/// When the WAL is copied into the database file. A checkpoint costs a
/// burst of work that delays the commits beside it (several milliseconds on
/// a small machine), so it runs once the daemon has been quiet for a tick,
/// and during a long burst of writes only every [`CHECKPOINT_AFTER_COMMITS`]
/// commits, which bounds the WAL.
#[derive(Debug, Default)]
pub struct CheckpointSchedule {
    checkpointed_at: u64,
    seen: u64,
}

/// Commits (a chunk is one, of a few pages) after which a checkpoint runs
/// even while writes go on: a WAL of some tens of MiB at most.
pub const CHECKPOINT_AFTER_COMMITS: u64 = 2000;

impl CheckpointSchedule {
    /// Called every maintenance tick with [`Store::commits`]: whether to
    /// checkpoint now.
    pub fn due(&mut self, commits: u64) -> bool {
        let pending = commits.saturating_sub(self.checkpointed_at);
        let quiet = commits == self.seen;
        self.seen = commits;
        let due = pending > 0 && (quiet || pending >= CHECKPOINT_AFTER_COMMITS);
        if due {
            self.checkpointed_at = commits;
        }
        due
    }
}

/// A store in a temporary directory holding one runtime (agent `agent-1`,
/// its default conversation), for tests.
#[cfg(test)]
pub(crate) async fn store_with_a_runtime() -> (tempfile::TempDir, Store, RuntimeRow) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join(DATABASE_FILE)).await.unwrap();
    let runtime = store
        .upsert_runtime("agent-1", "default", "/", "standard", "t")
        .await
        .unwrap();
    (dir, store, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_wait_for_a_quiet_tick_or_a_long_burst() {
        let mut schedule = CheckpointSchedule::default();
        assert!(!schedule.due(0), "nothing written");
        assert!(!schedule.due(10), "still writing");
        assert!(schedule.due(10), "quiet for a tick");
        assert!(!schedule.due(10), "nothing new since");
        let mut commits = 10;
        let mut checkpoints = 0;
        for _ in 0..10 {
            commits += 500;
            checkpoints += u32::from(schedule.due(commits));
        }
        assert_eq!(checkpoints, 2, "5000 commits without a pause");
    }

    /// Past 90% of the limit new work is refused; at the limit SQLite's
    /// own refusal is the same typed error, and what was committed stays.
    #[tokio::test]
    async fn a_full_database_refuses_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let store = Store::open_limited(&path, Some(1024 * 1024)).await.unwrap();
        store.check_room().await.unwrap();
        let big = "x".repeat(16 * 1024);
        let mut written = 0;
        let full = loop {
            match store.record_daemon_start(written, &big, "t").await {
                Ok(_) => written += 1,
                Err(err) => break err,
            }
            assert!(written < 1000, "the limit holds");
        };
        assert!(matches!(full, StoreError::Full), "{full:?}");
        assert!(full.to_string().contains("--max-database-mib"), "{full}");
        assert!(matches!(store.check_room().await, Err(StoreError::Full)));
        store.close().await;

        let reopened = Store::open_limited(&path, Some(64 * 1024 * 1024))
            .await
            .unwrap();
        reopened.check_room().await.unwrap();
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM daemon_runs")
            .fetch_one(&mut *reopened.connection().await.unwrap())
            .await
            .unwrap();
        assert_eq!(kept, i64::from(written), "every committed row kept");
        reopened.record_daemon_start(0, "0.1.0", "t").await.unwrap();
    }

    #[tokio::test]
    async fn commits_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(DATABASE_FILE)).await.unwrap();
        let before = store.commits();
        store.record_daemon_start(1, "0.1.0", "t").await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.commits(), before + 1, "one write transaction");
    }

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
