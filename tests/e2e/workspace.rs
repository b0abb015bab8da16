//! The workspace commands of a desktop frontend: browse, search and edit
//! files inside the workspace roots, and nothing outside them.

use std::path::Path;

use letta_client::{ClientError, RpcClient};
use letta_protocol::methods::{
    CheckoutBranch, EditFile, GetCwdMap, GetTree, GrepInFiles, ListInDirectory, ReadFile,
    SearchBranches, SearchFiles, SetBootWorkingDirectory, WriteFile,
};
use letta_protocol::*;
use serde_json::json;

use crate::support::backend::{Backend, cm};
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::{Daemon, git, within};

/// A workspace with a nested tree, a file denied to reads by the project's
/// settings, a git-ignored file, and a symlink leading out of it; and a
/// secret outside it.
fn workspace(base: &Path) -> (String, String) {
    let root = base.join("ws");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("src/deep")).unwrap();
    std::fs::create_dir_all(root.join("node_modules/pkg")).unwrap();
    std::fs::create_dir_all(root.join(".letta")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret\n").unwrap();
    std::fs::write(
        root.join("src/main.rs"),
        "fn main() {\n    let needle = 1;\n    println!(\"{needle}\");\n}\n",
    )
    .unwrap();
    std::fs::write(root.join("src/deep/lib.rs"), "// NEEDLE in caps\n").unwrap();
    std::fs::write(root.join("node_modules/pkg/index.js"), "needle\n").unwrap();
    std::fs::write(root.join("ignored.log"), "needle\n").unwrap();
    std::fs::write(root.join(".gitignore"), "*.log\n").unwrap();
    std::fs::write(root.join("private.env"), "TOKEN=needle\n").unwrap();
    std::fs::write(
        root.join(".letta/settings.json"),
        r#"{"permissions":{"deny":["Read(./private.env)"]}}"#,
    )
    .unwrap();
    std::fs::write(root.join("image.bin"), [0u8, 159, 146, 150]).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
    (root.display().to_string(), outside.display().to_string())
}

fn refused(result: Result<impl std::fmt::Debug, ClientError>, code: i32, what: &str) -> String {
    match result {
        Err(ClientError::Rpc(err)) if err.code == code => err.message,
        other => panic!("{what}: expected error {code}, got {other:?}"),
    }
}

const FORBIDDEN: i32 = -32012;

#[tokio::test]
async fn a_frontend_browses_searches_and_edits_the_workspace() {
    let daemon = Daemon::start();
    let (root, outside) = workspace(daemon.dir.path());
    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();

    // The daemon started in its temporary folder; the frontend opens the
    // workspace instead.
    let set = within(
        client
            .call::<SetBootWorkingDirectory>(&SetBootWorkingDirectoryParams { cwd: root.clone() }),
    )
    .await
    .unwrap();
    assert_eq!(set.boot_working_directory, root);
    assert_eq!(set.cwd_revision, 1);
    let map = within(client.call::<GetCwdMap>(&GetCwdMapParams {}))
        .await
        .unwrap();
    assert_eq!(map.boot_working_directory.as_deref(), Some(root.as_str()));

    let listed = within(client.call::<ListInDirectory>(&ListInDirectoryParams {
        path: root.clone(),
        include_files: Some(true),
        limit: None,
        offset: None,
    }))
    .await
    .unwrap();
    assert_eq!(
        listed.folders,
        [".letta", "node_modules", "src"],
        "{listed:?}"
    );
    assert_eq!(
        listed.files.as_deref().unwrap(),
        [".gitignore", "ignored.log", "image.bin"],
        "the denied file and the symlink are not listed: {listed:?}"
    );
    let page = within(client.call::<ListInDirectory>(&ListInDirectoryParams {
        path: root.clone(),
        include_files: Some(true),
        limit: Some(2),
        offset: Some(2),
    }))
    .await
    .unwrap();
    assert_eq!(page.folders, ["src"]);
    assert_eq!(page.files.as_deref().unwrap(), [".gitignore"]);
    assert!(page.has_more);
    assert_eq!(page.total, 6);

    let tree = within(client.call::<GetTree>(&GetTreeParams {
        path: root.clone(),
        depth: 2,
    }))
    .await
    .unwrap();
    let paths: Vec<&str> = tree
        .entries
        .iter()
        .map(|entry| entry.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "src",
            ".gitignore",
            "ignored.log",
            "image.bin",
            "src/deep",
            "src/main.rs"
        ],
        "dependencies and .letta left out, breadth first: {tree:?}"
    );
    assert!(tree.has_more_depth, "src/deep has more");

    let found = within(client.call::<SearchFiles>(&SearchFilesParams {
        query: "LIB".into(),
        max_results: Some(10),
        cwd: Some(root.clone()),
    }))
    .await
    .unwrap();
    assert_eq!(found.files.len(), 1, "{found:?}");
    assert_eq!(found.files[0].path, "src/deep/lib.rs");

    let grep = within(client.call::<GrepInFiles>(&GrepInFilesParams {
        query: "needle".into(),
        is_regex: None,
        case_sensitive: None,
        whole_word: None,
        glob: None,
        cwd: Some(root.clone()),
        max_results: None,
        context_lines: Some(1),
    }))
    .await
    .unwrap();
    let mut hits: Vec<(&str, u64)> = grep
        .matches
        .iter()
        .map(|found| (found.path.as_str(), found.line))
        .collect();
    hits.sort();
    assert_eq!(
        hits,
        [
            ("node_modules/pkg/index.js", 1),
            ("src/deep/lib.rs", 1),
            ("src/main.rs", 2),
            ("src/main.rs", 3)
        ],
        "git-ignored and denied files are not searched: {grep:?}"
    );
    let line_two = grep.matches.iter().find(|found| found.line == 2).unwrap();
    assert_eq!((line_two.column, line_two.column_end), (9, 15));
    assert_eq!(line_two.before.as_deref().unwrap(), ["fn main() {"]);
    assert_eq!(
        line_two.after.as_deref().unwrap(),
        ["    println!(\"{needle}\");"]
    );
    assert_eq!(
        (grep.total_matches, grep.total_files, grep.truncated),
        (4, 3, false)
    );
    let exact = within(client.call::<GrepInFiles>(&GrepInFilesParams {
        query: "NEEDLE".into(),
        is_regex: None,
        case_sensitive: Some(true),
        whole_word: Some(true),
        glob: Some("*.rs".into()),
        cwd: Some(root.clone()),
        max_results: Some(1),
        context_lines: Some(0),
    }))
    .await
    .unwrap();
    assert_eq!(exact.matches.len(), 1, "{exact:?}");
    assert_eq!(exact.matches[0].path, "src/deep/lib.rs");
    let bad_regex = within(client.call::<GrepInFiles>(&GrepInFilesParams {
        query: "(".into(),
        is_regex: Some(true),
        case_sensitive: None,
        whole_word: None,
        glob: None,
        cwd: Some(root.clone()),
        max_results: None,
        context_lines: None,
    }))
    .await;
    assert!(refused(bad_regex, -32602, "a bad regex").contains("regular expression"));

    let main = format!("{root}/src/main.rs");
    let read = within(client.call::<ReadFile>(&ReadFileParams {
        path: main.clone(),
        encoding: None,
    }))
    .await
    .unwrap();
    assert!(read.content.unwrap().contains("let needle = 1;"));
    let binary = format!("{root}/image.bin");
    let not_text = within(client.call::<ReadFile>(&ReadFileParams {
        path: binary.clone(),
        encoding: None,
    }))
    .await;
    assert!(refused(not_text, -32602, "binary as text").contains("base64"));
    let raw = within(client.call::<ReadFile>(&ReadFileParams {
        path: binary,
        encoding: Some(FileEncoding::Base64),
    }))
    .await
    .unwrap();
    assert_eq!(raw.content.as_deref(), Some("AJ+Slg=="));

    let created = format!("{root}/new/dir/notes.md");
    within(client.call::<WriteFile>(&WriteFileParams {
        path: created.clone(),
        content: "first draft\n".into(),
    }))
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&created).unwrap(), "first draft\n");
    let edited = within(client.call::<EditFile>(&EditFileParams {
        file_path: main.clone(),
        old_string: "needle".into(),
        new_string: "pin".into(),
        replace_all: Some(true),
        expected_replacements: None,
    }))
    .await
    .unwrap();
    assert_eq!((edited.replacements, edited.start_line), (2, Some(2)));
    assert!(
        std::fs::read_to_string(&main)
            .unwrap()
            .contains("let pin = 1;")
    );
    let miscounted = within(client.call::<EditFile>(&EditFileParams {
        file_path: main.clone(),
        old_string: "pin".into(),
        new_string: "x".into(),
        replace_all: None,
        expected_replacements: Some(3),
    }))
    .await;
    assert!(refused(miscounted, -32602, "a wrong expected count").contains("occurs 2 times"));
    assert!(
        std::fs::read_to_string(&main)
            .unwrap()
            .contains("let pin = 1;"),
        "unchanged"
    );

    // Nothing outside the roots, however it is named.
    let secret = format!("{outside}/secret.txt");
    for path in [
        secret.clone(),
        format!("{root}/../outside/secret.txt"),
        format!("{root}/escape/secret.txt"),
    ] {
        let read = within(client.call::<ReadFile>(&ReadFileParams {
            path: path.clone(),
            encoding: None,
        }))
        .await;
        assert!(refused(read, FORBIDDEN, &path).contains("outside the workspace roots"));
        let write = within(client.call::<WriteFile>(&WriteFileParams {
            path: path.clone(),
            content: "overwritten".into(),
        }))
        .await;
        refused(write, FORBIDDEN, &path);
    }
    let planted = within(client.call::<WriteFile>(&WriteFileParams {
        path: format!("{root}/escape/planted/file.txt"),
        content: "x".into(),
    }))
    .await;
    refused(planted, FORBIDDEN, "a new file through the symlink");
    assert!(!Path::new(&outside).join("planted").exists());
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "outside secret\n"
    );
    let listing = within(client.call::<ListInDirectory>(&ListInDirectoryParams {
        path: format!("{root}/escape"),
        include_files: Some(true),
        limit: None,
        offset: None,
    }))
    .await;
    refused(listing, FORBIDDEN, "listing through the symlink");
    let relative = within(client.call::<ReadFile>(&ReadFileParams {
        path: "src/main.rs".into(),
        encoding: None,
    }))
    .await;
    assert!(refused(relative, -32602, "a relative path").contains("not an absolute path"));
    let denied = within(client.call::<ReadFile>(&ReadFileParams {
        path: format!("{root}/private.env"),
        encoding: None,
    }))
    .await;
    assert!(refused(denied, FORBIDDEN, "a denied file").contains("denied by .letta/settings.json"));
    let missing = within(client.call::<ReadFile>(&ReadFileParams {
        path: format!("{root}/missing.txt"),
        encoding: None,
    }))
    .await;
    refused(missing, -32008, "a missing file");
    let not_a_dir = within(
        client.call::<SetBootWorkingDirectory>(&SetBootWorkingDirectoryParams { cwd: secret }),
    )
    .await;
    refused(not_a_dir, -32602, "a file as the boot directory");
}

/// A runtime's working directory is a root, listed in the cwd map; the
/// boot working directory outlasts a restart.
#[tokio::test]
async fn runtimes_open_their_working_directories_and_the_boot_one_is_kept() {
    let backend = Backend::mock().await;
    let mut daemon = backend.daemon();
    let (root, outside) = workspace(daemon.dir.path());
    let frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "workspace", Path::new(&outside), "standard").await;
    let conversation = runtime["conversation_id"].as_str().unwrap().to_owned();

    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    within(
        client
            .call::<SetBootWorkingDirectory>(&SetBootWorkingDirectoryParams { cwd: root.clone() }),
    )
    .await
    .unwrap();
    let map = within(client.call::<GetCwdMap>(&GetCwdMapParams {}))
        .await
        .unwrap();
    assert_eq!(
        map.cwd_map.get(&format!("conversation:{conversation}")),
        Some(&outside),
        "{map:?}"
    );
    let read = within(client.call::<ReadFile>(&ReadFileParams {
        path: format!("{outside}/secret.txt"),
        encoding: None,
    }))
    .await
    .unwrap();
    assert_eq!(read.content.as_deref(), Some("outside secret\n"));
    drop(client);
    drop(frontend);

    daemon.stop();
    // The first daemon's folder, which holds the workspace, stays.
    let (daemon, frames) = backend.restart(&daemon, &runtime).await;
    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    let map = within(client.call::<GetCwdMap>(&GetCwdMapParams {}))
        .await
        .unwrap();
    assert_eq!(map.boot_working_directory.as_deref(), Some(root.as_str()));
    let reply = frames.request(json!({ "type": "get_cwd_map" })).await;
    assert_eq!(reply["type"], "get_cwd_map_response", "{reply}");
    assert_eq!(reply["boot_working_directory"], root.as_str());
}

/// Branches are listed and checked out; a checkout that could lose
/// uncommitted work is refused and changes nothing.
#[tokio::test]
async fn branches_are_listed_and_a_dirty_checkout_is_refused() {
    let daemon = Daemon::start();
    let (root, _) = workspace(daemon.dir.path());
    let repo = Path::new(&root);
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "src"]);
    git(repo, &["commit", "-q", "-m", "first"]);
    git(repo, &["branch", "feature/login"]);
    git(repo, &["branch", "fix-typo"]);
    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    within(
        client
            .call::<SetBootWorkingDirectory>(&SetBootWorkingDirectoryParams { cwd: root.clone() }),
    )
    .await
    .unwrap();

    let all = within(client.call::<SearchBranches>(&SearchBranchesParams {
        query: String::new(),
        max_results: None,
        cwd: None,
    }))
    .await
    .unwrap();
    let names: Vec<(&str, bool)> = all
        .branches
        .iter()
        .map(|branch| (branch.name.as_str(), branch.is_current))
        .collect();
    assert_eq!(
        names,
        [
            ("feature/login", false),
            ("fix-typo", false),
            ("main", true)
        ]
    );
    let some = within(client.call::<SearchBranches>(&SearchBranchesParams {
        query: "LOGIN".into(),
        max_results: Some(5),
        cwd: Some(format!("{root}/src")),
    }))
    .await
    .unwrap();
    assert_eq!(some.branches.len(), 1);
    assert_eq!(some.branches[0].name, "feature/login");

    let checkout = |branch: &str, create: bool| CheckoutBranchParams {
        branch: branch.to_owned(),
        create: Some(create),
        cwd: None,
    };
    let moved = within(client.call::<CheckoutBranch>(&checkout("feature/login", false)))
        .await
        .unwrap();
    assert_eq!(moved.branch, "feature/login");
    assert_eq!(
        git(repo, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "feature/login"
    );

    std::fs::write(repo.join("src/main.rs"), "unsaved work\n").unwrap();
    let dirty = within(client.call::<CheckoutBranch>(&checkout("main", false))).await;
    let why = refused(dirty, -32009, "a checkout over uncommitted changes");
    assert!(
        why.contains("src/main.rs") && why.contains("commit or stash"),
        "{why}"
    );
    assert_eq!(
        git(repo, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "feature/login"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("src/main.rs")).unwrap(),
        "unsaved work\n"
    );

    git(repo, &["checkout", "-q", "--", "src/main.rs"]);
    let created = within(client.call::<CheckoutBranch>(&checkout("spike", true)))
        .await
        .unwrap();
    assert_eq!(created.branch, "spike");
    let option = within(client.call::<CheckoutBranch>(&checkout("--orphan", false))).await;
    refused(option, -32602, "a branch name that is an option");
    let missing = within(client.call::<CheckoutBranch>(&checkout("no-such-branch", false))).await;
    refused(missing, -32602, "a branch that does not exist");
    let outside = within(client.call::<SearchBranches>(&SearchBranchesParams {
        query: String::new(),
        max_results: None,
        cwd: Some("/".into()),
    }))
    .await;
    refused(outside, FORBIDDEN, "a repository outside the roots");
}

/// A watched file changed by the agent's Write, or by another frontend,
/// reaches the frontend watching it; after `unwatch_file` it does not.
#[tokio::test]
async fn watched_files_report_changes_by_the_agent_and_by_frontends() {
    let backend = Backend::mock().await;
    let daemon = backend.daemon();
    let (root, outside) = workspace(daemon.dir.path());
    let mut watcher = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&watcher, "watches", Path::new(&root), "acceptEdits").await;
    let main = format!("{root}/src/main.rs");
    let sentinel = format!("{root}/.gitignore");
    for path in [&main, &sentinel] {
        watcher
            .send(json!({ "type": "watch_file", "path": path, "request_id": "w" }))
            .await;
    }
    // Commands on one connection take effect in order: once this is
    // answered, the watches are in place.
    watcher.request(json!({ "type": "get_cwd_map" })).await;

    let script = r#"[[call:Write {"file_path": "src/main.rs", "content": "fn main() {}\n"}]]"#;
    watcher
        .send(user_input(&runtime, script, &cm("watched-write")))
        .await;
    let changed = watcher
        .wait_for("the agent's change", |frame| {
            frame["type"] == "file_changed"
        })
        .await;
    assert_eq!(changed["path"], main.as_str(), "{changed}");
    assert!(changed["lastModified"].as_u64().unwrap() > 1_700_000_000_000);
    watcher
        .seen_or_wait_for("the turn's end", |frame| frame["type"] == "turn_finished")
        .await;

    let other = Frontend::connect(&daemon).await;
    let write = |path: &str, content: &str| json!({ "type": "write_file", "path": path, "content": content });
    let seen_before = watcher.seen.len();
    other.request(write(&main, "fn main() { todo!() }\n")).await;
    let changed = watcher
        .wait_for("another frontend's change", |frame| {
            frame["type"] == "file_changed"
        })
        .await;
    assert_eq!(changed["path"], main.as_str());

    watcher
        .send(json!({ "type": "watch_file", "path": format!("{outside}/secret.txt") }))
        .await;
    let refused = watcher
        .wait_for("the refused watch", |frame| frame["type"] == "error")
        .await;
    assert_eq!(refused["command"], "watch_file", "{refused}");
    assert_eq!(refused["error_code"], FORBIDDEN);

    // Unwatched: a change of main.rs, then of the sentinel; only the
    // sentinel's is reported (main.rs's would come first).
    watcher
        .send(json!({ "type": "unwatch_file", "path": main }))
        .await;
    watcher.request(json!({ "type": "get_cwd_map" })).await;
    let seen_unwatched = watcher.seen.len();
    other.request(write(&main, "fn main() {}\n")).await;
    other.request(write(&sentinel, "*.tmp\n")).await;
    let changed = watcher
        .wait_for("the sentinel's change", |frame| {
            frame["type"] == "file_changed"
        })
        .await;
    assert_eq!(changed["path"], sentinel.as_str());
    let reports: Vec<&serde_json::Value> = watcher.seen[seen_before..]
        .iter()
        .filter(|frame| frame["type"] == "file_changed")
        .collect();
    assert_eq!(reports.len(), 2, "one report per burst: {reports:?}");
    assert!(
        watcher.seen[seen_unwatched..]
            .iter()
            .all(|frame| frame["type"] != "file_changed" || frame["path"] == sentinel.as_str()),
        "nothing about the unwatched file"
    );

    // The watches go with the connection that made them.
    let watched = |status: &serde_json::Value| {
        (
            status["watched_files"].as_u64(),
            status["watched_directories"].as_u64(),
        )
    };
    let status = other.request(json!({ "type": "daemon_status" })).await;
    assert_eq!(watched(&status), (Some(1), Some(1)), "{status}");
    drop(watcher);
    let deadline = tokio::time::Instant::now() + crate::support::TIMEOUT;
    loop {
        let status = other.request(json!({ "type": "daemon_status" })).await;
        if watched(&status) == (Some(0), Some(0)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still watched: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
