//! letta-bench: the benchmark harness. It prints numbers; it never decides
//! pass or fail (these machines are shared and noisy).
//!
//! `letta-bench run` spawns letta-daemon and measures spawn-to-healthy time,
//! idle RSS and `app_server_info` round trips on the local socket, `/rpc`
//! and `/ws`; with `--reference-cmd` it measures a Letta Code app-server the
//! same way in the same run, and it always measures a do-nothing WebSocket
//! server as the floor.

// This binary's output is its report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod acp;
mod desktop;
mod floor;
mod latency;
mod load;
mod local;
mod process;
mod stats;
mod stream;
mod timing_proxy;
mod turn;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use latency::Target;
use process::{Readiness, Server, free_port, spawn_reference};
use stats::{Summary, ms, us};

#[derive(Parser)]
#[command(
    name = "letta-bench",
    version,
    about = "Benchmarks letta-daemon (and, for comparison, a Letta Code app-server)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Full report: start-up, idle memory and round-trip latency.
    Run(RunArgs),
    /// Round trips against an already running server.
    Latency {
        /// A Letta Code app-server URL (`ws://HOST:PORT/ws`) or a daemon's
        /// JSON-RPC WebSocket (`ws://HOST:PORT/rpc`).
        #[arg(long, conflicts_with = "socket")]
        url: Option<String>,
        /// A daemon's local socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        #[arg(long, default_value_t = 1_000)]
        warmup: usize,
    },
    /// Streaming: the daemon's added latency per chunk and stream_delta
    /// fan-out throughput, against a built-in mock Letta server.
    Stream {
        /// The letta-daemon binary [default: next to letta-bench].
        #[arg(long)]
        daemon: Option<PathBuf>,
        /// Runs the daemon under this command, e.g.
        /// "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p" for
        /// instruction counts that do not move with the machine's load.
        #[arg(long)]
        daemon_wrapper: Option<String>,
        /// Chunks, 1 ms apart, for the latency figure.
        #[arg(long, default_value_t = 2_000)]
        latency_chunks: usize,
        /// Chunks per fan-out round, sent as fast as possible.
        #[arg(long, default_value_t = 5_000)]
        fan_out_chunks: usize,
        /// Subscriber counts, one round each.
        #[arg(long, value_delimiter = ',', default_values_t = [10, 100])]
        subscribers: Vec<usize>,
    },
    /// The local backend against a scripted model letta-bench serves:
    /// added latency per chunk, time-to-first-token overhead, a turn with
    /// one approved tool call (beside the reference's local backend with
    /// --reference-cmd), and memory with ten local agents.
    Local {
        /// The letta-daemon binary [default: next to letta-bench].
        #[arg(long)]
        daemon: Option<PathBuf>,
        /// Runs the daemon under this command, e.g.
        /// "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p" for
        /// instruction counts that do not move with the machine's load.
        #[arg(long)]
        daemon_wrapper: Option<String>,
        /// Only the per-chunk latency figure (for instruction counts: run
        /// twice with different --chunks and take the difference).
        #[arg(long)]
        chunks_only: bool,
        /// Chunks, 1 ms apart, for the latency figure.
        #[arg(long, default_value_t = 2_000)]
        chunks: usize,
        /// Turns for the time-to-first-token figure.
        #[arg(long, default_value_t = 50)]
        ttft_turns: usize,
        /// Turns with an approved tool call, per server.
        #[arg(long, default_value_t = 20)]
        turns: usize,
        /// Command line of the reference app-server with its local backend;
        /// `{port}` is replaced, e.g.
        /// "letta server --listen ws://127.0.0.1:{port} --backend local".
        #[arg(long)]
        reference_cmd: Option<String>,
    },
    /// The editor bridge (`letta-ctl acp`): what it adds per streamed chunk
    /// over a subscriber of the daemon itself, against the built-in mock.
    Acp {
        /// The letta-daemon binary [default: next to letta-bench].
        #[arg(long)]
        daemon: Option<PathBuf>,
        /// The letta-ctl binary [default: next to letta-bench].
        #[arg(long)]
        ctl: Option<PathBuf>,
        /// Chunks, 1 ms apart.
        #[arg(long, default_value_t = 2_000)]
        chunks: usize,
    },
    /// Load: 1,000 frontends, 100 runtimes with turns in flight, a burst
    /// of 10,000 inputs (each sent twice) and a frontend that stops reading,
    /// against the built-in mock Letta server.
    Load(load::LoadArgs),
    /// The turn's cost side by side: the same scripted turns through Letta
    /// Code's official client to the reference app-server and the daemon,
    /// on a Letta server and on their local backends.
    Turn(turn::TurnArgs),
    /// The desktop surface: terminal output latency, and grep_in_files on
    /// a generated tree beside the `rg` binary.
    Desktop(desktop::DesktopArgs),
    /// Serves the do-nothing floor server on a port (used by `run`).
    #[command(hide = true)]
    FloorServer {
        #[arg(long)]
        port: u16,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The letta-daemon binary [default: next to letta-bench].
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// Start-ups to time.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Measured round trips per transport.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    #[arg(long, default_value_t = 1_000)]
    warmup: usize,
    /// Command line of a Letta Code app-server to compare with; `{port}` is
    /// replaced by a free port, e.g.
    /// "letta server --listen ws://127.0.0.1:{port} --backend local".
    #[arg(long)]
    reference_cmd: Option<String>,
    /// Start-ups to time for the reference (it is slow).
    #[arg(long, default_value_t = 5)]
    reference_runs: usize,
    /// The unpacked Letta Code package (tests/tools/letta-code-client.sh prints where), to
    /// also measure `/ws` through its official Node client.
    #[arg(long)]
    node_client: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Latency {
            url,
            socket,
            requests,
            warmup,
        } => {
            let target = match (url, socket) {
                (_, Some(path)) => Target::Socket(path),
                (Some(url), None) if url.trim_end_matches('/').ends_with("/rpc") => {
                    Target::Rpc(url)
                }
                (Some(url), None) => Target::Frames(url),
                (None, None) => bail!("pass --url or --socket"),
            };
            let summary = latency::measure(&target, requests, warmup).await?;
            println!("{}", latency_row(&format!("{target:?}"), &summary));
            Ok(())
        }
        Command::Load(args) => load::report(args).await,
        Command::Desktop(args) => desktop::report(args).await,
        Command::Turn(args) => turn::report(daemon_command(args.daemon.clone(), None)?, args).await,
        Command::Stream {
            daemon,
            daemon_wrapper,
            latency_chunks,
            fan_out_chunks,
            subscribers,
        } => {
            stream_report(
                daemon_command(daemon, daemon_wrapper.as_deref())?,
                latency_chunks,
                fan_out_chunks,
                &subscribers,
            )
            .await
        }
        Command::Local {
            daemon,
            daemon_wrapper,
            chunks_only,
            chunks,
            ttft_turns,
            turns,
            reference_cmd,
        } => {
            let daemon = daemon_command(daemon, daemon_wrapper.as_deref())?;
            if chunks_only {
                return local::chunks_report(daemon, chunks).await;
            }
            local::report(daemon, chunks, ttft_turns, turns, reference_cmd).await
        }
        Command::Acp {
            daemon,
            ctl,
            chunks,
        } => {
            let ctl = match ctl {
                Some(path) => path,
                None => std::env::current_exe()?.with_file_name("letta-ctl"),
            };
            bridge_report(daemon_command(daemon, None)?, &ctl, chunks).await
        }
        Command::FloorServer { port } => floor::serve(port).await,
    }
}

async fn run(args: RunArgs) -> Result<()> {
    let daemon = daemon_command(args.daemon.clone(), None)?;
    let scratch = tempfile::tempdir()?;

    println!("## letta-bench run\n");
    println!(
        "machine: {} cores; {} start-ups; {} round trips per transport after {} warm-up\n",
        cores(),
        args.runs,
        args.requests,
        args.warmup
    );

    // Start-up and idle memory.
    let mut startups = Vec::new();
    let mut rss = Vec::new();
    for run in 0..args.runs {
        let data_dir = scratch.path().join(format!("startup-{run}"));
        let (server, elapsed, _) = spawn_daemon(&daemon, &data_dir, &[]).await?;
        startups.push(elapsed);
        if run == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss.push(server.tree_rss()?);
        }
        server.stop()?;
    }
    let startup = Summary::of(&mut startups).context("no start-ups")?;

    // Latency, with one daemon.
    let data_dir = scratch.path().join("latency");
    let (server, _, port) = spawn_daemon(&daemon, &data_dir, &[]).await?;
    let socket = Target::Socket(data_dir.join("daemon.sock"));
    let rpc = Target::Rpc(format!("ws://127.0.0.1:{port}/rpc"));
    let frames_url = format!("ws://127.0.0.1:{port}/ws");
    let ours = [
        (
            "letta-daemon local socket (JSON-RPC)",
            latency::measure(&socket, args.requests, args.warmup).await?,
        ),
        (
            "letta-daemon /rpc (JSON-RPC over WebSocket)",
            latency::measure(&rpc, args.requests, args.warmup).await?,
        ),
        (
            "letta-daemon /ws (Letta Code frames)",
            latency::measure(
                &Target::Frames(frames_url.clone()),
                args.requests,
                args.warmup,
            )
            .await?,
        ),
    ];
    let loaded_rss = server.tree_rss()?;

    // The floor: a do-nothing WebSocket server in its own process.
    let floor_port = free_port()?;
    let bench = std::env::current_exe()?.display().to_string();
    let floor_args = vec![
        "floor-server".to_owned(),
        "--port".to_owned(),
        floor_port.to_string(),
    ];
    let floor_addr = std::net::SocketAddr::from(([127, 0, 0, 1], floor_port));
    let (floor_server, _) =
        Server::spawn(&bench, &floor_args, &[], &Readiness::Tcp(floor_addr)).await?;
    let floor_url = format!("ws://127.0.0.1:{floor_port}/ws");
    let floor = latency::measure(
        &Target::Frames(floor_url.clone()),
        args.requests,
        args.warmup,
    )
    .await?;

    // The reference, if asked for.
    let reference = match &args.reference_cmd {
        Some(command) => Some(measure_reference(command, &args, scratch.path()).await?),
        None => None,
    };

    println!("### Start-up (spawn to first 200 from /healthz)\n");
    println!("| server | runs | p50 ms | min ms | max ms |\n|---|---|---|---|---|");
    println!(
        "| letta-daemon | {} | {} | {} | {} |",
        startup.count,
        ms(startup.p50),
        ms(startup.min),
        ms(startup.max)
    );
    if let Some(reference) = &reference {
        let s = &reference.startup;
        println!(
            "| reference | {} | {} | {} | {} |",
            s.count,
            ms(s.p50),
            ms(s.min),
            ms(s.max)
        );
    }
    println!("\n### Memory (RSS of the process tree)\n");
    println!("| server | idle MiB | after the latency runs MiB |\n|---|---|---|");
    println!(
        "| letta-daemon | {} | {} |",
        mib(rss.first().copied().unwrap_or(0)),
        mib(loaded_rss)
    );
    if let Some(reference) = &reference {
        println!("| reference | {} | - |", mib(reference.idle_rss));
    }
    println!("\n### app_server_info round trip, letta-bench's Rust client\n");
    println!("| target | n | p50 µs | p90 µs | p99 µs | mean µs |\n|---|---|---|---|---|---|");
    for (name, summary) in &ours {
        println!("{}", latency_row(name, summary));
    }
    println!(
        "{}",
        latency_row("floor: do-nothing WebSocket server, same frames", &floor)
    );
    if let Some(reference) = &reference {
        println!(
            "{}",
            latency_row("reference /ws (Letta Code app-server)", &reference.frames)
        );
    }
    let ws = &ours[2].1;
    println!(
        "\n/ws p50 minus floor p50: {} µs",
        us(ws.p50.saturating_sub(floor.p50))
    );
    if let Some(reference) = &reference {
        println!(
            "reference /ws p50 / letta-daemon /ws p50: {:.2}x",
            reference.frames.p50.as_secs_f64() / ws.p50.as_secs_f64()
        );
    }

    if let Some(reference_dir) = &args.node_client {
        println!(
            "\n### app_server_info round trip, Letta Code's official Node client (AppServerClient.info())\n"
        );
        println!("| target | p50 ms | p99 ms |\n|---|---|---|");
        let node = |url: String| {
            let reference_dir = reference_dir.clone();
            let (requests, warmup) = (args.requests, args.warmup);
            async move { latency::measure_with_node(&url, &reference_dir, requests, warmup).await }
        };
        let (p50, p99) = node(frames_url).await?;
        println!("| letta-daemon /ws | {p50:.3} | {p99:.3} |");
        let (p50, p99) = node(floor_url).await?;
        println!("| floor | {p50:.3} | {p99:.3} |");
        if let Some(reference) = &reference
            && let Some(url) = &reference.url
        {
            let (p50, p99) = node(url.clone()).await?;
            println!("| reference /ws | {p50:.3} | {p99:.3} |");
        }
    }

    drop(floor_server);
    server.stop()?;
    if let Some(reference) = reference
        && let Some(server) = reference.server
    {
        server.stop()?;
    }
    Ok(())
}

struct ReferenceFigures {
    startup: Summary,
    idle_rss: u64,
    frames: Summary,
    /// Left running for the Node client pass.
    server: Option<Server>,
    url: Option<String>,
}

async fn measure_reference(
    command: &str,
    args: &RunArgs,
    scratch: &std::path::Path,
) -> Result<ReferenceFigures> {
    let home = scratch.join("reference-home");
    std::fs::create_dir_all(&home)?;
    let envs = vec![("HOME".to_owned(), home.display().to_string())];
    let spawn = |port: u16| spawn_reference(command, port, &envs);
    let mut startups = Vec::new();
    let mut idle_rss = 0;
    for run in 0..args.reference_runs.max(1) {
        let port = free_port()?;
        let (server, elapsed) = spawn(port).await?;
        startups.push(elapsed);
        if run == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            idle_rss = server.tree_rss()?;
        }
        server.stop()?;
    }
    let port = free_port()?;
    let (server, _) = spawn(port).await?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let frames = latency::measure(&Target::Frames(url.clone()), args.requests, args.warmup).await?;
    Ok(ReferenceFigures {
        startup: Summary::of(&mut startups).context("no reference start-ups")?,
        idle_rss,
        frames,
        server: Some(server),
        url: Some(url),
    })
}

/// The daemon binary: the given path, or the one next to letta-bench.
/// The command line that runs the daemon: the wrapper's words (e.g.
/// `valgrind --tool=callgrind`), then the binary.
pub(crate) fn daemon_command(given: Option<PathBuf>, wrapper: Option<&str>) -> Result<Vec<String>> {
    let daemon = match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("letta-daemon"),
    };
    if !daemon.is_file() {
        bail!(
            "no letta-daemon at {} (build it, or pass --daemon)",
            daemon.display()
        );
    }
    let mut command: Vec<String> = wrapper
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    command.push(daemon.display().to_string());
    Ok(command)
}

async fn stream_report(
    daemon: Vec<String>,
    latency_chunks: usize,
    fan_out_chunks: usize,
    subscribers: &[usize],
) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let data_dir = scratch.path().join("stream");
    let start = |letta_url: String| async move {
        let envs = [("LETTA_BASE_URL".to_owned(), letta_url)];
        let (server, _, port) = spawn_daemon(&daemon, &data_dir, &envs).await?;
        Ok((server, format!("ws://127.0.0.1:{port}")))
    };
    let (figures, server) =
        stream::measure(start, latency_chunks, subscribers, fan_out_chunks).await?;
    // A clean stop lets a wrapper (callgrind) write its figures.
    server.stop()?;
    println!("## letta-bench stream\n");
    println!(
        "machine: {} cores; persistence on (SQLite WAL, one transaction per chunk)\n",
        cores()
    );
    println!(
        "### Added latency per chunk (mock server hands a chunk to HTTP -> subscriber reads its frame)\n"
    );
    println!("| chunks | p50 µs | p90 µs | p99 µs | max µs |\n|---|---|---|---|---|");
    let l = &figures.latency;
    println!(
        "| {} | {} | {} | {} | {} |",
        l.count,
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.max)
    );
    println!("\n### stream_delta fan-out (chunks sent as fast as possible)\n");
    println!("| subscribers | chunks | events delivered/s | chunks/s |\n|---|---|---|---|");
    for (subscribers, chunks, delivered, produced) in &figures.fan_out {
        println!("| {subscribers} | {chunks} | {delivered:.0} | {produced:.0} |");
    }
    Ok(())
}

async fn bridge_report(daemon: Vec<String>, ctl: &std::path::Path, chunks: usize) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let data_dir = scratch.path().join("acp");
    let start = |letta_url: String| async move {
        let envs = [("LETTA_BASE_URL".to_owned(), letta_url)];
        let (server, _, port) = spawn_daemon(&daemon, &data_dir, &envs).await?;
        Ok((server, format!("ws://127.0.0.1:{port}"), data_dir.clone()))
    };
    let (figures, server) = acp::measure(start, ctl, chunks).await?;
    server.stop()?;
    println!("## letta-bench acp\n");
    println!(
        "machine: {} cores; chunks 1 ms apart from the mock Letta server\n",
        cores()
    );
    println!(
        "| per chunk | count | p50 µs | p90 µs | p99 µs | max µs |\n|---|---|---|---|---|---|"
    );
    for (what, figure) in [
        (
            "added by the bridge (daemon subscriber -> ACP client)",
            &figures.added,
        ),
        (
            "end to end (mock -> daemon -> bridge -> ACP client)",
            &figures.end_to_end,
        ),
    ] {
        println!(
            "| {what} | {} | {} | {} | {} | {} |",
            figure.count,
            us(figure.p50),
            us(figure.p90),
            us(figure.p99),
            us(figure.max)
        );
    }
    Ok(())
}

/// Starts the daemon on a free loopback port and waits until `/healthz`
/// answers; returns it, the time that took and the port.
pub(crate) async fn spawn_daemon(
    daemon: &[String],
    data_dir: &std::path::Path,
    envs: &[(String, String)],
) -> Result<(Server, Duration, u16)> {
    let port = free_port()?;
    let (program, wrapped) = daemon.split_first().context("no daemon command")?;
    let mut args = wrapped.to_vec();
    args.extend([
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--listen".to_owned(),
        format!("ws://127.0.0.1:{port}"),
        "--log".to_owned(),
        "warn".to_owned(),
    ]);
    let ready = Readiness::Http(format!("http://127.0.0.1:{port}/healthz"));
    let (server, elapsed) = Server::spawn(program, &args, envs, &ready).await?;
    Ok((server, elapsed, port))
}

fn latency_row(name: &str, summary: &Summary) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {} |",
        summary.count,
        us(summary.p50),
        us(summary.p90),
        us(summary.p99),
        us(summary.mean)
    )
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}
