//! The tool-call journal: requested -> decided -> executing -> stored ->
//! delivered, each step one committed transition, so a restarted daemon
//! knows exactly how far every call got.

use super::batch::Batch;
use super::{ResultStatus, Store, StoreError, ToolCallState, ToolDecision};

/// One journaled call.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ToolCallRow {
    pub tool_call_id: String,
    pub turn_id: String,
    pub tool_name: String,
    pub input: String,
    pub read_only: bool,
    pub state: ToolCallState,
    pub approval: Option<String>,
    pub suggestions: Option<String>,
    pub decision: Option<ToolDecision>,
    pub decision_reason: Option<String>,
    pub updated_input: Option<String>,
    pub result: Option<String>,
    pub result_status: Option<ResultStatus>,
    /// The content parts sent as the result, when it is more than text.
    pub result_content: Option<String>,
}

/// A decision on a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    pub allow: bool,
    pub reason: &'a str,
    pub updated_input: Option<&'a str>,
}

/// The columns of [`ToolCallRow`], for `concat!` into static queries.
macro_rules! columns {
    () => {
        "tool_call_id, turn_id, tool_name, input, read_only, state, approval, suggestions, \
         decision, decision_reason, updated_input, result, result_status, result_content"
    };
}

/// A call's result, to store once.
#[derive(Debug, Clone)]
pub struct ToolResult {
    pub tool_call_id: String,
    pub text: String,
    pub status: ResultStatus,
    /// Content parts (JSON) when the result is more than text.
    pub content: Option<String>,
}

/// Marks a decided call as executing, just before it runs.
pub(super) fn write_start(batch: &mut Batch, tool_call_id: String) {
    batch
        .statement(
            "UPDATE tool_calls SET state = 'executing', updated_at = ?
             WHERE tool_call_id = ? AND state = 'decided'",
        )
        .bind(crate::util::now_rfc3339())
        .bind(tool_call_id);
}

/// Stores a decided or executing call's result.
pub(super) fn write_result(batch: &mut Batch, result: ToolResult) {
    batch
        .statement(
            "UPDATE tool_calls SET state = 'stored', result = ?, result_status = ?,
                 result_content = ?, updated_at = ?
             WHERE tool_call_id = ? AND state IN ('decided', 'executing')",
        )
        .bind(result.text)
        .bind(result.status)
        .bind(result.content)
        .bind(crate::util::now_rfc3339())
        .bind(result.tool_call_id);
}

impl Store {
    /// Journals a requested call, or returns the row a previous attempt
    /// left (the call id is the key).
    pub async fn request_tool_call(
        &self,
        runtime_id: i64,
        turn_id: &str,
        tool_call_id: &str,
        tool_name: &str,
        input: &str,
        read_only: bool,
    ) -> Result<ToolCallRow, StoreError> {
        let inserted: Option<ToolCallRow> = sqlx::query_as(concat!(
            "INSERT INTO tool_calls (tool_call_id, runtime_id, turn_id, tool_name, input, read_only, state, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, 'requested', ?) ON CONFLICT (tool_call_id) DO NOTHING RETURNING ",
            columns!()
        ))
        .bind(tool_call_id)
        .bind(runtime_id)
        .bind(turn_id)
        .bind(tool_name)
        .bind(input)
        .bind(read_only)
        .bind(crate::util::now_rfc3339())
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        // A call requested before (a turn recovered after a crash) keeps
        // its row and its state.
        match inserted {
            Some(row) => Ok(row),
            None => self
                .tool_call(tool_call_id)
                .await?
                .ok_or(StoreError::Sqlx(sqlx::Error::RowNotFound)),
        }
    }

    pub async fn tool_call(&self, tool_call_id: &str) -> Result<Option<ToolCallRow>, StoreError> {
        let row = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM tool_calls WHERE tool_call_id = ?"
        ))
        .bind(tool_call_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row)
    }

    /// The runtime whose turn requested a call.
    pub async fn tool_call_runtime(&self, tool_call_id: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT runtime_id FROM tool_calls WHERE tool_call_id = ?")
                .bind(tool_call_id)
                .fetch_optional(&mut *self.connection().await?)
                .await?;
        Ok(row.map(|(runtime_id,)| runtime_id))
    }

    /// Records that a human is asked about a requested call.
    pub async fn ask_about_tool_call(
        &self,
        tool_call_id: &str,
        approval: &str,
        suggestions: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tool_calls SET approval = ?, suggestions = ?, updated_at = ?
             WHERE tool_call_id = ? AND state = 'requested'",
        )
        .bind(approval)
        .bind(suggestions)
        .bind(crate::util::now_rfc3339())
        .bind(tool_call_id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// Decides a requested call; `false` when it was decided already (the
    /// first decision wins) or is unknown.
    pub async fn decide_tool_call(
        &self,
        runtime_id: i64,
        tool_call_id: &str,
        decision: &Decision<'_>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE tool_calls SET state = 'decided', decision = ?, decision_reason = ?, updated_input = ?, updated_at = ?
             WHERE tool_call_id = ? AND runtime_id = ? AND state = 'requested'",
        )
        .bind(if decision.allow {
            ToolDecision::Allow
        } else {
            ToolDecision::Deny
        })
        .bind(decision.reason)
        .bind(decision.updated_input)
        .bind(crate::util::now_rfc3339())
        .bind(tool_call_id)
        .bind(runtime_id)
        .execute(&mut *self.connection().await?)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Marks stored results as delivered: the server accepted them.
    pub async fn deliver_tool_results(&self, tool_call_ids: &[String]) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        for id in tool_call_ids {
            sqlx::query(
                "UPDATE tool_calls SET state = 'delivered', updated_at = ? WHERE tool_call_id = ? AND state = 'stored'",
            )
            .bind(crate::util::now_rfc3339())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives a call that has no result yet an error result (after an
    /// abort); a stored result is kept.
    pub async fn interrupt_tool_call(
        &self,
        tool_call_id: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tool_calls SET state = 'stored', result = ?, result_status = 'error', updated_at = ?
             WHERE tool_call_id = ? AND state IN ('requested', 'decided', 'executing')",
        )
        .bind(message)
        .bind(crate::util::now_rfc3339())
        .bind(tool_call_id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// Results stored but not yet accepted by the server, oldest first.
    pub async fn undelivered_results(
        &self,
        runtime_id: i64,
    ) -> Result<Vec<ToolCallRow>, StoreError> {
        let rows = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM tool_calls WHERE runtime_id = ? AND state = 'stored' ORDER BY rowid"
        ))
        .bind(runtime_id)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// Calls of a runtime waiting for a human, oldest first.
    pub async fn pending_approvals(&self, runtime_id: i64) -> Result<Vec<ToolCallRow>, StoreError> {
        let rows = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM tool_calls WHERE runtime_id = ? AND state = 'requested' AND approval IS NOT NULL ORDER BY rowid"
        ))
        .bind(runtime_id)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// Rules saved for the rest of a runtime's session, in saving order.
    pub async fn session_rules(&self, runtime_id: i64) -> Result<Vec<String>, StoreError> {
        let (rules,): (String,) = sqlx::query_as("SELECT session_rules FROM runtimes WHERE id = ?")
            .bind(runtime_id)
            .fetch_one(&mut *self.connection().await?)
            .await?;
        Ok(serde_json::from_str(&rules).unwrap_or_default())
    }

    /// Adds session rules not saved yet, in one transaction.
    pub async fn add_session_rules(
        &self,
        runtime_id: i64,
        rules: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let (saved,): (String,) = sqlx::query_as("SELECT session_rules FROM runtimes WHERE id = ?")
            .bind(runtime_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut saved: Vec<String> = serde_json::from_str(&saved).unwrap_or_default();
        for rule in rules {
            if !saved.contains(rule) {
                saved.push(rule.clone());
            }
        }
        let encoded = serde_json::to_string(&saved).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query("UPDATE runtimes SET session_rules = ? WHERE id = ?")
            .bind(encoded)
            .bind(runtime_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StateChange, store_with_a_runtime};

    #[tokio::test]
    async fn the_tool_calls_version_moves_with_every_change_and_only_then() {
        let (_dir, store, runtime) = store_with_a_runtime().await;
        let mut seen = store.tool_calls_version();
        let mut moved = |store: &Store| {
            let now = store.tool_calls_version();
            let moved = now > seen;
            seen = now;
            moved
        };
        store
            .request_tool_call(runtime.id, "turn-1", "call-1", "Bash", "{}", false)
            .await
            .unwrap();
        assert!(moved(&store), "a call journaled");
        store.pending_approvals(runtime.id).await.unwrap();
        store.tool_call("call-1").await.unwrap();
        assert!(!moved(&store), "reads change nothing");
        store
            .ask_about_tool_call("call-1", "{}", "[]")
            .await
            .unwrap();
        assert!(moved(&store), "a question asked");
        let wakes_before = store.wakes_version();
        store
            .interrupt_tool_call("call-1", "aborted")
            .await
            .unwrap();
        assert!(moved(&store), "an interrupted call");
        assert_eq!(
            store.wakes_version(),
            wakes_before,
            "another table's version stays"
        );
    }

    #[tokio::test]
    async fn a_call_requested_again_keeps_its_row() {
        let (_dir, store, runtime) = store_with_a_runtime().await;
        let first = store
            .request_tool_call(runtime.id, "turn-1", "call-1", "Bash", "{}", false)
            .await
            .unwrap();
        assert_eq!(first.tool_name, "Bash");
        store
            .interrupt_tool_call("call-1", "aborted")
            .await
            .unwrap();
        let interrupted = store.tool_call("call-1").await.unwrap().unwrap();
        assert_ne!(interrupted, first);
        let again = store
            .request_tool_call(runtime.id, "turn-2", "call-1", "Read", "{\"x\":1}", true)
            .await
            .unwrap();
        assert_eq!(again, interrupted);
    }

    #[tokio::test]
    async fn a_runtimes_change_moves_its_version() {
        let (_dir, store, runtime) = store_with_a_runtime().await;
        let before = store.runtimes_version();
        store.session_rules(runtime.id).await.unwrap();
        assert_eq!(store.runtimes_version(), before, "reads change nothing");
        store
            .add_session_rules(runtime.id, &["Bash(ls)".to_owned()])
            .await
            .unwrap();
        assert!(store.runtimes_version() > before);
    }

    #[tokio::test]
    async fn a_result_with_content_parts_is_kept_for_sending_again() {
        let (_dir, store, runtime) = store_with_a_runtime().await;
        for id in ["text-call", "image-call"] {
            store
                .request_tool_call(runtime.id, "turn-1", id, "ViewImage", "{}", true)
                .await
                .unwrap();
            let allow = Decision {
                allow: true,
                reason: "test",
                updated_input: None,
            };
            store
                .decide_tool_call(runtime.id, id, &allow)
                .await
                .unwrap();
        }
        let result = |id: &str, text: &str, content: Option<&str>| ToolResult {
            tool_call_id: id.to_owned(),
            text: text.to_owned(),
            status: ResultStatus::Success,
            content: content.map(str::to_owned),
        };
        store
            .append_events(
                runtime.id,
                &[],
                None,
                Some(StateChange::ToolResult(result("text-call", "plain", None))),
            )
            .await
            .unwrap();
        let parts = r#"[{"type":"text","text":"[Image]"}]"#;
        store
            .append_events(
                runtime.id,
                &[],
                None,
                Some(StateChange::ToolResult(result(
                    "image-call",
                    "[Image]",
                    Some(parts),
                ))),
            )
            .await
            .unwrap();
        let pending = store.undelivered_results(runtime.id).await.unwrap();
        let kept: Vec<(Option<&str>, Option<&str>)> = pending
            .iter()
            .map(|row| (row.result.as_deref(), row.result_content.as_deref()))
            .collect();
        assert_eq!(
            kept,
            [(Some("plain"), None), (Some("[Image]"), Some(parts))]
        );
    }
}
