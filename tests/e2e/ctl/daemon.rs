//! `letta-ctl daemon`: start, status, logs, stop, and the user service.

use std::process::Command;

use crate::support::backend::Backend;
use crate::support::ctl::Shell;

#[tokio::test]
async fn daemon_start_status_logs_stop() {
    let backend = Backend::mock().await;
    let root = tempfile::tempdir().unwrap();
    let shell = super::shell_for_own_daemon(root.path(), &backend);

    let before = shell.run(&["daemon", "status"]).await;
    assert_eq!(before.code, 3, "nothing runs yet: {before:?}");
    assert!(
        before.stderr.contains("letta-ctl daemon start"),
        "{before:?}"
    );

    let started = shell.run(&["daemon", "start"]).await;
    assert_eq!(started.code, 0, "{started:?}");
    assert!(started.stderr.contains("ready (pid"), "{started:?}");
    let status = shell.run(&["--json", "daemon", "status"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let status = status.json();
    let pid = status["pid"].as_u64().unwrap();
    assert_eq!(status["server"]["name"], "letta-daemon");
    assert_eq!(status["letta_base_url"], backend.url());
    assert_eq!(status["runtimes"], serde_json::json!([]));
    assert!(
        status["ws_url"]
            .as_str()
            .unwrap()
            .starts_with("ws://127.0.0.1:")
    );

    let text = shell.run(&["daemon", "status"]).await;
    assert!(text.stdout.contains(&format!("pid {pid}")), "{text:?}");
    assert!(
        text.stdout.contains("0 active turns, 0 pending approvals"),
        "{text:?}"
    );

    let again = shell.run(&["daemon", "start"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("already running"), "{again:?}");

    let logs = shell.run(&["daemon", "logs", "-n", "50"]).await;
    assert_eq!(logs.code, 0, "{logs:?}");
    assert!(logs.stdout.contains("letta-daemon ready"), "{logs:?}");

    let stopped = shell.run(&["daemon", "stop"]).await;
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(
        !root.path().join("data/daemon.json").exists(),
        "a clean stop removes the discovery file"
    );
    let after = shell.run(&["daemon", "status"]).await;
    assert_eq!(after.code, 3, "{after:?}");
    let twice = shell.run(&["daemon", "stop"]).await;
    assert_eq!(
        twice.code, 0,
        "stopping a stopped daemon is fine: {twice:?}"
    );
    assert!(twice.stderr.contains("not running"), "{twice:?}");
}

#[tokio::test]
async fn the_service_unit_is_valid_and_installs_where_systemd_looks() {
    let root = tempfile::tempdir().unwrap();
    let shell = Shell::new(root.path(), &root.path().join("data"))
        .env(
            "XDG_CONFIG_HOME",
            root.path().join("config").display().to_string(),
        )
        .env("LETTA_BASE_URL", "http://127.0.0.1:8283");
    let daemon_bin = crate::support::daemon_bin();
    let printed = shell
        .run(&[
            "daemon",
            "install-service",
            "--print",
            "--daemon-bin",
            daemon_bin,
        ])
        .await;
    assert_eq!(printed.code, 0, "{printed:?}");
    let unit = printed.stdout;
    assert!(unit.contains("Restart=on-failure"), "{unit}");
    assert!(
        unit.contains(&format!("--data-dir {}", shell.data_dir.display())),
        "{unit}"
    );
    assert!(
        unit.contains("Environment=LETTA_BASE_URL=http://127.0.0.1:8283"),
        "{unit}"
    );

    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let path = root.path().join("letta-daemon.service");
        std::fs::write(&path, &unit).unwrap();
        let verified = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap();
        let complaints = String::from_utf8_lossy(&verified.stderr);
        assert!(
            verified.status.success() && !complaints.contains("letta-daemon.service:"),
            "systemd-analyze verify: {complaints}\n{unit}"
        );
    }

    let installed = shell
        .run(&[
            "daemon",
            "install-service",
            "--no-start",
            "--daemon-bin",
            daemon_bin,
        ])
        .await;
    assert_eq!(installed.code, 0, "{installed:?}");
    let path = root.path().join("config/systemd/user/letta-daemon.service");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), unit);
    let removed = shell.run(&["daemon", "uninstall-service"]).await;
    assert_eq!(removed.code, 0, "{removed:?}");
    assert!(!path.exists());
}
