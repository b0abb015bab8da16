//! The desktop surface: terminal output latency, and find-in-files on a
//! large tree beside the `rg` binary.
//!
//! * Terminal: a program in a daemon terminal prints its wall-clock time
//!   every 2 ms; the frontend reads each line's `terminal_output` and takes
//!   the difference (program writes to the PTY -> frontend has the frame).
//! * grep_in_files: a generated tree (files × lines of code-like text,
//!   a `.gitignore`d folder among them, in a git repository) searched for
//!   a literal, any case,
//!   2 lines of context, through the daemon's local socket; and the same
//!   search by `rg --json -F -i -C 2`, as the reference app-server runs it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use letta_client::RpcClient;
use letta_protocol::{GrepInFilesParams, SetBootWorkingDirectoryParams, methods};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::spawn_daemon;
use crate::stats::{Summary, ms};
use crate::stream::{send, until};

#[derive(clap::Args)]
pub struct DesktopArgs {
    /// The letta-daemon binary [default: next to letta-bench].
    #[arg(long)]
    pub daemon: Option<PathBuf>,
    /// Lines the terminal program prints, 2 ms apart.
    #[arg(long, default_value_t = 2_000)]
    pub lines: usize,
    /// Files in the generated tree.
    #[arg(long, default_value_t = 20_000)]
    pub files: usize,
    /// Lines per file.
    #[arg(long, default_value_t = 200)]
    pub file_lines: usize,
    /// Searches timed on each side.
    #[arg(long, default_value_t = 10)]
    pub searches: usize,
    /// The `rg` binary to compare with [default: `rg` on PATH].
    #[arg(long, default_value = "rg")]
    pub rg: PathBuf,
}

pub async fn report(args: DesktopArgs) -> Result<()> {
    let daemon = crate::daemon_command(args.daemon.clone(), None)?;
    let scratch = tempfile::tempdir()?;
    let tree = scratch.path().join("tree");
    let (bytes, matching) = generate(&tree, args.files, args.file_lines)?;
    let envs = vec![("SHELL".to_owned(), "/bin/sh".to_owned())];
    let (server, _, port) = spawn_daemon(&daemon, &scratch.path().join("data"), &envs).await?;
    let socket = scratch.path().join("data/daemon.sock");

    let terminal = terminal_latency(port, args.lines).await?;
    println!(
        "## Terminal output latency ({} lines, 2 ms apart)",
        terminal.count
    );
    println!();
    println!("| | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| program writes to the PTY -> frontend reads terminal_output | {} | {} | {} | {} |",
        ms(terminal.p50),
        ms(terminal.p90),
        ms(terminal.p99),
        ms(terminal.max)
    );
    println!();

    let client = RpcClient::connect_socket(&socket).await?;
    client
        .call::<methods::SetBootWorkingDirectory>(&SetBootWorkingDirectoryParams {
            cwd: tree.display().to_string(),
        })
        .await?;
    let mut daemon_times = Vec::new();
    let mut found = 0;
    for _ in 0..args.searches {
        let started = Instant::now();
        let result = client
            .call::<methods::GrepInFiles>(&GrepInFilesParams {
                query: "NEEDLE_value".to_owned(),
                is_regex: None,
                case_sensitive: None,
                whole_word: None,
                glob: None,
                cwd: None,
                max_results: None,
                context_lines: Some(2),
            })
            .await?;
        daemon_times.push(started.elapsed());
        found = result.total_matches;
    }
    let mut rg_times = Vec::new();
    let mut rg_found = None;
    for _ in 0..args.searches {
        let started = Instant::now();
        let output = match tokio::process::Command::new(&args.rg)
            .args(["--json", "-F", "-i", "-C", "2", "-e", "NEEDLE_value", "--"])
            .arg(&tree)
            .output()
            .await
        {
            Ok(output) => output,
            Err(err) => {
                eprintln!("rg not run ({}): {err}", args.rg.display());
                break;
            }
        };
        rg_times.push(started.elapsed());
        rg_found = Some(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|line| line.starts_with(r#"{"type":"match""#))
                .count(),
        );
    }
    server.stop()?;
    if found != matching as u64 {
        bail!("grep_in_files found {found} matching lines, the tree has {matching}");
    }
    println!(
        "## Find in files: {} files, {:.1} MiB, {matching} matching lines",
        args.files,
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!();
    println!("| | searches | p50 ms | min ms | max ms | matches |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, times: &mut Vec<Duration>, matches: String| -> Result<()> {
        let summary = Summary::of(times).context("no searches")?;
        println!(
            "| {name} | {} | {} | {} | {} | {matches} |",
            summary.count,
            ms(summary.p50),
            ms(summary.min),
            ms(summary.max)
        );
        Ok(())
    };
    row(
        "daemon `grep_in_files` (local socket, 500 returned)",
        &mut daemon_times,
        found.to_string(),
    )?;
    if let Some(rg_found) = rg_found {
        row(
            "`rg --json -F -i -C 2` (process, all printed)",
            &mut rg_times,
            rg_found.to_string(),
        )?;
    }
    Ok(())
}

/// Writes the tree: `files` files of `lines` lines in nested folders, one
/// line in 500 holding the needle, and an ignored folder with more of it.
/// Returns the bytes written and the matching lines outside the ignored
/// folder.
fn generate(root: &Path, files: usize, lines: usize) -> Result<(u64, usize)> {
    let mut bytes = 0u64;
    let mut matching = 0;
    std::fs::create_dir_all(root.join("ignored"))?;
    std::fs::write(root.join(".gitignore"), "ignored/\n")?;
    for file in 0..files {
        let dir = root.join(format!("src/m{:03}/n{:02}", file % 100, (file / 100) % 20));
        std::fs::create_dir_all(&dir)?;
        let mut text = String::with_capacity(lines * 48);
        for line in 0..lines {
            if (file * lines + line).is_multiple_of(500) {
                text.push_str(&format!(
                    "    let needle_VALUE = compute({file}, {line});\n"
                ));
                matching += 1;
            } else {
                text.push_str(&format!(
                    "    let value_{line} = other_{file}(x, {line}) + 1;\n"
                ));
            }
        }
        bytes += text.len() as u64;
        std::fs::write(dir.join(format!("f{file}.rs")), &text)?;
    }
    std::fs::write(root.join("ignored/big.rs"), "NEEDLE_value\n".repeat(1000))?;
    // A repository, as workspaces are: `rg` honours `.gitignore` only in
    // one (the daemon in any folder).
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .arg(root)
        .status()
        .context("cannot run git")?;
    if !status.success() {
        bail!("git init failed in {}", root.display());
    }
    Ok((bytes, matching))
}

/// Latency of each printed line, from the program's write to the frame.
async fn terminal_latency(port: u16, lines: usize) -> Result<Summary> {
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await?;
    send(
        &mut socket,
        json!({ "type": "terminal_spawn", "terminal_id": "bench", "cols": 200, "rows": 50 }),
    )
    .await?;
    until(&mut socket, "terminal_spawned").await?;
    let program = format!(
        "python3 -c 'import time\nfor i in range({lines}):\n    print(\"T\", time.time_ns(), flush=True)\n    time.sleep(0.002)\nprint(\"DONE\", flush=True)'\n"
    );
    send(
        &mut socket,
        json!({ "type": "terminal_input", "terminal_id": "bench", "data": program }),
    )
    .await?;
    let mut samples = Vec::with_capacity(lines);
    let mut partial = String::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .context("no terminal output for 60 s")?
            .context("connection ended")??;
        let Message::Text(text) = message else {
            continue;
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let frame: Value = serde_json::from_str(text.as_str())?;
        if frame["type"] != "terminal_output" {
            continue;
        }
        partial.push_str(frame["data"].as_str().unwrap_or_default());
        let mut done = false;
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let line = line.trim();
            if line == "DONE" {
                done = true;
            }
            if let Some(stamp) = line
                .strip_prefix("T ")
                .and_then(|rest| rest.parse::<u128>().ok())
            {
                samples.push(Duration::from_nanos(
                    u64::try_from(now.saturating_sub(stamp)).unwrap_or(u64::MAX),
                ));
            }
        }
        if done {
            break;
        }
    }
    Summary::of(&mut samples).context("no lines timed")
}
