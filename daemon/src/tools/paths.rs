//! Paths as the agent gives them, made absolute.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute: `~` is the home directory, a relative path starts
/// at `cwd`, and `.`/`..` are folded away lexically. Symlinks are left as
/// they are; permission checks resolve them (see
/// [`crate::permissions::paths`]).
pub fn resolve(cwd: &Path, path: &str) -> PathBuf {
    normalize(&absolute(cwd, path))
}

/// `path` with `~` expanded and joined to `cwd` when relative, nothing
/// else changed.
pub fn absolute(cwd: &Path, path: &str) -> PathBuf {
    let expanded = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            home_dir().join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        cwd.join(expanded)
    }
}

/// Folds `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_absolute() {
        let cwd = Path::new("/work/project");
        assert_eq!(
            resolve(cwd, "src/main.rs"),
            Path::new("/work/project/src/main.rs")
        );
        assert_eq!(resolve(cwd, "../other/x"), Path::new("/work/other/x"));
        assert_eq!(resolve(cwd, "/etc/./hosts"), Path::new("/etc/hosts"));
        assert_eq!(resolve(cwd, "~/notes"), home_dir().join("notes"));
        assert_eq!(resolve(cwd, "~user"), Path::new("/work/project/~user"));
    }
}
