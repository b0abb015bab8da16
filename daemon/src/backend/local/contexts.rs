//! The messages in a conversation's context, kept between model steps.
//! Every step sends the whole context to the model; reading it all back
//! from SQLite each time grew with the conversation. Stored messages are
//! never changed and their `seq` only grows (one writer), so a kept
//! context only needs the messages stored after it; compaction moves the
//! context's start, which reads it whole again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::local::{LocalConversationRow, LocalMessageRow};
use crate::store::{Store, StoreError};
use crate::util::lock;

/// Conversations whose context is kept: one per runtime working at once,
/// give or take.
const KEPT_CONVERSATIONS: usize = 8;
/// A context larger than this (its text, in bytes) is read each time
/// instead of kept, so what is kept stays under 4 MiB.
const KEPT_BYTES: usize = 512 * 1024;

#[derive(Default)]
pub(super) struct Contexts {
    kept: Mutex<HashMap<String, Kept>>,
}

struct Kept {
    /// The conversation's `created_at` (a conversation deleted and made
    /// again under its id is another) and `context_start` when read.
    created_at: String,
    start: i64,
    messages: Arc<Vec<LocalMessageRow>>,
    bytes: usize,
}

impl Kept {
    fn next_seq(&self) -> i64 {
        self.messages
            .last()
            .map_or(self.start, |message| message.seq + 1)
    }
}

impl Contexts {
    /// The messages of `conversation` from its `context_start` on.
    pub(super) async fn get(
        &self,
        store: &Store,
        conversation: &LocalConversationRow,
    ) -> Result<Arc<Vec<LocalMessageRow>>, StoreError> {
        let start = conversation.context_start;
        // Taken out while reading, so the vector is extended in place; a
        // reader meanwhile reads the context whole.
        let taken = lock(&self.kept)
            .remove(&conversation.id)
            .filter(|kept| kept.start == start && kept.created_at == conversation.created_at);
        let from = taken.as_ref().map_or(start, Kept::next_seq);
        let newer = store.local_messages_from(&conversation.id, from).await?;
        let mut entry = taken.unwrap_or_else(|| Kept {
            created_at: conversation.created_at.clone(),
            start,
            messages: Arc::default(),
            bytes: 0,
        });
        entry.bytes += newer.iter().map(size).sum::<usize>();
        Arc::make_mut(&mut entry.messages).extend(newer);
        let messages = Arc::clone(&entry.messages);
        if entry.bytes <= KEPT_BYTES {
            let mut kept = lock(&self.kept);
            if kept.len() >= KEPT_CONVERSATIONS {
                kept.clear();
            }
            kept.insert(conversation.id.clone(), entry);
        }
        Ok(messages)
    }
}

fn size(message: &LocalMessageRow) -> usize {
    message.content.len()
        + message.reasoning.as_ref().map_or(0, String::len)
        + message.tool_calls.as_ref().map_or(0, String::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::{MessageRole, NewMessage, default_conversation_key, fixtures};

    fn said(text: &str) -> NewMessage {
        NewMessage {
            id: format!("message-{text}"),
            role: Some(MessageRole::User),
            content: text.to_owned(),
            ..NewMessage::default()
        }
    }

    fn texts(messages: &[LocalMessageRow]) -> Vec<&str> {
        messages
            .iter()
            .map(|message| message.content.as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_kept_context_gains_new_messages_and_is_read_again_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        store
            .import_local_agent(&fixtures::agent(), &[], &[said("one"), said("two")], 0)
            .await
            .unwrap();
        let key = default_conversation_key("agent-1");
        let conversation = || async { store.local_conversation(&key).await.unwrap().unwrap() };
        let contexts = Contexts::default();

        let first = contexts.get(&store, &conversation().await).await.unwrap();
        assert_eq!(texts(&first), ["one", "two"]);
        drop(first);

        let run = fixtures::run("run-1", 1);
        store
            .start_local_run(&run, "[]", &[said("three")])
            .await
            .unwrap();
        let second = contexts.get(&store, &conversation().await).await.unwrap();
        assert_eq!(texts(&second), ["one", "two", "three"]);

        let current = conversation().await;
        store
            .compact_local_conversation(&current, "sum", second[1].seq, &said("summary"), "t")
            .await
            .unwrap();
        let third = contexts.get(&store, &conversation().await).await.unwrap();
        assert_eq!(texts(&third), ["two", "three", "summary"]);
        // An older copy of the conversation row reads it whole again.
        let stale = contexts.get(&store, &current).await.unwrap();
        assert_eq!(texts(&stale), ["one", "two", "three", "summary"]);
    }
}
