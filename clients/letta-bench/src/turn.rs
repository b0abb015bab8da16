//! `letta-bench turn`: the turn's cost, side by side. The same scripted turns
//! (a plain answer, one approved `Write`, five read-only `Read`s) go through
//! Letta Code's official `AppServerClient` to the reference app-server and
//! to letta-daemon, alternating, on a Letta server and on both local
//! backends with letta-bench's scripted model.
//!
//! A server's overhead is the turn's time, as the client sees it, minus
//! what the backend spent: on a local backend the model's time from each
//! request's arrival to its answer's last byte; on a Letta server two
//! ways, the `total_duration_ns` of the turn's runs, and the time any of
//! the server's requests to the Letta server was waiting for its answer
//! (each server reaches the Letta server through its own
//! [`TimingProxy`]). The runs leave out what the Letta server does outside
//! them (creating the run, taking an approval), so the first way counts
//! that as the server's overhead and the second does not. CPU is the server's process tree's
//! user and system time over the turns, and its threads' context switches
//! (on a local turn the daemon's cost is in those hand-offs between threads
//! more than in instructions); memory its resident set after them.
//!
//! Before each turn both servers are let go quiet (see [`settle`]): with
//! two cores, work one server does after its turn ended (a garbage
//! collection, a file written late) would otherwise be timed as the other's.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::local::{self, ModelHandle, write_script};
use crate::process::{Server, free_port, spawn_reference};
use crate::stats::{Summary, ms};
use crate::timing_proxy::TimingProxy;
use crate::{cores, mib, spawn_daemon};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backends {
    /// A Letta server (`--letta-url`) with its scripted model.
    Letta,
    /// Each server's own local backend, with letta-bench's scripted model.
    Local,
    Both,
}

#[derive(clap::Args)]
pub struct TurnArgs {
    /// The letta-daemon binary [default: next to letta-bench].
    #[arg(long)]
    pub daemon: Option<PathBuf>,
    /// The reference app-server's command line without `--backend`; `{port}`
    /// is replaced, e.g. "letta server --listen ws://127.0.0.1:{port}".
    #[arg(long)]
    reference_cmd: String,
    /// Where Letta Code's npm package and `ws` are installed
    /// (`tests/tools/letta-code-client.sh` prints it).
    #[arg(long)]
    node_client: PathBuf,
    #[arg(long, value_enum, default_value_t = Backends::Both)]
    backend: Backends,
    /// Measured turns of each kind, per server (after one warm-up each).
    #[arg(long, default_value_t = 20)]
    turns: usize,
    /// The Letta server, whose model answers the scripts the way
    /// letta-bench's does (`tests/tools/letta-server.sh`).
    #[arg(long, env = "LETTA_BASE_URL", default_value = "http://127.0.0.1:8283")]
    letta_url: String,
    /// The Letta server's handle for that model.
    #[arg(long, default_value = "openai-proxy/fake-model")]
    letta_model: String,
}

/// The turns measured, each the same text on every server and backend.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    ApprovedWrite,
    FiveReads,
}

const KINDS: [Kind; 3] = [Kind::Plain, Kind::ApprovedWrite, Kind::FiveReads];
/// The servers, in the order they take turns.
const NAMES: [&str; 2] = ["letta-daemon", "reference"];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain answer",
            Kind::ApprovedWrite => "one approved Write",
            Kind::FiveReads => "five Reads",
        }
    }

    fn script(self, cwd: &Path, turn: usize) -> String {
        match self {
            Kind::Plain => "[[notool]] [[delay=0]] Say hello.".to_owned(),
            Kind::ApprovedWrite => write_script(
                &cwd.join(format!("written-{turn}.txt"))
                    .display()
                    .to_string(),
            ),
            Kind::FiveReads => {
                let calls: String = (0..5)
                    .map(|file| {
                        let path = cwd.join(format!("read-{file}.txt"));
                        format!("[[call:Read {}]] ", json!({ "file_path": path }))
                    })
                    .collect();
                format!("[[delay=0]] {calls}Read the files.")
            }
        }
    }

    /// Permission requests a turn of this kind should raise.
    fn approvals(self) -> u64 {
        match self {
            Kind::ApprovedWrite => 1,
            Kind::Plain | Kind::FiveReads => 0,
        }
    }
}

/// Where a backend's time is read from.
enum BackendClock {
    Letta {
        http: reqwest::Client,
        url: String,
        /// One per server, in [`NAMES`]' order.
        proxies: Vec<TimingProxy>,
    },
    Model(ModelHandle),
}

/// What the backend spent on a turn.
struct Spent {
    /// The model's time, or the Letta server's runs'.
    backend: Duration,
    /// On a Letta server, the time a request to it was waiting.
    requests: Option<Duration>,
}

impl BackendClock {
    /// What the backend spent on the turn that began at `began` on
    /// `server`'s agent `agent_id`, its runs in `counted` excluded (and
    /// added).
    async fn spent(
        &self,
        server: usize,
        began: Instant,
        agent_id: &str,
        counted: &mut Vec<String>,
    ) -> Result<Spent> {
        match self {
            BackendClock::Model(model) => Ok(Spent {
                backend: model.busy_since(began),
                requests: None,
            }),
            BackendClock::Letta { http, url, proxies } => {
                let requests = proxies.get(server).map(|proxy| proxy.busy_since(began));
                // A run's duration is written as it completes, which may
                // be just after its stream ends.
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    let runs: Vec<Value> = http
                        .get(format!("{url}/v1/runs/"))
                        .query(&[("agent_id", agent_id), ("limit", "50")])
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    let new: Vec<&Value> = runs
                        .iter()
                        .filter(|run| {
                            run["id"]
                                .as_str()
                                .is_some_and(|id| !counted.iter().any(|seen| seen == id))
                        })
                        .collect();
                    let durations: Option<Vec<u64>> = new
                        .iter()
                        .map(|run| run["total_duration_ns"].as_u64())
                        .collect();
                    if let Some(durations) = durations {
                        counted.extend(
                            new.iter()
                                .filter_map(|run| run["id"].as_str().map(str::to_owned)),
                        );
                        return Ok(Spent {
                            backend: Duration::from_nanos(durations.iter().sum()),
                            requests,
                        });
                    }
                    if Instant::now() > deadline {
                        bail!("runs of {agent_id} have no duration after 5 s");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// One server's figures for one kind of turn.
#[derive(Default)]
struct Samples {
    turn: Vec<Duration>,
    overhead: Vec<Duration>,
    /// On a Letta server: the turn minus its requests' waiting time.
    overhead_outside_requests: Vec<Duration>,
    cpu: Duration,
    context_switches: u64,
    unexpected_approvals: usize,
}

/// Letta Code's official client, driving one runtime per server.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    runtimes: Vec<Value>,
}

impl Driver {
    async fn start(node_client: &Path, model: &str, cwd: &Path, urls: &[String]) -> Result<Driver> {
        let script = cwd.join("node-turn.mjs");
        std::fs::write(&script, include_str!("node-turn.mjs"))?;
        let mut child = tokio::process::Command::new("node")
            .arg(&script)
            .arg(node_client)
            .arg(model)
            .arg(cwd)
            .args(urls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot run node")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut driver = Driver {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            runtimes: Vec::new(),
        };
        let ready = driver.read(Duration::from_secs(120)).await?;
        driver.runtimes = ready["runtimes"]
            .as_array()
            .cloned()
            .context(format!("the client did not start: {ready}"))?;
        Ok(driver)
    }

    async fn read(&mut self, within: Duration) -> Result<Value> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .context("the client went quiet")??
            .context("the client exited")?;
        Ok(serde_json::from_str(&line)?)
    }

    async fn turn(&mut self, server: usize, text: &str) -> Result<Value> {
        let command = json!({ "server": server, "text": text });
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        let result = self.read(Duration::from_secs(150)).await?;
        if let Some(error) = result.get("error") {
            bail!("the turn failed: {error}");
        }
        if result["stop_reason"] != "end_turn" {
            bail!("the turn ended with {result}");
        }
        // A tool that failed did not do the work being measured.
        if result["tool_errors"]
            .as_array()
            .is_some_and(|errors| !errors.is_empty())
        {
            bail!("a tool failed on server {server}: {result}");
        }
        Ok(result)
    }

    async fn stop(mut self) {
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// `letta-bench turn`: runs the turns and prints the report.
pub async fn report(daemon: Vec<String>, args: TurnArgs) -> Result<()> {
    println!("## letta-bench turn\n");
    println!(
        "machine: {} cores; Letta Code's official AppServerClient from {}; {} measured turns of each kind per server, alternating\n",
        cores(),
        args.node_client.display(),
        args.turns
    );
    if matches!(args.backend, Backends::Letta | Backends::Both) {
        side_by_side(&daemon, &args, false).await?;
    }
    if matches!(args.backend, Backends::Local | Backends::Both) {
        side_by_side(&daemon, &args, true).await?;
    }
    Ok(())
}

async fn side_by_side(daemon: &[String], args: &TurnArgs, local: bool) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let cwd = scratch.path().join("work");
    std::fs::create_dir_all(&cwd)?;
    for file in 0..5 {
        std::fs::write(cwd.join(format!("read-{file}.txt")), "a line to read\n")?;
    }
    let (envs, clock, model, backend_flag) = if local {
        let (url, handle) = local::start_model().await?;
        handle.set_chunks(5, Duration::ZERO);
        let envs = local::model_env(&url);
        (
            envs,
            BackendClock::Model(handle),
            local::MODEL.to_owned(),
            "local",
        )
    } else {
        let envs = vec![("LETTA_DAEMON_BACKEND".to_owned(), "api".to_owned())];
        let mut proxies = Vec::new();
        for _ in NAMES {
            proxies.push(TimingProxy::start(&args.letta_url).await?);
        }
        let clock = BackendClock::Letta {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            url: args.letta_url.trim_end_matches('/').to_owned(),
            proxies,
        };
        (envs, clock, args.letta_model.clone(), "cloud")
    };

    let daemon_home = scratch.path().join("daemon-home");
    let reference_home = scratch.path().join("reference-home");
    std::fs::create_dir_all(&daemon_home)?;
    std::fs::create_dir_all(&reference_home)?;
    let with_home = |home: &Path, server: usize| {
        let mut envs = envs.clone();
        envs.push(("HOME".to_owned(), home.display().to_string()));
        if let BackendClock::Letta { proxies, .. } = &clock {
            envs.push(("LETTA_BASE_URL".to_owned(), proxies[server].url.clone()));
        }
        envs
    };
    let daemon_dir = scratch.path().join("daemon");
    let (ours, _, port) = spawn_daemon(daemon, &daemon_dir, &with_home(&daemon_home, 0)).await?;
    let ours_url = format!("ws://127.0.0.1:{port}");

    let port = free_port()?;
    let command = format!("{} --backend {backend_flag}", args.reference_cmd);
    let (reference, _) = spawn_reference(&command, port, &with_home(&reference_home, 1)).await?;
    let reference_url = format!("ws://127.0.0.1:{port}");

    let servers = [&ours, &reference];
    let mut driver = Driver::start(
        &args.node_client,
        &model,
        &cwd,
        &[format!("{ours_url}/ws"), format!("{reference_url}/ws")],
    )
    .await?;
    let agents: Vec<String> = driver
        .runtimes
        .iter()
        .map(|runtime| runtime["agent_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut counted = Vec::new();
    let mut samples: Vec<Vec<Samples>> = (0..servers.len())
        .map(|_| KINDS.iter().map(|_| Samples::default()).collect())
        .collect();
    let mut turn_number = 0;
    for round in 0..=args.turns {
        for (kind_index, kind) in KINDS.iter().enumerate() {
            for (server, process) in servers.iter().enumerate() {
                turn_number += 1;
                let text = kind.script(&cwd, turn_number);
                settle(&servers).await;
                let cpu_before = process.tree_cpu();
                let switches_before = process.tree_context_switches();
                let began = Instant::now();
                let result = driver.turn(server, &text).await?;
                let spent = clock
                    .spent(server, began, &agents[server], &mut counted)
                    .await?;
                if round == 0 {
                    continue;
                }
                let figures = &mut samples[server][kind_index];
                let elapsed = Duration::from_secs_f64(
                    result["elapsed_ms"].as_f64().unwrap_or_default() / 1000.0,
                );
                figures.turn.push(elapsed);
                figures.overhead.push(elapsed.saturating_sub(spent.backend));
                if let Some(requests) = spent.requests {
                    figures
                        .overhead_outside_requests
                        .push(elapsed.saturating_sub(requests));
                }
                figures.cpu += process.tree_cpu().saturating_sub(cpu_before);
                figures.context_switches += process
                    .tree_context_switches()
                    .saturating_sub(switches_before);
                if result["approvals"].as_u64() != Some(kind.approvals()) {
                    figures.unexpected_approvals += 1;
                }
            }
        }
    }
    driver.stop().await;
    let rss: Vec<u64> = servers
        .iter()
        .map(|process| process.tree_rss())
        .collect::<Result<_>>()?;
    ours.stop()?;
    reference.stop()?;

    let backend = if local {
        "local backends, letta-bench's scripted model"
    } else {
        "a Letta server, its scripted model"
    };
    println!("### On {backend}\n");
    // On a Letta server, also the overhead outside the requests' waiting.
    let by_requests = !local;
    let (extra_head, extra_rule) = if by_requests {
        (
            " outside requests p50 ms | outside requests p99 ms |",
            "---|---|",
        )
    } else {
        ("", "")
    };
    println!(
        "| turn | server | overhead p50 ms | overhead p99 ms |{extra_head} turn p50 ms | turn p99 ms | CPU ms/turn | context switches/turn |\n|---|---|---|---|{extra_rule}---|---|---|---|"
    );
    for (kind_index, kind) in KINDS.iter().enumerate() {
        for (server, name) in NAMES.iter().enumerate() {
            let figures = &mut samples[server][kind_index];
            let overhead = Summary::of(&mut figures.overhead).context("no turns")?;
            let turn = Summary::of(&mut figures.turn).context("no turns")?;
            let extra = match Summary::of(&mut figures.overhead_outside_requests) {
                Some(outside) => format!(" {} | {} |", ms(outside.p50), ms(outside.p99)),
                None => String::new(),
            };
            println!(
                "| {} | {name} | {} | {} |{extra} {} | {} | {:.1} | {} |",
                kind.name(),
                ms(overhead.p50),
                ms(overhead.p99),
                ms(turn.p50),
                ms(turn.p99),
                figures.cpu.as_secs_f64() * 1000.0 / turn.count as f64,
                figures.context_switches / turn.count as u64,
            );
            if figures.unexpected_approvals > 0 {
                println!(
                    "| | {name}: {} turns asked for an unexpected number of approvals |",
                    figures.unexpected_approvals
                );
            }
        }
    }
    println!();
    for (kind_index, kind) in KINDS.iter().enumerate() {
        let ratio = |pick: fn(&Samples) -> &Vec<Duration>| {
            let p50 = |server: usize| {
                let mut overhead = pick(&samples[server][kind_index]).clone();
                Summary::of(&mut overhead).map(|summary| summary.p50.as_secs_f64())
            };
            Some(p50(1)? / p50(0)?.max(f64::EPSILON))
        };
        if let Some(ratio) = ratio(|figures| &figures.overhead) {
            print!(
                "{}: the reference's overhead is {ratio:.1}x the daemon's (p50)",
                kind.name()
            );
        }
        match ratio(|figures| &figures.overhead_outside_requests) {
            Some(ratio) => println!("; outside requests to the Letta server, {ratio:.1}x"),
            None => println!(),
        }
    }
    println!(
        "\nresident memory after the turns (process tree): letta-daemon {} MiB, reference {} MiB ({:.1}x)\n",
        mib(rss[0]),
        mib(rss[1]),
        rss[1] as f64 / rss[0].max(1) as f64
    );
    Ok(())
}

/// Waits until no server's process tree used CPU for [`QUIET`], or at most
/// [`SETTLE_LIMIT`].
async fn settle(servers: &[&Server]) {
    let total = || {
        servers
            .iter()
            .map(|server| server.tree_cpu())
            .sum::<Duration>()
    };
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut before = total();
    while Instant::now() < deadline {
        tokio::time::sleep(QUIET).await;
        let now = total();
        if now == before {
            return;
        }
        before = now;
    }
}

/// Longer than the kernel's 10 ms resolution of CPU time, so a server busy
/// for a good part of it shows.
const QUIET: Duration = Duration::from_millis(50);
const SETTLE_LIMIT: Duration = Duration::from_secs(3);
