use std::path::Path;

use letta_protocol::GrepInFilesParams;

use super::*;

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws/sub")).unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/secret"), "x").unwrap();
    std::os::unix::fs::symlink(dir.path().join("out"), dir.path().join("ws/link")).unwrap();
    std::os::unix::fs::symlink("loop", dir.path().join("ws/loop")).unwrap();
    dir
}

fn roots(dir: &Path) -> Roots {
    Roots::new([dir.join("ws").display().to_string()])
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn paths_are_confined_after_links_and_dots_resolve() {
    let dir = tree();
    let roots = roots(dir.path());
    let ws = dir.path().join("ws");
    assert!(roots.existing(&text(&ws.join("sub"))).is_ok());
    for escape in [
        ws.join("link/secret"),
        ws.join("sub/../../out/secret"),
        dir.path().join("out/secret"),
    ] {
        assert!(
            matches!(
                roots.existing(&text(&escape)),
                Err(WorkspaceError::Outside { .. })
            ),
            "{escape:?}"
        );
        assert!(
            matches!(
                roots.writable(&text(&escape)),
                Err(WorkspaceError::Outside { .. })
            ),
            "{escape:?}"
        );
    }
    // A new file below a folder that does not exist yet stays inside; one
    // reached through a link, or `..` past a missing folder, does not.
    let new = roots.writable(&text(&ws.join("a/b/c.txt"))).unwrap();
    assert!(new.path.ends_with("ws/a/b/c.txt"));
    assert!(matches!(
        roots.writable(&text(&ws.join("link/new.txt"))),
        Err(WorkspaceError::Outside { .. })
    ));
    assert!(
        roots
            .writable(&text(&ws.join("missing/../../out/x")))
            .is_err()
    );
    assert!(matches!(
        roots.existing("relative/path"),
        Err(WorkspaceError::NotAbsolute(_))
    ));
    assert!(
        roots.existing(&text(&ws.join("loop"))).is_err(),
        "a link loop"
    );
    let none = Roots::new(Vec::<String>::new());
    assert!(matches!(
        none.existing(&text(&ws)),
        Err(WorkspaceError::Outside { .. })
    ));
}

#[test]
fn listing_pages_past_the_end_are_empty() {
    let dir = tree();
    let root = roots(dir.path())
        .existing(&text(&dir.path().join("ws")))
        .unwrap();
    let page = list_in_directory(&root, "ws", true, 99, Some(5)).unwrap();
    assert!(page.folders.is_empty() && page.files.as_ref().unwrap().is_empty());
    assert!(!page.has_more);
    assert_eq!(page.total, 1, "sub; the links are not listed");
}

#[test]
fn adjacent_matches_are_each_others_context() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("f.txt"),
        "zero\nhit one\nhit two\nthree\nfour\n",
    )
    .unwrap();
    let root = Roots::new([text(dir.path())])
        .existing(&text(dir.path()))
        .unwrap();
    let params = GrepInFilesParams {
        query: "hit".into(),
        is_regex: None,
        case_sensitive: None,
        whole_word: None,
        glob: None,
        cwd: None,
        max_results: None,
        context_lines: Some(1),
    };
    let found = grep_in_files(&root, &params).unwrap();
    assert_eq!(found.matches.len(), 2);
    assert_eq!(found.matches[0].before.as_deref().unwrap(), ["zero"]);
    assert_eq!(found.matches[0].after.as_deref().unwrap(), ["hit two"]);
    assert_eq!(found.matches[1].before.as_deref().unwrap(), ["hit one"]);
    assert_eq!(found.matches[1].after.as_deref().unwrap(), ["three"]);
    let capped = grep_in_files(
        &root,
        &GrepInFilesParams {
            max_results: Some(1),
            ..params
        },
    )
    .unwrap();
    assert_eq!(
        (capped.matches.len(), capped.total_matches, capped.truncated),
        (1, 2, true)
    );
}
