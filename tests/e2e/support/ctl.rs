//! Running the real `letta-ctl` binary against a test daemon: one-shot
//! commands with a bounded wait, and long-running ones (attach, a run to
//! kill) whose output is read while they run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use super::frontend::TURN_TIMEOUT;

/// `letta-ctl`, built next to `letta-daemon` by `cargo test --workspace`;
/// built here when only this package's tests run.
pub fn ctl_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let path = Path::new(super::daemon_bin()).with_file_name("letta-ctl");
        if !path.is_file() {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "letta-ctl"])
                .status()
                .unwrap();
            assert!(status.success(), "cannot build letta-ctl");
        }
        path
    })
    .clone()
}

/// One user's shell: a home (where attach remembers what it saw) and the
/// daemon's data directory.
#[derive(Clone)]
pub struct Shell {
    pub home: PathBuf,
    pub data_dir: PathBuf,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
}

/// How a finished command ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("not JSON ({err}): {line}\n{self:?}"))
            })
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|err| panic!("stdout is not one JSON value ({err}): {self:?}"))
    }
}

impl Shell {
    /// A shell for this data directory, with its own home and working
    /// directory under `root`.
    pub fn new(root: &Path, data_dir: &Path) -> Shell {
        let home = root.join("ctl-home");
        let cwd = root.join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        Shell {
            home,
            data_dir: data_dir.to_owned(),
            cwd,
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Shell {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ctl_bin());
        command
            .args(args)
            .current_dir(&self.cwd)
            .env("HOME", &self.home)
            .env("LETTA_DAEMON_DATA_DIR", &self.data_dir)
            .env("NO_COLOR", "1")
            .env_remove("LETTA_AGENT_ID")
            .env_remove("LETTA_MODEL")
            .env_remove("LETTA_EMBEDDING")
            .env_remove("LETTA_API_KEY")
            .env_remove("LETTA_BASE_URL")
            .env_remove("LETTA_DAEMON_BACKEND")
            .env_remove("XDG_CONFIG_HOME")
            // A daemon the shell starts finds no model provider of the
            // machine's unless the test gives one.
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENROUTER_API_KEY")
            .env("OLLAMA_BASE_URL", "http://127.0.0.1:1/v1")
            .env("LMSTUDIO_BASE_URL", "http://127.0.0.1:1/v1")
            .env("LLAMACPP_BASE_URL", "http://127.0.0.1:1/v1")
            .kill_on_drop(true);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a command to its end, stdin empty.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None).await
    }

    /// Runs a command to its end with `stdin` piped in.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = self.command(args);
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).await.unwrap();
            drop(pipe);
        }
        let output = tokio::time::timeout(TURN_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("letta-ctl {args:?} did not finish within {TURN_TIMEOUT:?}"))
            .unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts a command whose stdin and stdout are pipes (a protocol on
    /// stdio); its stderr goes to a file in the home.
    pub fn spawn_piped(&self, name: &str, args: &[&str]) -> Child {
        let mut command = self.command(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.home.join(format!("{name}.err"))).unwrap());
        command.spawn().unwrap()
    }

    /// Starts a command that keeps running, stdin empty; its output goes
    /// to files read while it runs.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Running {
        self.spawn_with(name, args, Stdio::null())
    }

    /// Like [`spawn`](Self::spawn), with stdin open for [`Running::answer`].
    pub fn spawn_answering(&self, name: &str, args: &[&str]) -> Running {
        self.spawn_with(name, args, Stdio::piped())
    }

    fn spawn_with(&self, name: &str, args: &[&str], stdin: Stdio) -> Running {
        let stdout = self.home.join(format!("{name}.out"));
        let stderr = self.home.join(format!("{name}.err"));
        let mut command = self.command(args);
        command
            .stdin(stdin)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        Running {
            child: command.spawn().unwrap(),
            stdout,
            stderr,
        }
    }
}

/// A `letta-ctl` that is still running.
pub struct Running {
    pub child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until stdout + stderr satisfy `done`.
    pub async fn wait_for_output(&mut self, what: &str, done: impl Fn(&str, &str) -> bool) {
        let deadline = tokio::time::Instant::now() + TURN_TIMEOUT;
        loop {
            let (stdout, stderr) = (self.stdout(), self.stderr());
            if done(&stdout, &stderr) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("letta-ctl exited ({status}) before {what}:\n{stdout}\n{stderr}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} within {TURN_TIMEOUT:?}:\nstdout: {stdout}\nstderr: {stderr}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes one line to its stdin.
    pub async fn answer(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// SIGKILL, as closing the terminal abruptly would.
    pub async fn kill(mut self) -> (String, String) {
        self.child.kill().await.unwrap();
        (self.stdout(), self.stderr())
    }

    /// Waits for the exit; returns its code.
    pub async fn wait(mut self) -> Output {
        let status = tokio::time::timeout(TURN_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "letta-ctl did not exit within {TURN_TIMEOUT:?}:\n{}\n{}",
                    self.stdout(),
                    self.stderr()
                )
            })
            .unwrap();
        Output {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}
