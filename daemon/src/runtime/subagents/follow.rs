//! Following a subagent to its end: wait until its task's turn (and any
//! message sent to it meanwhile) is done, take its newest assistant message
//! as the report, keep it in the output file, and tell the parent once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{REPORT_CHARS, REPORT_SEARCH};
use crate::runtime::{Runtime, RuntimeError, Runtimes};
use crate::store::{InputStatus, SubagentRow};
use crate::util::{lock, now_millis};

/// Waits for a subagent's task to end, then tells its parent, once.
pub(super) async fn follow(runtimes: Arc<Runtimes>, id: String) {
    if let Err(err) = follow_to_the_end(&runtimes, &id).await {
        tracing::warn!(subagent = %id, error = %err, "cannot follow a subagent");
    }
}

async fn follow_to_the_end(runtimes: &Runtimes, id: &str) -> Result<(), RuntimeError> {
    let Some(row) = runtimes.store.subagent(id).await? else {
        return Ok(());
    };
    if row.notified {
        return Ok(());
    }
    // A launch cut short finishes when its call runs again.
    let (Some(agent_id), Some(conversation_id)) = (&row.agent_id, &row.conversation_id) else {
        return Ok(());
    };
    if matches!(row.status.as_str(), "launching" | "running") {
        let child = runtimes
            .open_with(Some(agent_id), conversation_id, None, None)
            .await?;
        let mut ended = child.turns_ended.subscribe();
        let status = loop {
            match runtimes
                .store
                .input_status(child.id, &row.assignment)
                .await?
            {
                Some(
                    status @ (InputStatus::Finished | InputStatus::Cancelled | InputStatus::Failed),
                ) => {
                    break status;
                }
                _ => {
                    if ended.changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        };
        // Messages sent to it meanwhile (SendAgentMessage) are part of the
        // task: the report is what it says once it is idle.
        loop {
            let idle = {
                let state = lock(&child.state);
                state.running.is_none() && state.queue.is_empty()
            };
            if idle || ended.changed().await.is_err() {
                break;
            }
        }
        let report = report_of(&child).await;
        let (status, result, error) = match (status, report) {
            (InputStatus::Finished, Some(report)) => ("completed", Some(report), None),
            (InputStatus::Finished, None) => (
                "completed",
                Some("(The subagent ended without a report.)".to_owned()),
                None,
            ),
            (InputStatus::Cancelled, _) => {
                ("error", None, Some("its task was cancelled".to_owned()))
            }
            _ => (
                "error",
                None,
                Some("its task failed; its conversation says why".to_owned()),
            ),
        };
        runtimes
            .store
            .finish_subagent(
                id,
                status,
                result.as_deref(),
                error.as_deref(),
                now_millis(),
            )
            .await?;
    }
    let Some(row) = runtimes.store.subagent(id).await? else {
        return Ok(());
    };
    let Some(parent) = runtimes.by_id(row.parent_runtime_id).await else {
        return Ok(());
    };
    keep_report(&parent.report_file(&row.id), &row).await;
    if row.tell_parent {
        parent
            .accept_daemon_message(notice(&row), format!("notice-{}", row.assignment))
            .await?;
    }
    runtimes.store.mark_subagent_notified(id).await?;
    parent.subagents_reported.send_modify(|count| *count += 1);
    parent.announce_subagents().await;
    Ok(())
}

/// Writes the report where the launch said it would be.
async fn keep_report(path: &std::path::Path, row: &SubagentRow) {
    let text = match (&row.result, &row.error) {
        (Some(result), _) => result.clone(),
        (None, Some(error)) => format!("The subagent did not finish: {error}.\n"),
        (None, None) => String::new(),
    };
    let path = path.to_path_buf();
    let written = crate::fs::blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text)
    })
    .await;
    if let Err(err) = written {
        tracing::warn!(subagent = %row.id, error = %err, "cannot write a subagent's report");
    }
}

/// The subagent's report: its newest assistant message.
async fn report_of(child: &Runtime) -> Option<String> {
    let query = json!({ "limit": REPORT_SEARCH, "order": "desc" });
    let listed = tokio::time::timeout(
        Duration::from_secs(60),
        child
            .backend
            .list_conversation_messages(&child.scope.conversation_id, &query),
    )
    .await
    .ok()?
    .ok()?;
    let messages = listed
        .as_array()
        .cloned()
        .or_else(|| listed["messages"].as_array().cloned())?;
    // Newest first, as asked.
    let newest = messages
        .iter()
        .find(|message| message["message_type"] == "assistant_message")?;
    let text = match &newest["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => return None,
    };
    Some(
        crate::tools::truncate_chars(&text, REPORT_CHARS)
            .0
            .to_owned(),
    )
}

/// The message that brings a subagent's end to its parent.
fn notice(row: &SubagentRow) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let outcome = match (&row.result, &row.error) {
        (Some(result), _) => result.clone(),
        (None, Some(error)) => format!("The subagent did not finish: {error}."),
        (None, None) => String::new(),
    };
    let duration = row
        .finished_at_ms
        .map_or(0, |end| end.saturating_sub(row.started_at_ms));
    format!(
        "<task-notification>\n<task-id>{}</task-id>\n<status>{}</status>\n<summary>{}</summary>\n\
         <result>{}</result>\n<usage>duration_ms: {duration}</usage>\n</task-notification>",
        row.id,
        row.status,
        escape(&format!(
            "{} subagent \"{}\" {}",
            row.subagent_type,
            row.description,
            if row.status == "completed" {
                "completed"
            } else {
                "failed"
            }
        )),
        escape(&outcome),
    )
}
