//! The one connection every statement goes through, taken in turn.
//!
//! sqlx runs a SQLite connection on a worker thread. Through a pool, each
//! statement also paid for the pool: giving a connection back pings it on
//! the worker from a task spawned for the purpose, so a one-statement read
//! woke threads about 12 times instead of 3 (87-116 µs against 20-25 µs
//! here). The daemon only ever used one connection anyway (see
//! [`super::Store::open_limited`]), so it holds that connection itself
//! behind a FIFO lock, as the pool's one permit did.

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteTransactionManager;
// sqlx uses this trait for its own transactions but does not re-export it.
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::StoreError;

/// How long a statement waits for the connection before it fails (sqlx's
/// pool waited as long): only a bug that holds it across another wait for
/// it could take this long.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(30);

/// The connection, or none once the store is closed.
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<Mutex<Option<SqliteConnection>>>);

/// The connection, held until dropped.
pub(super) type Held = OwnedMappedMutexGuard<Option<SqliteConnection>, SqliteConnection>;

impl Shared {
    pub(super) fn new(connection: SqliteConnection) -> Shared {
        Shared(Arc::new(Mutex::new(Some(connection))))
    }

    /// Waits for the connection, in the order asked.
    pub(super) async fn hold(&self) -> Result<Held, StoreError> {
        let guard = match self.0.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => tokio::time::timeout(WAIT_FOR_CONNECTION, self.0.clone().lock_owned())
                .await
                .map_err(|_| StoreError::Sqlx(sqlx::Error::PoolTimedOut))?,
        };
        OwnedMutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| StoreError::Sqlx(sqlx::Error::PoolClosed))
    }

    /// Waits for the statements before to finish, then closes the
    /// connection; later statements fail.
    pub(super) async fn close(&self) {
        if let Some(connection) = self.0.lock().await.take() {
            let _ = sqlx::Connection::close(connection).await;
        }
    }
}

/// A transaction on the held connection; statements run on it through
/// `&mut *transaction`. Dropped before [`Transaction::commit`] (an error
/// returned early, a task aborted midway), it is rolled back before anyone
/// else gets the connection: the rollback is queued on the connection's
/// worker ahead of any later statement.
pub struct Transaction {
    connection: Held,
    open: bool,
}

impl Transaction {
    pub(super) async fn begin(
        shared: &Shared,
        statement: &'static str,
    ) -> Result<Self, StoreError> {
        let mut transaction = Transaction {
            connection: shared.hold().await?,
            // Open before BEGIN is even sent: a BEGIN whose answer was never
            // awaited may still have run.
            open: true,
        };
        SqliteTransactionManager::begin(
            &mut transaction.connection,
            Some(sqlx::SqlStr::from_static(statement)),
        )
        .await?;
        Ok(transaction)
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        SqliteTransactionManager::commit(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }
}

impl std::ops::Deref for Transaction {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.connection
    }
}

impl std::ops::DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.open {
            // A no-op if the transaction had already ended (a COMMIT that
            // ran but whose answer was not awaited).
            SqliteTransactionManager::start_rollback(&mut self.connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    async fn store_with_table() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *store.connection().await.unwrap())
            .await
            .unwrap();
        (dir, store)
    }

    async fn rows(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *store.connection().await.unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_transaction_dropped_uncommitted_is_rolled_back() {
        let (_dir, store) = store_with_table().await;
        let mut transaction = store.write_transaction().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *transaction)
            .await
            .unwrap();
        drop(transaction);
        assert_eq!(rows(&store).await, 0);

        let mut transaction = store.write_transaction().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *transaction)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        assert_eq!(rows(&store).await, 1);
    }

    /// Aborted at every point (waiting for the connection, mid-BEGIN,
    /// mid-statement, mid-COMMIT), a writer leaves either all of its rows
    /// or none, and the next writer neither waits nor writes inside it.
    #[tokio::test]
    async fn a_transaction_abandoned_anywhere_is_all_or_nothing() {
        let (_dir, store) = store_with_table().await;
        for yields in 0..24 {
            let writer = tokio::spawn({
                let store = store.clone();
                async move {
                    let mut transaction = store.write_transaction().await?;
                    for _ in 0..10 {
                        sqlx::query("INSERT INTO t VALUES (1)")
                            .execute(&mut *transaction)
                            .await?;
                    }
                    transaction.commit().await
                }
            });
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            writer.abort();
            let _ = writer.await;

            let before = rows(&store).await;
            assert_eq!(before % 10, 0, "after abandoning write {yields}");
            let written = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                let mut transaction = store.write_transaction().await?;
                sqlx::query("INSERT INTO t VALUES (2)")
                    .execute(&mut *transaction)
                    .await?;
                drop(transaction);
                Ok::<_, super::StoreError>(())
            })
            .await;
            assert!(
                matches!(written, Ok(Ok(()))),
                "after write {yields}: {written:?}"
            );
            assert_eq!(rows(&store).await, before, "a rolled-back row stayed");
        }
    }

    #[tokio::test]
    async fn a_closed_store_refuses_statements() {
        let (_dir, store) = store_with_table().await;
        store.close().await;
        assert!(store.connection().await.is_err());
        assert!(store.write_transaction().await.is_err());
    }
}
