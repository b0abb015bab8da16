//! Conversation plans, changed only together with the tool call's result.

use super::{ResultStatus, Store, StoreError};

impl Store {
    /// The runtime's plan (JSON), if it ever had one.
    pub async fn plan(&self, runtime_id: i64) -> Result<Option<String>, StoreError> {
        let plan = sqlx::query_scalar("SELECT plan FROM plans WHERE runtime_id = ?")
            .bind(runtime_id)
            .fetch_optional(&mut *self.connection().await?)
            .await?;
        Ok(plan)
    }

    /// Stores a plan tool's result and, when the call changed it, the new
    /// plan, in one transaction: after a crash the call has either changed
    /// the plan and has its result, or neither.
    pub async fn store_plan_call(
        &self,
        runtime_id: i64,
        tool_call_id: &str,
        plan: Option<&str>,
        result: &str,
        status: ResultStatus,
    ) -> Result<(), StoreError> {
        let now = crate::util::now_rfc3339();
        let mut tx = self.write_transaction().await?;
        let stored = sqlx::query(
            "UPDATE tool_calls SET state = 'stored', result = ?, result_status = ?, updated_at = ?
             WHERE tool_call_id = ? AND state = 'decided'",
        )
        .bind(result)
        .bind(status)
        .bind(&now)
        .bind(tool_call_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if stored == 0 {
            // Stored before (the call is being finished again): its change
            // is in the plan already.
            return Ok(());
        }
        if let Some(plan) = plan {
            sqlx::query(
                "INSERT INTO plans (runtime_id, plan, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT (runtime_id) DO UPDATE SET plan = excluded.plan, updated_at = excluded.updated_at",
            )
            .bind(runtime_id)
            .bind(plan)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
