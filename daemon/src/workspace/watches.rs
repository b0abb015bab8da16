//! File watches for frontends: `watch_file` until `unwatch_file` or the
//! connection closes, `file_changed` when the file changes.
//!
//! The directory holding a watched file is watched rather than the file,
//! so a file replaced by rename (as every atomic write does, the agent's
//! tools included) is still seen. A burst of changes is reported once,
//! 150 ms after its first change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use letta_protocol::{FileChangedEvent, events};
use notify::Watcher as _;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::WorkspaceError;
use crate::runtime::EventSink;
use crate::util::lock;

/// Files one connection watches at most.
pub const MAX_WATCHES_PER_CONNECTION: usize = 256;
/// Files the daemon watches at most, for every connection together.
pub const MAX_WATCHED_FILES: usize = 4096;
/// How long after a change its report waits, for the rest of a burst.
const COALESCE: Duration = Duration::from_millis(150);
/// Changes waiting to be looked at; past it, a change of a file already
/// waiting is what is dropped.
const CHANGE_QUEUE: usize = 1024;

/// Every watch of the daemon.
#[derive(Default)]
pub struct Watches {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// By canonical file path.
    files: HashMap<PathBuf, Vec<Watch>>,
    /// Directories watched, with how many watched files each holds.
    dirs: HashMap<PathBuf, usize>,
    /// Made at the first watch: a daemon nobody asks to watch holds no
    /// inotify instance.
    watcher: Option<notify::RecommendedWatcher>,
}

struct Watch {
    connection: usize,
    sink: Arc<dyn EventSink>,
    /// The path as the frontend named it, for its reports.
    asked: String,
    /// `watch_file` calls not yet undone by `unwatch_file`.
    count: usize,
}

impl Watches {
    /// Watches `file` (canonical, existing) for `connection`.
    pub fn watch(
        &self,
        connection: usize,
        sink: Arc<dyn EventSink>,
        asked: &str,
        file: PathBuf,
    ) -> Result<(), WorkspaceError> {
        let mut state = lock(&self.state);
        if let Some(watch) = state.files.get_mut(&file).and_then(|watches| {
            watches
                .iter_mut()
                .find(|watch| watch.connection == connection && watch.asked == asked)
        }) {
            watch.count += 1;
            return Ok(());
        }
        let own = state
            .files
            .values()
            .flatten()
            .filter(|watch| watch.connection == connection)
            .count();
        if own >= MAX_WATCHES_PER_CONNECTION {
            return Err(WorkspaceError::Invalid(format!(
                "this connection already watches {MAX_WATCHES_PER_CONNECTION} files, the most it may; unwatch one first"
            )));
        }
        if !state.files.contains_key(&file) && state.files.len() >= MAX_WATCHED_FILES {
            return Err(WorkspaceError::Invalid(format!(
                "the daemon already watches {MAX_WATCHED_FILES} files, the most it does"
            )));
        }
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        if !state.dirs.contains_key(&dir) {
            if state.watcher.is_none() {
                state.watcher = Some(self.start()?);
            }
            if let Some(watcher) = state.watcher.as_mut() {
                watcher
                    .watch(&dir, notify::RecursiveMode::NonRecursive)
                    .map_err(|err| {
                        WorkspaceError::Failed(format!("cannot watch {}: {err}", dir.display()))
                    })?;
            }
        }
        *state.dirs.entry(dir).or_default() += 1;
        state.files.entry(file).or_default().push(Watch {
            connection,
            sink,
            asked: asked.to_owned(),
            count: 1,
        });
        Ok(())
    }

    /// Undoes one `watch` of `asked` by `connection`; false if there was none.
    pub fn unwatch(&self, connection: usize, asked: &str) -> bool {
        let mut state = lock(&self.state);
        let Some(file) = state.files.iter().find_map(|(file, watches)| {
            watches
                .iter()
                .any(|watch| watch.connection == connection && watch.asked == asked)
                .then(|| file.clone())
        }) else {
            return false;
        };
        if let Some(watches) = state.files.get_mut(&file) {
            for watch in watches.iter_mut() {
                if watch.connection == connection && watch.asked == asked {
                    watch.count -= 1;
                }
            }
            watches.retain(|watch| watch.count > 0);
        }
        state.forget_unwatched(&file);
        true
    }

    /// How many files are watched, and how many directories are watched
    /// for them.
    pub fn counts(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.files.len() as u64, state.dirs.len() as u64)
    }

    /// Ends every watch of a connection that closed.
    pub fn release(&self, connection: usize) {
        let mut state = lock(&self.state);
        let files: Vec<PathBuf> = state.files.keys().cloned().collect();
        for file in files {
            if let Some(watches) = state.files.get_mut(&file) {
                watches.retain(|watch| watch.connection != connection);
            }
            state.forget_unwatched(&file);
        }
    }

    /// The file system watcher, and the task that reports what it sees.
    fn start(&self) -> Result<notify::RecommendedWatcher, WorkspaceError> {
        let (changes, receiver) = mpsc::channel(CHANGE_QUEUE);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                // Full: the reporting task is behind; what it already
                // holds is reported, coalesced, soon.
                let _ = changes.try_send(path);
            }
        })
        .map_err(|err| WorkspaceError::Failed(format!("cannot watch files: {err}")))?;
        tokio::spawn(report(Arc::downgrade(&self.state), receiver));
        Ok(watcher)
    }
}

impl State {
    /// Drops a file nobody watches any more, and its directory's watch
    /// once no watched file is left in it.
    fn forget_unwatched(&mut self, file: &Path) {
        if self
            .files
            .get(file)
            .is_none_or(|watches| !watches.is_empty())
        {
            return;
        }
        self.files.remove(file);
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let left = self.dirs.get_mut(&dir).map(|count| {
            *count -= 1;
            *count
        });
        if left == Some(0) {
            self.dirs.remove(&dir);
            if let Some(watcher) = self.watcher.as_mut() {
                let _ = watcher.unwatch(&dir);
            }
        }
    }
}

/// Reports changes of watched files, each burst once, until the watches
/// are gone.
async fn report(state: std::sync::Weak<Mutex<State>>, mut changes: mpsc::Receiver<PathBuf>) {
    let mut due: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            changed = changes.recv() => {
                let Some(path) = changed else { return };
                let Some(state) = state.upgrade() else { return };
                if lock(&state).files.contains_key(&path) {
                    due.entry(path).or_insert_with(|| Instant::now() + COALESCE);
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                let ready: Vec<PathBuf> = due
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(path, _)| path.clone())
                    .collect();
                let Some(state) = state.upgrade() else { return };
                for path in ready {
                    due.remove(&path);
                    send(&state, &path);
                }
            }
        }
    }
}

/// Tells every connection watching `path` that it changed; nothing when
/// it is gone (deleted, or between the halves of a rename).
fn send(state: &Mutex<State>, path: &Path) {
    let Some(modified) = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
    else {
        return;
    };
    let last_modified = u64::try_from(modified.as_millis()).unwrap_or(u64::MAX);
    let state = lock(state);
    for watch in state.files.get(path).into_iter().flatten() {
        let event = FileChangedEvent {
            path: watch.asked.clone(),
            last_modified,
        };
        if let Ok(frame) = letta_protocol::event_frame::<events::FileChanged>(&event) {
            // A connection too far behind misses this report; the file
            // itself says what changed when it reads it.
            let _ = watch.sink.try_push(&frame.to_string());
        }
    }
}
