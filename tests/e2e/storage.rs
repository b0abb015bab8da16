//! The daemon's database running out of room.

use serde_json::{Value, json};

use crate::support::backend::{Backend, cm};
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::{Daemon, Options, PrivateMount, private_mounts_work, start_expecting_failure};

/// Inputs big enough to fill a 2 MiB database in a few dozen turns.
const INPUT_BYTES: usize = 48 * 1024;

/// A database near its size limit refuses new inputs and runtimes with a
/// typed error that says why; every turn it took finished and every event
/// stays replayable; with the limit raised it takes work again.
#[tokio::test]
async fn a_full_database_refuses_new_work_and_loses_nothing() {
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let limited = |mib: &str| backend.options().arg("--max-database-mib").arg(mib);
    let mut daemon = Daemon::start_with(limited("2"));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "full", project.path(), "standard").await;

    let accepted = fill_until_refused(&mut frontend, &runtime, "full", "--max-database-mib").await;
    let another = frontend
        .request(json!({
            "type": "runtime_start",
            "create_agent": { "body": { "name": "one-more", "model": "mock/default-model" } },
            "create_conversation": {},
        }))
        .await;
    assert_ne!(another["success"], true, "{another}");

    assert_all_finished(&daemon, &runtime, accepted).await;

    daemon.stop();
    let daemon = Daemon::start_with(Options {
        data_dir: Some(daemon.data_dir.clone()),
        ..limited("64")
    });
    let mut frontend = Frontend::connect(&daemon).await;
    let synced = frontend
        .request(json!({"type": "sync", "runtime": runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let reply = frontend
        .request(user_input(&runtime, "[[notool]] room again", &cm("room")))
        .await;
    assert_eq!(reply["accepted"], true, "{reply}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

/// A disk nearly out of room: the daemon refuses new work with the same
/// typed error while room remains for the turns it took to finish and
/// record their end; with room made it takes work again.
#[tokio::test]
#[allow(clippy::print_stderr)]
async fn a_nearly_full_disk_refuses_new_work_and_loses_nothing() {
    if !private_mounts_work() {
        eprintln!("skipped: this machine gives no mount namespace for a small disk");
        return;
    }
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("disk");
    // 22 MiB free of 24 at the start; the daemon keeps a reserve of 16.
    let daemon = Daemon::start_with(Options {
        data_dir: Some(data_dir.clone()),
        private_mount: Some(PrivateMount::SmallDisk {
            dir: data_dir.clone(),
            mib: 24,
            filler_mib: 2,
        }),
        ..backend.options()
    });
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "disk", project.path(), "standard").await;

    let accepted = fill_until_refused(&mut frontend, &runtime, "disk", "disk").await;
    assert_all_finished(&daemon, &runtime, accepted).await;

    // Room made (the filler removed, in the daemon's namespace).
    let removed = std::process::Command::new("nsenter")
        .args(["-t", &daemon.pid().to_string(), "-m", "rm"])
        .arg(data_dir.join("filler"))
        .status()
        .unwrap();
    assert!(removed.success());
    let reply = frontend
        .request(user_input(
            &runtime,
            "[[notool]] room again",
            &cm("disk-room"),
        ))
        .await;
    assert_eq!(reply["accepted"], true, "{reply}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

/// Sends inputs of [`INPUT_BYTES`], each waited for, until one is refused
/// as the database being full, its error naming `why`; returns how many
/// were taken.
async fn fill_until_refused(
    frontend: &mut Frontend,
    runtime: &Value,
    name: &str,
    why: &str,
) -> usize {
    let filler = "y".repeat(INPUT_BYTES);
    let mut accepted = 0;
    let refused = loop {
        assert!(accepted < 400, "fewer inputs than that fit");
        let reply = frontend
            .request(user_input(
                runtime,
                &format!("[[notool]] {filler}"),
                &cm(&format!("{name}-{accepted}")),
            ))
            .await;
        if reply["accepted"] != true {
            break reply;
        }
        accepted += 1;
        let finished = frontend.wait_for_type("turn_finished").await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    };
    assert!(accepted >= 5, "only {accepted} inputs fit: {refused}");
    assert_eq!(refused["error_code"], -32007, "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("database is full") && error.contains(why),
        "{refused}"
    );
    accepted
}

/// Every event of every turn is still there, in order, each turn finished.
async fn assert_all_finished(daemon: &Daemon, runtime: &Value, turns: usize) {
    let finished = replay_all(daemon, runtime)
        .await
        .iter()
        .filter(|event| event["type"] == "turn_finished")
        .count();
    assert_eq!(finished, turns, "every accepted turn finished and is kept");
}

/// Every event of `runtime` from the start, checked consecutive.
async fn replay_all(daemon: &Daemon, runtime: &Value) -> Vec<Value> {
    let mut reader = Frontend::connect(daemon).await;
    let synced = reader
        .request(json!({"type": "sync", "runtime": runtime, "after_event_seq": 0}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    // Every event up to the sync's last one was sent before its answer.
    let last = synced["last_event_seq"].as_u64().expect("a last event_seq");
    reader
        .wait_for("the replay", |frame| frame["event_seq"] == last)
        .await;
    let seqs = reader.event_seqs();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    reader.seen
}

/// A data directory the daemon cannot write to (a read-only mount: file
/// modes do not stop root) is refused at start with an error that says
/// so, and the database in it is left as it was; writable again, it
/// serves what it held.
#[test]
#[allow(clippy::print_stderr)]
fn a_read_only_data_directory_is_refused_and_left_untouched() {
    if !private_mounts_work() {
        eprintln!("skipped: this machine gives no mount namespace to show a directory read-only");
        return;
    }
    let mut first = Daemon::start();
    let data_dir = first.data_dir.clone();
    assert!(first.stop().success());
    let database = data_dir.join("daemon.db");
    let before = std::fs::read(&database).unwrap();

    let home = tempfile::tempdir().unwrap();
    let options = Options {
        private_mount: Some(PrivateMount::ReadOnly(data_dir.clone())),
        ..Options::default()
    };
    let (code, stderr) = start_expecting_failure(home.path(), &data_dir, &options);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot use data directory") && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&database).unwrap(),
        before,
        "the database was changed"
    );

    let mut again = Daemon::start_with(Options {
        data_dir: Some(data_dir),
        ..Options::default()
    });
    assert!(again.stop().success(), "{}", again.stderr());
}
