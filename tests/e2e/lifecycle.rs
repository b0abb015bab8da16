//! Start-up, discovery, single instance, stale sockets and shutdown.

use std::os::unix::net::UnixListener;

use crate::support::raw::Lines;
use crate::support::{Daemon, Options, start_expecting_failure};

#[tokio::test]
async fn daemon_json_is_published_and_removed() {
    let mut daemon = Daemon::start();
    let info = daemon.info.clone();
    assert_eq!(info.pid, daemon.pid());
    assert_eq!(
        info.socket,
        daemon.data_dir.join("daemon.sock").display().to_string()
    );
    assert!(
        info.ws_url.starts_with("ws://127.0.0.1:"),
        "{}",
        info.ws_url
    );
    assert_ne!(
        info.ws_url, "ws://127.0.0.1:0",
        "port 0 must be resolved to the real port"
    );
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.protocol_version, 2);

    // Reachable at what it published.
    let mut lines = Lines::connect(&daemon.socket()).await;
    lines
        .request(r#"{"jsonrpc":"2.0","id":1,"method":"app_server_info"}"#)
        .await;

    let status = daemon.stop();
    assert!(status.success(), "{status}\n{}", daemon.stderr());
    assert!(!daemon.data_dir.join("daemon.json").exists());
    assert!(!daemon.socket().exists());
    assert!(daemon.stderr().contains("stopped"));
}

#[test]
fn sigint_also_stops_cleanly() {
    let mut daemon = Daemon::start();
    crate::support::signal(daemon.pid(), "INT");
    assert!(daemon.wait().success());
    assert!(!daemon.data_dir.join("daemon.json").exists());
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let socket = data_dir.join("daemon.sock");
    // A socket file nobody listens on, as a crashed daemon leaves it.
    drop(UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let options = Options::default()
        .arg("--socket")
        .arg(socket.to_str().unwrap());
    let daemon = Daemon::start_with(options);
    assert_eq!(daemon.socket(), socket);
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());
}

#[test]
fn a_file_in_the_sockets_place_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("not-a-socket");
    std::fs::write(&socket, "precious").unwrap();
    let options = Options::default()
        .arg("--socket")
        .arg(socket.to_str().unwrap());
    let (code, stderr) = start_expecting_failure(dir.path(), &dir.path().join("data"), &options);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[test]
fn a_second_daemon_on_a_live_socket_is_refused() {
    let first = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .arg("--socket")
        .arg(first.socket().to_str().unwrap());
    let (code, stderr) = start_expecting_failure(dir.path(), &dir.path().join("data"), &options);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("already listening"), "{stderr}");
    // The first one is untouched.
    assert!(std::os::unix::net::UnixStream::connect(first.socket()).is_ok());
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let first = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let other_socket = dir.path().join("other.sock");
    let options = Options::default()
        .arg("--socket")
        .arg(other_socket.to_str().unwrap());
    let (code, stderr) = start_expecting_failure(dir.path(), &first.data_dir, &options);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("already running"), "{stderr}");
    assert!(
        stderr.contains(&first.pid().to_string()),
        "names the holder: {stderr}"
    );
    assert!(first.data_dir.join("daemon.json").exists());
}

#[test]
fn a_crash_is_noticed_and_recovered_from() {
    let mut crashed = Daemon::start();
    let data_dir = crashed.data_dir.clone();
    let socket = crashed.socket();
    crashed.kill();
    assert!(socket.exists(), "kill -9 leaves the socket behind");

    let restarted = Daemon::start_with(Options {
        data_dir: Some(data_dir),
        ..Options::default()
    });
    assert_eq!(restarted.socket(), socket);
    assert!(
        restarted.stderr().contains("did not stop cleanly"),
        "{}",
        restarted.stderr()
    );
    assert!(
        restarted.stderr().contains("stale socket"),
        "{}",
        restarted.stderr()
    );
}

#[test]
fn settings_come_from_daemon_toml() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data_dir = dir.path().join("from-toml");
    std::fs::create_dir_all(home.join(".letta")).unwrap();
    std::fs::write(
        home.join(".letta/daemon.toml"),
        format!(
            "data_dir = {:?}\nlisten = \"ws://127.0.0.1:1\"\n",
            data_dir.display().to_string()
        ),
    )
    .unwrap();
    // The flag for --listen (set by the harness to port 0) beats the file's
    // port 1; the file's data_dir beats the default. The harness passes
    // --data-dir, so run the binary by hand here.
    let child = std::process::Command::new(crate::support::daemon_bin())
        .args(["--listen", "ws://127.0.0.1:0"])
        .env("HOME", &home)
        .env_remove("LETTA_DAEMON_DATA_DIR")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = crate::support::ChildGuard(child);
    let deadline = std::time::Instant::now() + crate::support::TIMEOUT;
    let info = loop {
        if let Ok(info) = letta_client::discovery::read_daemon_file(&data_dir) {
            break info;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "daemon.json never appeared in the data_dir from daemon.toml"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_ne!(info.ws_url, "ws://127.0.0.1:1");
    crate::support::signal(child.0.id(), "TERM");
    let _ = child.0.wait();
}

/// A daemon started with the soft limit on open files many systems give
/// (1024, here 256) raises it, so frontends are not refused well before
/// `--max-connections`.
#[test]
fn the_open_file_limit_is_raised() {
    let daemon = Daemon::start_with(Options {
        soft_open_files: Some(256),
        ..Options::default()
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.pid())).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let (soft, hard) = (numbers[0], numbers.get(1).copied().unwrap_or(u64::MAX));
    assert_eq!(soft, hard.min(65_536), "{line}");
}
