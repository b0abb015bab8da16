//! Spawning a server, timing it to healthy, and measuring its memory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How to tell a spawned server is ready.
pub enum Readiness {
    /// `GET` answers 2xx.
    Http(String),
    /// A TCP connection is accepted.
    Tcp(std::net::SocketAddr),
}

impl Readiness {
    async fn probe(&self, http: &reqwest::Client) -> bool {
        match self {
            Readiness::Http(url) => http
                .get(url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success()),
            Readiness::Tcp(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
        }
    }
}

/// A spawned server process, killed (with its children) when dropped.
pub struct Server {
    child: Child,
}

impl Server {
    /// Spawns `program args...` and waits until it is ready; returns the
    /// server and the time from spawn to ready.
    pub async fn spawn(
        program: &str,
        args: &[String],
        envs: &[(String, String)],
        ready: &Readiness,
    ) -> Result<(Server, Duration)> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        let child = Command::new(program)
            .args(args)
            .envs(
                envs.iter()
                    .map(|(key, value)| (key.as_str(), value.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {program}"))?;
        let mut server = Server { child };
        let deadline = started + Duration::from_secs(30);
        loop {
            if ready.probe(&http).await {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("{program} exited with {status} before it was ready");
            }
            if Instant::now() > deadline {
                bail!("{program} was not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process and its live descendants.
    fn tree(&self) -> Vec<u32> {
        let mut tree = Vec::new();
        let mut pending = vec![self.pid()];
        while let Some(pid) = pending.pop() {
            pending.extend(children_of(pid));
            tree.push(pid);
        }
        tree
    }

    /// Resident memory of the process and all its descendants, in bytes.
    pub fn tree_rss(&self) -> Result<u64> {
        self.tree().into_iter().map(rss_of).sum()
    }

    /// CPU time (user and system) the process and its live descendants
    /// have used, with the children each has reaped; at the kernel's
    /// resolution, 10 ms.
    pub fn tree_cpu(&self) -> Duration {
        let ticks: u64 = self.tree().into_iter().map(cpu_ticks_of).sum();
        Duration::from_millis(ticks * 1000 / USER_HZ)
    }

    /// Context switches (voluntary and not) of the live threads of the
    /// process and its descendants: each is a thread that stopped to wait
    /// (for another thread, a lock, the disk, a socket) or was preempted.
    /// Threads that have exited are no longer counted.
    pub fn tree_context_switches(&self) -> u64 {
        self.tree().into_iter().map(context_switches_of).sum()
    }

    /// SIGTERM, then wait; SIGKILL after five seconds.
    pub fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill_tree();
        Ok(())
    }

    fn kill_tree(&mut self) {
        let mut pids = vec![self.pid()];
        let mut index = 0;
        while index < pids.len() {
            pids.extend(children_of(pids[index]));
            index += 1;
        }
        for pid in pids.iter().rev() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_tree();
        }
    }
}

fn rss_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no /proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(kib * 1024)
}

/// The unit of CPU times in `/proc`, fixed at 100 on Linux.
const USER_HZ: u64 = 100;

/// utime + stime + cutime + cstime from `/proc/PID/stat`.
fn cpu_ticks_of(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name, which may hold spaces and ends at the
    // last ')'; utime is the 14th field, so the 12th after the name.
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return 0;
    };
    fields
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum()
}

/// The context switches of each thread of `pid`, summed.
fn context_switches_of(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<u64>>()
        })
        .sum()
}

fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Spawns the reference app-server from its command line, `{port}` in it
/// replaced by `port`, and waits until its `/healthz` answers.
pub async fn spawn_reference(
    command: &str,
    port: u16,
    envs: &[(String, String)],
) -> Result<(Server, Duration)> {
    let words: Vec<String> = command
        .replace("{port}", &port.to_string())
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let (program, args) = words.split_first().context("empty --reference-cmd")?;
    let ready = Readiness::Http(format!("http://127.0.0.1:{port}/healthz"));
    Server::spawn(program, args, envs, &ready).await
}

/// A free loopback TCP port (bound then released).
/// Serves `app` on a free loopback port with Nagle's algorithm off (its
/// delay would hold back a stream's small chunks); returns the address.
pub async fn serve_on_loopback(app: axum::Router) -> Result<std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(address)
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
