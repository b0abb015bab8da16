//! Request round trips: `app_server_info`, one at a time, over one connection.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use letta_client::{FrameClient, RpcClient};
use letta_protocol::AppServerInfoParams;
use letta_protocol::methods::AppServerInfo;
use serde_json::{Map, Value};

use crate::stats::Summary;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to send requests.
#[derive(Debug, Clone)]
pub enum Target {
    /// JSON-RPC over the local socket.
    Socket(PathBuf),
    /// JSON-RPC over a WebSocket (`.../rpc`).
    Rpc(String),
    /// Letta Code frames over a WebSocket (`.../ws`); works against any
    /// Letta Code-compatible app-server.
    Frames(String),
}

/// Measures `requests` sequential round trips after `warmup` unmeasured ones.
pub async fn measure(target: &Target, requests: usize, warmup: usize) -> Result<Summary> {
    let mut samples = Vec::with_capacity(requests);
    match target {
        Target::Socket(path) => {
            rpc_loop(
                RpcClient::connect_socket(path).await?,
                requests,
                warmup,
                &mut samples,
            )
            .await?
        }
        Target::Rpc(url) => {
            rpc_loop(
                RpcClient::connect_ws(url).await?,
                requests,
                warmup,
                &mut samples,
            )
            .await?
        }
        Target::Frames(url) => {
            frames_loop(
                &FrameClient::connect(url, None).await?,
                requests,
                warmup,
                &mut samples,
            )
            .await?
        }
    }
    Summary::of(&mut samples).context("no samples")
}

async fn rpc_loop(
    client: RpcClient,
    requests: usize,
    warmup: usize,
    samples: &mut Vec<Duration>,
) -> Result<()> {
    let params = AppServerInfoParams {};
    for i in 0..warmup + requests {
        let started = Instant::now();
        client.call::<AppServerInfo>(&params).await?;
        if i >= warmup {
            samples.push(started.elapsed());
        }
    }
    Ok(())
}

async fn frames_loop(
    client: &FrameClient,
    requests: usize,
    warmup: usize,
    samples: &mut Vec<Duration>,
) -> Result<()> {
    for i in 0..warmup + requests {
        let mut frame = Map::new();
        frame.insert("type".to_owned(), Value::from("app_server_info"));
        let started = Instant::now();
        let reply = client.request(frame, CALL_TIMEOUT).await?;
        let elapsed = started.elapsed();
        if reply.get("type").and_then(Value::as_str) != Some("app_server_info_response") {
            bail!("unexpected reply: {reply}");
        }
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    Ok(())
}

/// Runs Letta Code's official Node client against `url` for the same loop;
/// returns its p50 and p99 in milliseconds as the script reports them.
pub async fn measure_with_node(
    url: &str,
    reference_dir: &Path,
    requests: usize,
    warmup: usize,
) -> Result<(f64, f64)> {
    let script = tempfile::Builder::new().suffix(".mjs").tempfile()?;
    std::fs::write(script.path(), include_str!("node-latency.mjs"))?;
    let output = tokio::process::Command::new("node")
        .arg(script.path())
        .arg(url)
        .arg(reference_dir)
        .arg(requests.to_string())
        .arg(warmup.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .context("node client timed out")??;
    if !output.status.success() {
        bail!(
            "node client failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Value = serde_json::from_slice(&output.stdout)?;
    let field = |name: &str| {
        report
            .get(name)
            .and_then(Value::as_f64)
            .with_context(|| format!("no {name} in {report}"))
    };
    Ok((field("p50_ms")?, field("p99_ms")?))
}
