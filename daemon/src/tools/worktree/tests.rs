use serde_json::json;

use super::*;

/// Runs git for a test, as a configured user.
fn run(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A repository with one commit and local permission settings.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("a.txt"), "alpha\n").unwrap();
    std::fs::create_dir(dir.path().join(".letta")).unwrap();
    std::fs::write(dir.path().join(".letta/settings.local.json"), "{}").unwrap();
    std::fs::write(dir.path().join(".gitignore"), ".letta/\n").unwrap();
    run(dir.path(), &["add", "."]);
    run(dir.path(), &["commit", "-q", "-m", "first"]);
    dir
}

fn args(value: serde_json::Value) -> EnterArgs {
    enter_args(value.as_object().unwrap()).unwrap()
}

#[test]
fn names_become_slugs() {
    assert_eq!(slug("Fix the Login bug!").unwrap(), "fix-the-login-bug");
    assert_eq!(slug("  ..a__b  ").unwrap(), "a-b");
    assert!(slug("!!!").is_err());
    assert_eq!(slug(&"x".repeat(100)).unwrap().len(), MAX_NAME_CHARS);
}

#[tokio::test]
async fn a_worktree_is_created_entered_and_removed() {
    let repo = repository();
    let root = canonical(repo.path());
    let entered = enter(args(json!({"name": "Login fix"})), &root)
        .await
        .unwrap();
    assert_eq!(entered.path, root.join(".letta/worktrees/login-fix"));
    let branch = entered.branch.clone().unwrap();
    assert!(branch.starts_with("letta/login-fix-"), "{branch}");
    assert_eq!(entered.created_from.as_deref(), Some("HEAD"));
    assert!(entered.path.join("a.txt").is_file());
    assert!(
        entered.path.join(".letta/settings.local.json").is_file(),
        "{:?}",
        entered.notes
    );
    assert_eq!(run(&entered.path, &["branch", "--show-current"]), branch);

    // The same name again: a folder of its own.
    let again = enter(
        args(json!({"name": "login fix", "branch_name": "mine"})),
        &root,
    )
    .await
    .unwrap();
    assert_eq!(again.path, root.join(".letta/worktrees/login-fix-2"));
    let taken = enter(args(json!({"name": "x", "branch_name": "mine"})), &root).await;
    assert!(taken.unwrap_err().contains("already exists"));

    // Entering an existing one, from anywhere in the repository.
    let path = entered.path.display().to_string();
    let back = enter(args(json!({ "path": path })), &again.path)
        .await
        .unwrap();
    assert_eq!(
        (back.path.clone(), back.branch),
        (entered.path.clone(), Some(branch.clone()))
    );
    for wrong in [
        json!({ "path": root.display().to_string() }),
        json!({ "path": root.join(".letta/worktrees/none").display().to_string() }),
        json!({ "path": path, "name": "x" }),
        json!({}),
    ] {
        assert!(enter(args(wrong.clone()), &root).await.is_err(), "{wrong}");
    }

    // Leaving: only from inside a managed worktree.
    std::fs::create_dir(entered.path.join("sub")).unwrap();
    let Exit::Leave {
        primary, worktree, ..
    } = plan_exit(&entered.path.join("sub"), true).await.unwrap()
    else {
        panic!("inside a worktree")
    };
    assert_eq!(
        (primary.clone(), worktree.clone()),
        (root.clone(), entered.path.clone())
    );
    assert!(matches!(
        plan_exit(&root, true).await.unwrap(),
        Exit::NotInWorktree
    ));
    let elsewhere = tempfile::tempdir().unwrap();
    assert!(matches!(
        plan_exit(elsewhere.path(), false).await.unwrap(),
        Exit::NotInWorktree
    ));

    // Work that removing would lose is kept unless discarded.
    std::fs::write(worktree.join("new.txt"), "work").unwrap();
    let refused = remove(&primary, &worktree, Some(&branch), false)
        .await
        .unwrap_err();
    assert!(refused.contains("uncommitted"), "{refused}");
    run(&worktree, &["add", "new.txt"]);
    run(&worktree, &["commit", "-q", "-m", "work"]);
    let refused = remove(&primary, &worktree, Some(&branch), false)
        .await
        .unwrap_err();
    assert!(refused.contains("1 commits not in"), "{refused}");
    assert!(worktree.join("new.txt").is_file());
    let done = remove(&primary, &worktree, Some(&branch), true)
        .await
        .unwrap();
    assert!(done.contains("discarding"), "{done}");
    assert!(!worktree.exists());
    assert_eq!(run(&root, &["branch", "--list", &branch]), "");
}

#[tokio::test]
async fn outside_a_repository_it_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = enter(args(json!({"name": "x"})), dir.path())
        .await
        .unwrap_err();
    assert!(err.contains("not inside a git repository"), "{err}");
    let repo = repository();
    let err = enter(
        args(json!({"name": "x", "base_ref": "no-such-branch"})),
        repo.path(),
    )
    .await
    .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}
