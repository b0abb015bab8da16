//! The client-side tools a local run offers the model. A frontend sends the
//! same set with every turn, so a set is stored once under the SHA-256 of
//! its text, and parsed once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::memory::is_memory_tool;
use super::providers::ToolSpec;
use crate::store::{Store, StoreError};
use crate::util::lock;

/// Parsed sets kept in memory: a few per frontend kind and permission mode.
const CACHED_SETS: usize = 32;

/// A set as a send offers it: its stored text and that text's digest.
pub(crate) struct ToolSet {
    pub digest: String,
    pub text: String,
}

/// A send's client tools as stored, names that clash with the daemon's
/// memory tools left out.
pub(crate) fn of_tools(tools: &[Value]) -> ToolSet {
    let tools: Vec<&Value> = tools
        .iter()
        .filter(|tool| {
            tool["name"]
                .as_str()
                .is_some_and(|name| !is_memory_tool(name))
        })
        .collect();
    let text = serde_json::to_string(&tools).unwrap_or_else(|_| "[]".to_owned());
    let digest = Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    ToolSet { digest, text }
}

/// Parsed sets by digest.
#[derive(Default)]
pub(super) struct ToolSets {
    parsed: Mutex<HashMap<String, Arc<[ToolSpec]>>>,
}

impl ToolSets {
    /// The tools of the set `digest`; none when it is not stored.
    pub(super) async fn get(
        &self,
        store: &Store,
        digest: &str,
    ) -> Result<Arc<[ToolSpec]>, StoreError> {
        if let Some(found) = lock(&self.parsed).get(digest) {
            return Ok(Arc::clone(found));
        }
        let text = store.local_tool_set(digest).await?.unwrap_or_default();
        let tools: Arc<[ToolSpec]> = parse(&text).into();
        let mut parsed = lock(&self.parsed);
        if parsed.len() >= CACHED_SETS {
            parsed.clear();
        }
        parsed.insert(digest.to_owned(), Arc::clone(&tools));
        Ok(tools)
    }
}

fn parse(stored: &str) -> Vec<ToolSpec> {
    let tools: Vec<Value> = serde_json::from_str(stored).unwrap_or_default();
    tools
        .iter()
        .filter_map(|tool| {
            Some(ToolSpec::new(
                tool["name"].as_str()?.to_owned(),
                tool["description"].as_str().unwrap_or_default().to_owned(),
                &tool["parameters"],
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_tools_have_the_same_digest_and_memory_tools_are_left_out() {
        let read = json!({ "name": "Read", "description": "reads", "parameters": {} });
        let first = of_tools(&[read.clone(), json!({ "name": "memory_replace" })]);
        let again = of_tools(&[read]);
        let other = of_tools(&[json!({ "name": "Write" })]);
        assert_eq!(first.digest, again.digest);
        assert_eq!(first.text, again.text);
        assert_ne!(first.digest, other.digest);
        assert_eq!(first.digest.len(), 64);
        assert_eq!(parse(&first.text)[0].name, "Read");
        assert_eq!(of_tools(&[]).text, "[]");
    }
}
