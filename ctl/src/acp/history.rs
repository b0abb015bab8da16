//! What a loaded session shows from before the daemon's event log: the
//! conversation's stored messages older than the log's first event (a
//! conversation started elsewhere, or a log trimmed by retention).

use letta_client::RpcClient;
use letta_protocol::{ConversationMessagesListParams, RuntimeScope, methods};
use serde_json::{Map, Value, json};

use crate::error::CtlError;

/// Most older messages shown; the oldest beyond are left out, and said so.
pub const MAX_OLDER: usize = 2000;
/// Messages asked for at a time.
const PAGE: u64 = 100;
/// Pages read at most (the newest pages may all be in the log).
const MAX_PAGES: usize = 200;

/// The stored messages of the runtime's conversation dated before
/// `boundary` (RFC 3339), oldest first; and whether older ones were left
/// out.
pub async fn older_than(
    client: &RpcClient,
    scope: &RuntimeScope,
    boundary: &str,
) -> Result<(Vec<Value>, bool), CtlError> {
    let boundary: jiff::Timestamp = boundary
        .parse()
        .map_err(|err| CtlError::Failed(format!("the log's first event has no time: {err}")))?;
    let mut older = Vec::new();
    let mut before: Option<String> = None;
    // Left out unless the pages end before the bounds do.
    let mut left_out = true;
    'pages: for _ in 0..MAX_PAGES {
        let mut query = Map::new();
        query.insert("limit".into(), json!(PAGE));
        query.insert("order".into(), json!("desc"));
        if let Some(agent_id) = &scope.agent_id {
            query.insert("agent_id".into(), json!(agent_id));
        }
        if let Some(before) = &before {
            query.insert("before".into(), json!(before));
        }
        let page = client
            .call::<methods::ConversationMessagesList>(&ConversationMessagesListParams {
                conversation_id: scope.conversation_id.clone(),
                query: Some(query),
            })
            .await?;
        if !page.success {
            return Err(CtlError::Failed(format!(
                "cannot read the conversation's messages: {}",
                page.error.as_deref().unwrap_or("no reason given")
            )));
        }
        for message in page.messages {
            let dated = message["date"]
                .as_str()
                .and_then(|date| date.parse::<jiff::Timestamp>().ok());
            if dated.is_some_and(|date| date < boundary) {
                if older.len() == MAX_OLDER {
                    break 'pages;
                }
                older.push(message);
            }
        }
        match page.next_before {
            Some(next) if page.has_more && before.as_deref() != Some(next.as_str()) => {
                before = Some(next);
            }
            _ => {
                left_out = false;
                break;
            }
        }
    }
    older.reverse();
    Ok((older, left_out))
}
