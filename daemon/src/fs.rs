//! Small file-system helpers for private files, with the Unix permission
//! details in one place.

use std::io::{self, Write};
use std::path::Path;

/// Runs file-system work (reading settings, resolving paths, rendering
/// diffs) on the blocking pool, so it never stalls an async worker.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled only while the runtime shuts down, which drops this
            // future too.
            Err(_) => std::future::pending().await,
        },
    }
}

/// Creates `dir` and its missing parents; the leaf is `0700` on Unix.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    set_mode(dir, 0o700)
}

/// Whether group or others may enter or read `path`.
pub fn is_shared_with_others(path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

pub fn is_socket(metadata: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        false
    }
}

/// Sets Unix permission bits; nothing elsewhere.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Writes `contents` to `path` through a temporary file and a rename, so a
/// reader sees the old file or the new one, never half of it. The file is
/// `0600` on Unix.
pub fn write_private_file_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    set_mode(file.path(), 0o600)?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}
