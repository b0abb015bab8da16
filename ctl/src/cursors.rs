//! The last `event_seq` this user's terminals saw of each runtime, kept in
//! `~/.letta/ctl/cursors.json`, so `attach` replays exactly what was missed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use letta_protocol::RuntimeScope;

/// Written at most this often while events stream (and at exit).
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// The cursor of one runtime of one daemon.
pub struct Cursor {
    file: Option<PathBuf>,
    key: String,
    seq: Option<u64>,
    saved: Option<u64>,
    last_save: Instant,
}

impl Cursor {
    pub fn new(data_dir: &Path, scope: &RuntimeScope) -> Cursor {
        let file = std::env::home_dir().map(|home| home.join(".letta/ctl/cursors.json"));
        let key = format!(
            "{}#{}#{}",
            data_dir.display(),
            scope.agent_id.as_deref().unwrap_or_default(),
            scope.conversation_id
        );
        let seq = file
            .as_deref()
            .and_then(|file| read::<BTreeMap<String, u64>>(file).get(&key).copied());
        Cursor {
            file,
            key,
            seq,
            saved: seq,
            last_save: Instant::now(),
        }
    }

    /// The last event seen, if any terminal saw one.
    pub fn last_seen(&self) -> Option<u64> {
        self.seq
    }

    /// Records an event as seen; saves now and then.
    pub fn saw(&mut self, seq: u64) {
        if self.seq.is_none_or(|last| seq > last) {
            self.seq = Some(seq);
        }
        if self.last_save.elapsed() >= SAVE_EVERY {
            self.save();
        }
    }

    /// Saves if anything changed. Another terminal may have seen further:
    /// the higher seq wins.
    pub fn save(&mut self) {
        self.last_save = Instant::now();
        let (Some(file), Some(seq)) = (&self.file, self.seq) else {
            return;
        };
        if self.saved == Some(seq) {
            return;
        }
        let mut all: BTreeMap<String, u64> = read(file);
        let entry = all.entry(self.key.clone()).or_insert(seq);
        *entry = (*entry).max(seq);
        if write(file, &all).is_ok() {
            self.saved = Some(seq);
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.save();
    }
}

/// A JSON file of this user's, or the default when it is missing or broken.
pub(crate) fn read<T: serde::de::DeserializeOwned + Default>(file: &Path) -> T {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Writes through a temporary file, so a killed terminal never leaves a
/// torn file behind.
pub(crate) fn write<T: serde::Serialize>(file: &Path, all: &T) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = file.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(all)?)?;
    std::fs::rename(&temporary, file)
}
