//! Several statements written as one transaction in one query. sqlx runs
//! SQLite on a worker thread and each statement sent on its own is another
//! round trip to it, waking a thread each way; a batch is one, whatever it
//! holds.

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Encode, Sqlite, Type};

use super::connection::Held;
use super::{Store, StoreError};

pub(super) struct Batch {
    sql: String,
    arguments: SqliteArguments,
    /// The first value that could not be bound.
    unbound: Option<sqlx::error::BoxDynError>,
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            sql: String::from("BEGIN IMMEDIATE;"),
            arguments: SqliteArguments::default(),
            unbound: None,
        }
    }

    /// Adds a statement; its `?`s take the values bound next, in order.
    pub(super) fn statement(&mut self, sql: &str) -> &mut Batch {
        self.sql.push_str(sql);
        self.sql.push(';');
        self
    }

    /// Adds SQL text to the statement being written (for a list of rows).
    pub(super) fn text(&mut self, sql: &str) -> &mut Batch {
        self.sql.push_str(sql);
        self
    }

    pub(super) fn bind<'t, T>(&mut self, value: T) -> &mut Batch
    where
        T: Encode<'t, Sqlite> + Type<Sqlite> + 't,
    {
        if let Err(err) = self.arguments.add(value) {
            self.unbound.get_or_insert(err);
        }
        self
    }

    /// Runs the batch: after a crash either all of it is there or none.
    pub(super) async fn write(mut self, store: &Store) -> Result<(), StoreError> {
        if let Some(err) = self.unbound {
            return Err(StoreError::Sqlx(sqlx::Error::Encode(err)));
        }
        self.sql.push_str("COMMIT;");
        let query = sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.arguments);
        let mut open = RolledBackIfAbandoned { connection: None };
        let connection = open.connection.insert(store.connection().await?);
        let written = query.execute(&mut **connection).await;
        if written.is_err() {
            // A statement failed inside the transaction this query opened;
            // end it before the connection is let go. (If BEGIN itself
            // failed there is nothing to roll back and this errs.)
            let _ = sqlx::query("ROLLBACK").execute(&mut **connection).await;
        }
        open.connection = None;
        written?;
        Ok(())
    }
}

/// The connection inside a transaction opened by hand (which sqlx's own
/// rollback does not know about). Should the future using it be dropped
/// before the transaction ends (an aborted turn, a closed connection), a
/// task of its own rolls it back before letting the connection go, instead
/// of the next statement running inside it, holding SQLite's write lock.
/// Take the connection out once the transaction has ended.
struct RolledBackIfAbandoned {
    connection: Option<Held>,
}

impl Drop for RolledBackIfAbandoned {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        // With no runtime the daemon is stopping and the connection closes,
        // which rolls the transaction back.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Fails harmlessly if the transaction did end.
                let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            });
        }
    }
}
