//! `Monitor`: a background script whose standard output lines are events
//! for the agent. Checked and started here: lines arriving within
//! [`BATCH_WINDOW`] of each other become one event; the runtime delivers
//! events to the agent (see `runtime::monitors`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bash::shell;
use super::capped_file::CappedFile;
use super::{BackgroundJob, BackgroundJobs, arguments, truncate_chars};

const MIN_TIMEOUT_MS: f64 = 1_000.0;
const MAX_TIMEOUT_MS: f64 = 3_600_000.0;
const DEFAULT_TIMEOUT_MS: f64 = 300_000.0;
const MAX_DESCRIPTION_CHARS: usize = 200;
/// Lines this close together are one event.
pub const BATCH_WINDOW: Duration = Duration::from_millis(200);
/// Characters of one line in an event; the rest is cut.
const MAX_LINE_CHARS: usize = 500;
/// Characters of one event; later lines of the batch are counted, not kept.
pub const MAX_EVENT_CHARS: usize = 3_000;
/// Bytes of a monitor's output file.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A monitor to start (or start again after a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSpec {
    pub id: String,
    pub description: String,
    pub command: String,
    pub cwd: PathBuf,
    /// `None`: persistent, runs until stopped.
    pub timeout: Option<Duration>,
    pub output_file: PathBuf,
}

/// Lines of one monitor's output, for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    pub monitor_id: String,
    pub description: String,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorArgs {
    description: String,
    #[serde(default)]
    timeout_ms: Option<f64>,
    #[serde(default)]
    persistent: Option<bool>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    ws: Option<Value>,
}

/// What the call asks for: description, command, timeout (`None` when
/// persistent).
pub fn parse(input: &Map<String, Value>) -> Result<(String, String, Option<Duration>), String> {
    let args: MonitorArgs = arguments("Monitor", input)?;
    let description = args.description.trim().to_owned();
    if description.is_empty() {
        return Err("Monitor needs a description: it names every event".to_owned());
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "a monitor's description is at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    if args.ws.is_some() {
        return Err(
            "Monitor's ws source is not supported here: run a command that prints \
                    each message as a line (websocat, a small script) instead"
                .to_owned(),
        );
    }
    let command = args.command.unwrap_or_default();
    if command.trim().is_empty() {
        return Err("Monitor needs a command whose output lines are the events".to_owned());
    }
    if command
        .chars()
        .any(|c| c != '\t' && c != '\n' && c.is_control())
    {
        return Err(
            "the command holds control characters that would be hidden from the user".to_owned(),
        );
    }
    let persistent = args.persistent.unwrap_or(false);
    let timeout_ms = args.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    let in_range = timeout_ms.is_finite()
        && timeout_ms >= MIN_TIMEOUT_MS
        && (persistent || timeout_ms <= MAX_TIMEOUT_MS);
    if !in_range {
        return Err(format!(
            "timeout_ms must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} (or set persistent)"
        ));
    }
    let timeout = (!persistent).then(|| Duration::from_millis(timeout_ms as u64));
    Ok((description, command, timeout))
}

/// Starts the monitor's script, listed with the runtime's jobs; its events
/// go to `events`.
pub fn start(
    spec: &MonitorSpec,
    jobs: &BackgroundJobs,
    events: mpsc::Sender<MonitorEvent>,
) -> Result<(), String> {
    if !spec.cwd.is_dir() {
        return Err(format!("{} is not a directory", spec.cwd.display()));
    }
    if let Some(dir) = spec.output_file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.output_file)
        .map_err(|err| format!("cannot open {}: {err}", spec.output_file.display()))?;
    let mut command = shell(&spec.command, &spec.cwd);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot start bash: {err}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut job = BackgroundJob::running(
        spec.id.clone(),
        "monitor",
        &spec.command,
        child.id(),
        spec.output_file.clone(),
    );
    job.description = Some(spec.description.clone());
    // A monitor outlives the turn that started it: only its timeout,
    // TaskStop and the daemon stopping end it.
    jobs.start(job, child, spec.timeout, CancellationToken::new())?;
    let file = Output::new(file);
    if let Some(stderr) = stderr {
        tokio::spawn(copy_stderr(stderr, file.clone()));
    }
    if let Some(stdout) = stdout {
        let event = MonitorEvent {
            monitor_id: spec.id.clone(),
            description: spec.description.clone(),
            text: String::new(),
        };
        tokio::spawn(pump(stdout, file, event, events));
    }
    Ok(())
}

/// The monitor's output file, capped at [`MAX_FILE_BYTES`], shared by its
/// two streams.
#[derive(Clone)]
struct Output(std::sync::Arc<std::sync::Mutex<CappedFile>>);

impl Output {
    fn new(file: std::fs::File) -> Output {
        Output(std::sync::Arc::new(std::sync::Mutex::new(CappedFile::new(
            file,
            MAX_FILE_BYTES,
        ))))
    }

    fn append(&self, bytes: &[u8]) {
        crate::util::lock(&self.0).write(bytes);
    }
}

async fn copy_stderr(mut stderr: impl AsyncRead + Unpin, file: Output) {
    let mut chunk = vec![0u8; 8 * 1024];
    while let Ok(read) = stderr.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        file.append(b"[stderr] ");
        file.append(&chunk[..read]);
    }
}

/// Reads the script's lines, keeps them in the file, and sends each batch
/// of lines as one event.
async fn pump(
    mut stdout: impl AsyncRead + Unpin,
    file: Output,
    template: MonitorEvent,
    events: mpsc::Sender<MonitorEvent>,
) {
    let mut lines = Lines::default();
    let mut chunk = vec![0u8; 8 * 1024];
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let flush_at = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = stdout.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    file.append(&chunk[..read]);
                    lines.push(&chunk[..read]);
                    if deadline.is_none() && lines.has_batch() {
                        deadline = Some(tokio::time::Instant::now() + BATCH_WINDOW);
                    }
                }
            },
            () = flush_at => {
                deadline = None;
                if !send(&mut lines, &template, &events).await {
                    return;
                }
            }
        }
    }
    lines.finish();
    send(&mut lines, &template, &events).await;
}

async fn send(
    lines: &mut Lines,
    template: &MonitorEvent,
    events: &mpsc::Sender<MonitorEvent>,
) -> bool {
    let Some(text) = lines.take_batch() else {
        return true;
    };
    let event = MonitorEvent {
        text,
        ..template.clone()
    };
    events.send(event).await.is_ok()
}

/// Splits output into trimmed, bounded lines and gathers them into a batch.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    batch: String,
    /// Lines of the batch past [`MAX_EVENT_CHARS`].
    cut: usize,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.add(&line);
            } else if self.partial.len() < MAX_LINE_CHARS * 4 {
                self.partial.push(byte);
            }
        }
    }

    fn finish(&mut self) {
        let line = std::mem::take(&mut self.partial);
        self.add(&line);
    }

    fn add(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let (kept, was_cut) = truncate_chars(line, MAX_LINE_CHARS);
        let line = if was_cut {
            format!("{kept}…")
        } else {
            kept.to_owned()
        };
        if self.batch.len() + line.len() + 1 > MAX_EVENT_CHARS {
            self.cut += 1;
            return;
        }
        if !self.batch.is_empty() {
            self.batch.push('\n');
        }
        self.batch.push_str(&line);
    }

    fn has_batch(&self) -> bool {
        !self.batch.is_empty() || self.cut > 0
    }

    fn take_batch(&mut self) -> Option<String> {
        if !self.has_batch() {
            return None;
        }
        let mut batch = std::mem::take(&mut self.batch);
        let cut = std::mem::take(&mut self.cut);
        if cut > 0 {
            batch.push_str(&format!("\n[{cut} more lines cut]"));
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn arguments_are_checked() {
        let ok = parse(&input(
            json!({"description": "errors", "command": "tail -f x"}),
        ))
        .unwrap();
        assert_eq!(ok.2, Some(Duration::from_secs(300)));
        let persistent = parse(&input(
            json!({"description": "d", "command": "c", "persistent": true, "timeout_ms": 1e9}),
        ))
        .unwrap();
        assert_eq!(persistent.2, None);
        for bad in [
            json!({"description": " ", "command": "c"}),
            json!({"description": "d"}),
            json!({"description": "d", "command": "c", "timeout_ms": 10}),
            json!({"description": "d", "command": "c", "timeout_ms": 4e6}),
            json!({"description": "d", "command": "echo \u{1b}[2Jhidden"}),
            json!({"description": "d", "ws": {"url": "ws://x"}}),
            json!({"description": "d", "command": "c", "other": 1}),
        ] {
            assert!(parse(&input(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_are_trimmed_bounded_and_batched() {
        let mut lines = Lines::default();
        lines.push(b"  first  \n\n sec");
        lines.push(b"ond\n");
        lines.push(&[b'x'; 5000]);
        lines.push(b"\nlast without newline");
        lines.finish();
        let batch = lines.take_batch().unwrap();
        let got: Vec<&str> = batch.lines().collect();
        assert_eq!(got[..2], ["first", "second"]);
        assert_eq!(got[2].chars().count(), MAX_LINE_CHARS + 1);
        assert_eq!(got[3], "last without newline");
        assert!(lines.take_batch().is_none());

        for _ in 0..100 {
            lines.push(&[b'y'; 100]);
            lines.push(b"\n");
        }
        let batch = lines.take_batch().unwrap();
        assert!(batch.len() < MAX_EVENT_CHARS + 40, "{}", batch.len());
        assert!(batch.ends_with("more lines cut]"), "{batch}");
    }

    async fn next(events: &mut mpsc::Receiver<MonitorEvent>) -> Option<MonitorEvent> {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event or the end within 10 s")
    }

    #[tokio::test]
    async fn a_script_s_lines_arrive_as_batched_events() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = BackgroundJobs::default();
        let (sender, mut events) = mpsc::channel(8);
        let spec = MonitorSpec {
            id: "monitor-1".into(),
            description: "ticks".into(),
            command: "echo one; echo two; sleep 1; echo three >&2; echo four".into(),
            cwd: dir.path().to_path_buf(),
            timeout: Some(Duration::from_secs(30)),
            output_file: dir.path().join("out/monitor-1.log"),
        };
        start(&spec, &jobs, sender).unwrap();
        let first = next(&mut events).await.unwrap();
        assert_eq!(first.text, "one\ntwo");
        assert_eq!(first.description, "ticks");
        let second = next(&mut events).await.unwrap();
        assert_eq!(second.text, "four", "stderr is not an event");
        assert!(next(&mut events).await.is_none(), "the script ended");
        let job = jobs
            .ended("monitor-1", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!((job.kind, job.exit_code), ("monitor", Some(0)));
        let file = std::fs::read_to_string(&spec.output_file).unwrap();
        assert!(file.contains("[stderr] three"), "{file}");
    }
}
