//! Where a path really is, for permission checks: symlinks and `..`
//! resolved, compared component by component (`/a/bc` is not inside `/a/b`).

use std::path::{Path, PathBuf};

use crate::tools::{absolute, normalize};

/// The real location of `path` (relative to `cwd`, `~` expanded): the
/// longest existing prefix is resolved by the file system (symlinks, `..`
/// after a symlink), the part that does not exist yet is folded lexically.
pub fn canonical(cwd: &Path, path: &str) -> PathBuf {
    canonical_path(&absolute(cwd, path))
}

pub fn canonical_path(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut real = real;
            for part in missing.iter().rev() {
                real.push(part);
            }
            return normalize(&real);
        }
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                existing = parent.to_path_buf();
            }
            // Nothing of the path exists (or it ends in `..`): fold it.
            _ => return normalize(path),
        }
    }
}

/// Whether `path` is `dir` or inside it; both already canonical.
pub fn is_within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_is_by_components() {
        assert!(is_within(Path::new("/a/b/c"), Path::new("/a/b")));
        assert!(is_within(Path::new("/a/b"), Path::new("/a/b")));
        assert!(!is_within(Path::new("/a/bc"), Path::new("/a/b")));
        assert!(!is_within(Path::new("/a"), Path::new("/a/b")));
    }

    #[test]
    fn dot_dot_and_symlinks_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let project = root.join("project");
        let outside = root.join("outside");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        assert_eq!(
            canonical(&project, "src/new.rs"),
            project.join("src/new.rs")
        );
        assert_eq!(canonical(&project, "../outside/x"), outside.join("x"));
        assert!(!is_within(
            &canonical(&project, "src/../../outside/x"),
            &project
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, project.join("link")).unwrap();
            let through_link = canonical(&project, "link/secret");
            assert_eq!(through_link, outside.join("secret"));
            assert!(!is_within(&through_link, &project));
            // `..` after a symlink climbs from the link's target.
            assert_eq!(canonical(&project, "link/../x"), root.join("x"));
        }
    }
}
