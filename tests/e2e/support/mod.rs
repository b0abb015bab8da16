//! Test harness: spawns the real `letta-daemon` binary with a temporary
//! data directory and talks to it the way clients do. Every wait and every
//! read is bounded by [`TIMEOUT`].

#![allow(dead_code)]

pub mod backend;
pub mod ctl;
pub mod cutting_proxy;
pub mod frontend;
pub mod letta_server;
pub mod mock_letta;
pub mod node;
pub mod outage_proxy;
pub mod raw;
pub mod scripted_model;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use letta_client::discovery::{DaemonFile, read_daemon_file};
use tempfile::TempDir;

/// Upper bound for any single wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn daemon_bin() -> &'static str {
    env!("CARGO_BIN_EXE_letta-daemon")
}

/// A running daemon with its own data directory and home.
pub struct Daemon {
    pub dir: TempDir,
    pub data_dir: PathBuf,
    child: Option<Child>,
    pub info: DaemonFile,
}

/// How to start a daemon.
#[derive(Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Use this data directory instead of a fresh one (for restarts).
    pub data_dir: Option<PathBuf>,
    /// `--listen` value; a free loopback port by default.
    pub listen: Option<String>,
    /// Environment variables to unset.
    pub env_remove: Vec<String>,
    /// Start the daemon with this soft limit on open files.
    pub soft_open_files: Option<u64>,
    /// Start the daemon in a mount namespace of its own, with this mount
    /// (see [`private_mounts_work`]).
    pub private_mount: Option<PrivateMount>,
}

/// A mount only the daemon sees.
#[derive(Clone)]
pub enum PrivateMount {
    /// The directory, read-only.
    ReadOnly(PathBuf),
    /// A small disk over the directory: a tmpfs of `mib` MiB already holding
    /// a file `filler` of `filler_mib` MiB.
    SmallDisk {
        dir: PathBuf,
        mib: u64,
        filler_mib: u64,
    },
}

impl PrivateMount {
    /// Shell commands that make the mount.
    fn commands(&self) -> String {
        match self {
            PrivateMount::ReadOnly(dir) => {
                let dir = dir.display();
                format!("mount --bind '{dir}' '{dir}' && mount -o remount,ro,bind '{dir}'")
            }
            PrivateMount::SmallDisk {
                dir,
                mib,
                filler_mib,
            } => {
                let dir = dir.display();
                format!(
                    "mkdir -p '{dir}' && mount -t tmpfs -o size={mib}m tmpfs '{dir}' && \
                     head -c {} /dev/zero > '{dir}/filler'",
                    filler_mib * 1024 * 1024
                )
            }
        }
    }
}

/// Whether this machine lets a test give a process a mount namespace of
/// its own (`unshare -m`), to show it a directory read-only (file modes do
/// not stop root, which the tests may run as) or a small disk.
pub fn private_mounts_work() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Options {
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// The daemon's home: settings files there outlast its restarts.
    pub fn home(self, home: &Path) -> Self {
        self.env("HOME", home.display().to_string())
    }

    /// The daemon aborts, as `kill -9` would, on reaching `point`
    /// (`LETTA_DAEMON_CRASH_AT`).
    pub fn crash_at(self, point: &str) -> Self {
        self.env("LETTA_DAEMON_CRASH_AT", point)
    }
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(Options::default())
    }

    /// Starts the daemon and waits until it has published `daemon.json`.
    pub fn start_with(options: Options) -> Daemon {
        let dir = tempfile::Builder::new().prefix("ld").tempdir().unwrap();
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let mut child = spawn(dir.path(), &data_dir, &options);
        // A small disk is mounted where only the daemon sees it; its
        // files show through its root in /proc.
        let published = match &options.private_mount {
            Some(PrivateMount::SmallDisk { .. }) => {
                PathBuf::from(format!("/proc/{}/root{}", child.id(), data_dir.display()))
            }
            _ => data_dir.clone(),
        };
        let info = wait_for_daemon_file(&published, &mut child, &dir.path().join("stderr.log"));
        Daemon {
            dir,
            data_dir,
            child: Some(child),
            info,
        }
    }

    pub fn socket(&self) -> PathBuf {
        PathBuf::from(&self.info.socket)
    }

    /// `http://HOST:PORT`
    pub fn http_url(&self) -> String {
        self.info.ws_url.replacen("ws://", "http://", 1)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.info.ws_url)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        signal(self.pid(), "TERM");
        self.wait()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.child = None;
    }

    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon already stopped");
        wait_with_timeout(&mut child).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("daemon did not exit within {TIMEOUT:?}\n{}", self.stderr());
        })
    }
}

impl Drop for Daemon {
    /// Kills the daemon and what its agents left running, so that tests
    /// leave no commands behind on the machine.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
            letta_daemon::orphans::end_left_behind(&self.data_dir);
        }
        // `LETTA_TEST_LOGS=DIR` keeps every daemon's log, to read after a
        // failure (a soak's run repeated with its seed, say).
        if let Some(logs) = std::env::var_os("LETTA_TEST_LOGS") {
            let logs = PathBuf::from(logs);
            let _ = std::fs::create_dir_all(&logs);
            let name = self.dir.path().file_name().unwrap_or_default();
            let kept = logs.join(name).with_extension("log");
            let _ = std::fs::copy(self.dir.path().join("stderr.log"), kept);
        }
    }
}

/// Runs the daemon expecting it to refuse to start; returns its exit code
/// and stderr.
pub fn start_expecting_failure(home: &Path, data_dir: &Path, options: &Options) -> (i32, String) {
    let mut child = spawn(home, data_dir, options);
    let status = wait_with_timeout(&mut child).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("daemon was expected to exit but kept running");
    });
    let stderr = std::fs::read_to_string(home.join("stderr.log")).unwrap_or_default();
    (status.code().unwrap_or(-1), stderr)
}

fn spawn(home: &Path, data_dir: &Path, options: &Options) -> Child {
    std::fs::create_dir_all(home).unwrap();
    let stderr = std::fs::File::create(home.join("stderr.log")).unwrap();
    // Set-up the daemon starts after, in the shell that execs it.
    let mut prelude = Vec::new();
    if let Some(limit) = options.soft_open_files {
        prelude.push(format!("ulimit -Sn {limit}"));
    }
    if let Some(mount) = &options.private_mount {
        prelude.push(mount.commands());
    }
    let mut command = if prelude.is_empty() {
        Command::new(daemon_bin())
    } else {
        let mut shell = if options.private_mount.is_some() {
            let mut unshare = Command::new("unshare");
            unshare.args(["-m", "sh"]);
            unshare
        } else {
            Command::new("sh")
        };
        shell
            .arg("-c")
            .arg(format!("{} && exec \"$@\"", prelude.join(" && ")))
            .arg("sh")
            .arg(daemon_bin());
        shell
    };
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(options.listen.as_deref().unwrap_or("ws://127.0.0.1:0"))
        .args(&options.args)
        .env("HOME", home)
        .env_remove("LETTA_API_KEY")
        // Nothing listens on port 1: tests that need a Letta server or a
        // model provider say so.
        .env("LETTA_BASE_URL", "http://127.0.0.1:1")
        .env_remove("LETTA_DAEMON_BACKEND")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env("OLLAMA_BASE_URL", "http://127.0.0.1:1/v1")
        .env("LMSTUDIO_BASE_URL", "http://127.0.0.1:1/v1")
        .env("LLAMACPP_BASE_URL", "http://127.0.0.1:1/v1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (key, value) in &options.env {
        command.env(key, value);
    }
    for key in &options.env_remove {
        command.env_remove(key);
    }
    command.spawn().unwrap()
}

fn wait_for_daemon_file(data_dir: &Path, child: &mut Child, stderr: &Path) -> DaemonFile {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // A daemon killed with -9 leaves its daemon.json behind: wait for ours.
        if let Ok(info) = read_daemon_file(data_dir)
            && info.pid == child.id()
        {
            return info;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "daemon exited with {status} before it was ready:\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "daemon.json did not appear within {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_with_timeout(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Kills a child process the test started by hand if the test fails.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bounds a future by [`TIMEOUT`].
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .expect("timed out")
}

/// Runs `git args…` in `dir` as a test author; its standard output,
/// trimmed. Fails the test if git does.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// An HTTP client that sends no default headers we would have to undo.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(TIMEOUT).build().unwrap()
}
