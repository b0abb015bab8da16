//! Publishing `<data-dir>/daemon.json` once the daemon is ready, and the
//! data-directory lock that makes one daemon per data directory.

use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use letta_protocol::discovery::{DAEMON_FILE_NAME, DaemonFile};

const LOCK_FILE_NAME: &str = "daemon.lock";

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("another letta-daemon{holder} is already running with data directory {dir}")]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot use data directory {dir}: {source}")]
    DataDir { dir: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Held for the daemon's whole life; released when dropped (or when the
/// process dies, which is what makes it crash-safe).
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Creates the data directory (`0700`) and takes its lock.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, DiscoveryError> {
        let dir_error = |source| DiscoveryError::DataDir {
            dir: dir.to_path_buf(),
            source,
        };
        crate::fs::create_private_dir(dir).map_err(dir_error)?;
        let path = dir.join(LOCK_FILE_NAME);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(dir_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|pid| pid.trim().to_owned())
                    .filter(|pid| !pid.is_empty())
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                return Err(DiscoveryError::Locked {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => return Err(dir_error(source)),
        }
        file.set_len(0).map_err(dir_error)?;
        write!(file, "{}", std::process::id()).map_err(dir_error)?;
        Ok(DataDirLock { _file: file })
    }
}

/// The published discovery file; [`Published::remove`] takes it down.
pub struct Published {
    path: PathBuf,
}

impl Published {
    pub fn write(dir: &Path, info: &DaemonFile) -> Result<Published, DiscoveryError> {
        let path = dir.join(DAEMON_FILE_NAME);
        let write_error = |source| DiscoveryError::Write {
            path: path.clone(),
            source,
        };
        let mut text = serde_json::to_vec_pretty(info).map_err(|err| write_error(err.into()))?;
        text.push(b'\n');
        crate::fs::write_private_file_atomically(&path, &text).map_err(write_error)?;
        Ok(Published { path })
    }

    pub fn remove(self) {
        if let Err(err) = std::fs::remove_file(&self.path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot remove discovery file");
        }
    }
}
