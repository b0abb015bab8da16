//! The agent and conversation this user last ran with `letta-ctl`, per
//! daemon, kept in `~/.letta/ctl/last-used.json`: `letta-ctl run` with no
//! agent named continues there, like `letta --continue`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use letta_protocol::RuntimeScope;
use serde::{Deserialize, Serialize};

use crate::cursors::{read, write};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    pub agent_id: String,
    pub conversation_id: String,
}

fn file() -> Option<PathBuf> {
    std::env::home_dir().map(|home| home.join(".letta/ctl/last-used.json"))
}

/// What this user last ran on the daemon of `data_dir`.
pub fn get(data_dir: &Path) -> Option<LastUsed> {
    let all: BTreeMap<String, LastUsed> = read(&file()?);
    all.get(&data_dir.display().to_string()).cloned()
}

/// Remembers `scope` as the last one used on the daemon of `data_dir`.
pub fn set(data_dir: &Path, scope: &RuntimeScope) {
    let (Some(file), Some(agent_id)) = (file(), scope.agent_id.clone()) else {
        return;
    };
    let mut all: BTreeMap<String, LastUsed> = read(&file);
    all.insert(
        data_dir.display().to_string(),
        LastUsed {
            agent_id,
            conversation_id: scope.conversation_id.clone(),
        },
    );
    if let Err(err) = write(&file, &all) {
        crate::render::say(&format!(
            "warning: cannot remember the agent used in {}: {err}",
            file.display()
        ));
    }
}
