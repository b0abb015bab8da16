//! Finding a running daemon.

use std::path::{Path, PathBuf};

pub use letta_protocol::discovery::{DAEMON_FILE_NAME, DaemonFile};

use crate::ClientError;

/// The daemon's default data directory: `$LETTA_DAEMON_DATA_DIR`, else
/// `~/.letta/daemon`.
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("LETTA_DAEMON_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".letta").join("daemon")))
}

/// Reads `<data_dir>/daemon.json`.
pub fn read_daemon_file(data_dir: &Path) -> Result<DaemonFile, ClientError> {
    let path = data_dir.join(DAEMON_FILE_NAME);
    let text = std::fs::read_to_string(&path).map_err(|err| {
        ClientError::NotRunning(format!(
            "cannot read {}: {err} (is letta-daemon running?)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|err| {
        ClientError::NotRunning(format!("{} is not a daemon file: {err}", path.display()))
    })
}
