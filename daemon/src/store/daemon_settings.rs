//! Daemon-wide settings frontends change at run time, by key.

use super::{Store, StoreError};

/// The directory runtimes started without one work in.
pub const BOOT_WORKING_DIRECTORY: &str = "boot_working_directory";

impl Store {
    pub async fn daemon_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM daemon_settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&mut *self.connection().await?)
            .await?;
        Ok(value)
    }

    pub async fn set_daemon_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO daemon_settings (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }
}
