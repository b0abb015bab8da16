//! Load: many frontends on one daemon, many runtimes with turns in flight,
//! a burst of inputs across them, and one frontend that stops reading.
//!
//! Against the built-in mock Letta server: every runtime has an owner
//! connection that sends its share of the burst (each input twice, as a
//! frontend unsure of its first send would: the repeat must start
//! nothing), watchers attached to the runtimes read every event, and one
//! more frontend attached to the first runtime reads nothing until the
//! burst is over, then must receive every event of it, in order, from its
//! cursor. Reported: throughput, event delivery latency (the mock hands a
//! chunk to HTTP -> a watcher reads its frame), the daemon's peak RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{Summary, ms};
use crate::stream::{
    Mock, Script, Socket, chunk_latency, send, serve_mock, until, until_within, user_input,
};

#[derive(clap::Args)]
pub struct LoadArgs {
    /// The letta-daemon binary [default: next to letta-bench].
    #[arg(long)]
    daemon: Option<std::path::PathBuf>,
    /// Frontend connections in all: owners, watchers and the stalled one.
    #[arg(long, default_value_t = 1_000)]
    connections: usize,
    /// Runtimes, each with turns in flight.
    #[arg(long, default_value_t = 100)]
    runtimes: usize,
    /// Inputs in the burst, spread over the runtimes.
    #[arg(long, default_value_t = 10_000)]
    inputs: usize,
    /// Chunks per run, 1 ms apart.
    #[arg(long, default_value_t = 10)]
    chunks: usize,
}

/// No frame for this long means the daemon is stuck.
const SILENCE: Duration = Duration::from_secs(120);
/// A watcher with nothing to read for this long after the burst is done.
const QUIET: Duration = Duration::from_millis(500);

pub async fn report(args: LoadArgs) -> Result<()> {
    if args.runtimes == 0 || args.connections < args.runtimes + 1 {
        bail!("--connections must exceed --runtimes (owners, watchers and one stalled frontend)");
    }
    let daemon = crate::daemon_command(args.daemon.clone(), None)?;
    let mock = Mock::new(Script {
        chunks: args.chunks,
        interval: Duration::from_millis(1),
    });
    let letta_url = serve_mock(mock.clone()).await?;
    let scratch = tempfile::tempdir()?;
    let envs = [("LETTA_BASE_URL".to_owned(), letta_url)];
    let (server, _, port) =
        crate::spawn_daemon(&daemon, &scratch.path().join("load"), &envs).await?;
    let url = format!("ws://127.0.0.1:{port}/ws");

    let mut owners = Vec::with_capacity(args.runtimes);
    let mut runtimes = Vec::with_capacity(args.runtimes);
    for index in 0..args.runtimes {
        let mut socket = connect(&url).await?;
        send(
            &mut socket,
            json!({"type": "runtime_start", "request_id": format!("start-{index}"),
            "create_agent": {"body": {}}, "create_conversation": {}}),
        )
        .await?;
        let started = until(&mut socket, "runtime_start_response").await?;
        runtimes.push(started["runtime"].clone());
        owners.push(socket);
    }
    let mut stalled = attach_with_small_buffer(port, &runtimes[0]).await?;
    let watchers = args.connections - args.runtimes - 1;
    let stop = Arc::new(AtomicBool::new(false));
    let mut watching = Vec::with_capacity(watchers);
    for index in 0..watchers {
        let socket = attach(&url, &runtimes[index % args.runtimes], &format!("w{index}")).await?;
        watching.push(tokio::spawn(watch(socket, mock.epoch, stop.clone())));
    }

    // The burst: every owner sends its share at once, each input twice.
    let per_runtime = args.inputs.div_ceil(args.runtimes);
    let started = Instant::now();
    let pid = server.pid();
    let rss_peak = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        }
    });
    let mut owning = Vec::with_capacity(args.runtimes);
    for (index, (socket, runtime)) in owners.into_iter().zip(runtimes.clone()).enumerate() {
        owning.push(tokio::spawn(own(socket, runtime, index, per_runtime)));
    }
    let mut last_seq_of_first = 0;
    for (index, owner) in owning.into_iter().enumerate() {
        let last_seq = owner.await??;
        if index == 0 {
            last_seq_of_first = last_seq;
        }
    }
    // One run per input and per closing input: a repeat started none.
    let runs = mock.runs();
    let expected = (per_runtime + 1) * args.runtimes;
    if runs != expected {
        bail!("{runs} runs started for {expected} distinct inputs");
    }
    let elapsed = started.elapsed();
    let rss_during = rss(pid);
    stop.store(true, Ordering::Relaxed);
    let peak = rss_peak.await?.max(rss_during);

    let mut samples = Vec::new();
    let mut delivered = 0usize;
    for watcher in watching {
        let (events, latencies) = watcher.await??;
        delivered += events;
        samples.extend(latencies);
    }
    let latency = Summary::of(&mut samples).context("no chunks reached the watchers")?;

    // The frontend that read nothing now reads what reached it; cut for not
    // reading (past the daemon's --slow-client-timeout), it resumes from
    // its cursor and reads the rest.
    let caught_up = Instant::now();
    let (mut seqs, cut) = read_until_seq(&mut stalled, last_seq_of_first).await?;
    let before_cut = seqs.len();
    if let Some(reason) = &cut {
        let mut resumed = connect(&url).await?;
        let after = seqs.last().copied().unwrap_or(0);
        let sync = json!({"type": "sync", "request_id": "resume", "runtime": runtimes[0],
            "after_event_seq": after});
        send(&mut resumed, sync).await?;
        let (rest, cut_again) = read_until_seq(&mut resumed, last_seq_of_first).await?;
        if cut_again.is_some() {
            bail!("the resumed frontend was cut too: {reason}");
        }
        seqs.extend(rest);
    }
    let in_order = seqs.windows(2).all(|pair| pair[1] == pair[0] + 1);
    let caught_up = caught_up.elapsed();
    let rss_after = rss(pid);
    server.stop()?;

    let inputs = per_runtime * args.runtimes;
    println!("## letta-bench load\n");
    println!(
        "machine: {} cores; {} connections ({} owners, {watchers} watchers, 1 not reading), {} runtimes, {inputs} inputs (each sent twice), {} chunks per run\n",
        crate::cores(),
        args.connections,
        args.runtimes,
        args.runtimes,
        args.chunks
    );
    println!("| figure | value |\n|---|---|");
    println!(
        "| burst: inputs to every turn finished | {:.1} s, {:.0} turns/s |",
        elapsed.as_secs_f64(),
        inputs as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| events delivered to watchers | {delivered}, {:.0}/s |",
        delivered as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| delivery latency of a chunk (p50 / p99 / max) | {} / {} / {} ms |",
        ms(latency.p50),
        ms(latency.p99),
        ms(latency.max)
    );
    println!(
        "| daemon RSS: peak during the burst / after | {:.1} / {:.1} MiB |",
        mib(peak),
        mib(rss_after)
    );
    let resumed = match &cut {
        Some(reason) => format!(
            "{before_cut} before it was cut (\"{reason}\"), the rest after resuming from its cursor"
        ),
        None => "never cut".to_owned(),
    };
    println!(
        "| the frontend that stopped reading | {} events caught up in {:.2} s, {}; {resumed} |",
        seqs.len(),
        caught_up.as_secs_f64(),
        if in_order {
            "in order, none missing"
        } else {
            "OUT OF ORDER"
        }
    );
    println!(
        "| repeated inputs that started a run | none ({runs} runs for {expected} distinct inputs) |"
    );
    if !in_order {
        bail!("the stalled frontend's events were not consecutive");
    }
    Ok(())
}

async fn connect(url: &str) -> Result<Socket> {
    let (socket, _) = tokio_tungstenite::connect_async_with_config(
        url,
        Some(letta_client::websocket_config()),
        true,
    )
    .await
    .with_context(|| format!("cannot connect to {url}"))?;
    Ok(socket)
}

/// A connection attached to `runtime`, its start answered.
async fn attach(url: &str, runtime: &Value, name: &str) -> Result<Socket> {
    attached(connect(url).await?, runtime, name).await
}

/// `socket`, once its `runtime_start` for `runtime` is answered.
async fn attached(mut socket: Socket, runtime: &Value, name: &str) -> Result<Socket> {
    let start = json!({"type": "runtime_start", "request_id": format!("attach-{name}"),
        "agent_id": runtime["agent_id"], "conversation_id": runtime["conversation_id"]});
    send(&mut socket, start).await?;
    until(&mut socket, "runtime_start_response").await?;
    Ok(socket)
}

/// An owner's part of the burst: its inputs, each sent twice, written
/// while it reads (a frontend that only wrote would stall its own
/// connection), then one closing input once all of them finished. Returns
/// the `event_seq` of the closing turn's end.
async fn own(socket: Socket, runtime: Value, owner: usize, inputs: usize) -> Result<u64> {
    let (mut sink, mut frames) = socket.split();
    let writer = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            for turn in 0..inputs {
                let frame = Message::Text(input(&runtime, owner, turn).to_string().into());
                sink.send(frame.clone()).await?;
                sink.send(frame).await?;
            }
            anyhow::Ok(sink)
        })
    };
    for _ in 0..inputs {
        until_within(&mut frames, "turn_finished", SILENCE).await?;
    }
    let mut sink = writer.await??;
    let closing = input(&runtime, owner, inputs).to_string();
    sink.send(Message::Text(closing.into())).await?;
    let finished = until_within(&mut frames, "turn_finished", SILENCE).await?;
    Ok(finished["event_seq"].as_u64().unwrap_or(0))
}

/// The frontend that stops reading, attached to `runtime` with a 4 KiB
/// receive buffer, so that what it does not read backs up into the daemon
/// rather than into this machine's socket buffers.
async fn attach_with_small_buffer(port: u16, runtime: &Value) -> Result<Socket> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await?;
    let (socket, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://127.0.0.1:{port}/ws"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(letta_client::websocket_config()),
    )
    .await?;
    attached(socket, runtime, "stalled").await
}

fn input(runtime: &Value, owner: usize, turn: usize) -> Value {
    let id = format!("load-{}-{owner}-{turn}", std::process::id());
    user_input(runtime, "load", &id)
}

/// Counts a watcher's events and the delivery latency of every tenth
/// chunk, until told to stop and quiet.
async fn watch(
    mut socket: Socket,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Result<(usize, Vec<Duration>)> {
    let mut events = 0;
    let mut latencies = Vec::new();
    let mut last_frame = Instant::now();
    loop {
        let message = match tokio::time::timeout(QUIET, socket.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(_) => bail!("a watcher's connection ended"),
            Err(_) if stop.load(Ordering::Relaxed) => return Ok((events, latencies)),
            Err(_) if last_frame.elapsed() > SILENCE => {
                bail!("a watcher received nothing for {SILENCE:?}")
            }
            Err(_) => continue,
        };
        last_frame = Instant::now();
        let received = epoch.elapsed();
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str())?;
        if frame["event_seq"].is_u64() {
            events += 1;
        }
        if frame["type"] == "stream_delta"
            && frame["delta"]["message_type"] == "assistant_message"
            && events % 10 == 0
        {
            latencies.push(chunk_latency(&frame["delta"], received));
        }
    }
}

/// The `event_seq`s a connection receives until it has `last`, or until
/// the daemon cuts it (then also the reason it gave).
async fn read_until_seq(socket: &mut Socket, last: u64) -> Result<(Vec<u64>, Option<String>)> {
    let mut seqs = Vec::new();
    let mut reason = None;
    while seqs.last().is_none_or(|seq| *seq < last) {
        let message = tokio::time::timeout(SILENCE, socket.next())
            .await
            .context("the stalled frontend received nothing")?;
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => match reason {
                Some(reason) => return Ok((seqs, Some(reason))),
                None => bail!("the stalled frontend's connection ended without a reason"),
            },
            Some(Ok(_)) => continue,
            Some(Err(err)) => bail!("the stalled frontend's connection failed: {err}"),
        };
        let frame: Value = serde_json::from_str(text.as_str())?;
        if let Some(seq) = frame["event_seq"].as_u64() {
            seqs.push(seq);
        } else if frame["type"] == letta_protocol::frames::ERROR_FRAME_TYPE {
            reason = frame["error"].as_str().map(str::to_owned);
        }
    }
    Ok((seqs, None))
}

fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.split_whitespace().next())
                .and_then(|value| value.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
