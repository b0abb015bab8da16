//! Turns the daemon starts itself, and background work that comes back:
//! when a process the agent left running (a `run_in_background` command, an
//! `exec_command` session nobody is reading, a monitor) ends on its own or
//! times out, the agent is told in a turn of its own — started at once if
//! it is idle, queued otherwise.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};

use serde_json::{Map, Value};

use super::Runtime;
use crate::tools::BackgroundJob;

/// Bytes of a finished command's output shown with the notice.
const TAIL_BYTES: u64 = 2_000;

impl Runtime {
    /// Tells the agent about jobs that ended on their own since the last
    /// call; `told` keeps the ids already told.
    pub(crate) async fn tell_ended_jobs(&self, told: &mut HashSet<String>) {
        let jobs = self.jobs.list();
        // Ids no longer listed never come back.
        told.retain(|id| jobs.iter().any(|job| job.id == *id));
        for job in jobs {
            if !job.ended_unasked() || !told.insert(job.id.clone()) {
                continue;
            }
            // A session's process can be seen gone before its last output
            // is read from the terminal into the file the notice quotes.
            if let Some(session) = self.sessions.get(&job.id) {
                session.drain().await;
            }
            let client_message_id = format!("cm-{}-{:08x}", job.id, fastrand::u32(..));
            if let Err(err) = self
                .accept_daemon_message(notice(&job), client_message_id)
                .await
            {
                tracing::warn!(job = %job.id, error = %err, "cannot tell the agent a command ended");
            }
        }
    }
}

/// Emits device status whenever a background command starts or ends, and
/// tells the agent when one ended on its own, for as long as the runtime
/// exists.
pub(super) async fn report_background_jobs(runtime: std::sync::Weak<Runtime>) {
    let Some(mut changes) = runtime.upgrade().map(|runtime| runtime.jobs.changes()) else {
        return;
    };
    let mut told = HashSet::new();
    let mut forgotten = HashSet::new();
    while changes.changed().await.is_ok() {
        let Some(runtime) = runtime.upgrade() else {
            return;
        };
        let draft = runtime.device_status_draft().await;
        if let Err(err) = runtime.log.emit(draft).await {
            tracing::warn!(error = %err, "cannot report a background command");
        }
        runtime.tell_ended_jobs(&mut told).await;
        runtime.forget_ended_monitors(&mut forgotten).await;
    }
}

impl Runtime {
    /// Starts (or queues) a turn whose message comes from the daemon, not a
    /// person: a fired wake, an ended command. `client_message_id` makes it
    /// idempotent like any input.
    pub(crate) async fn accept_daemon_message(
        &self,
        text: String,
        client_message_id: String,
    ) -> Result<letta_protocol::InputAccepted, super::RuntimeError> {
        let message = letta_protocol::CreateMessage {
            messages: vec![letta_protocol::MessageCreate {
                role: "user".to_owned(),
                content: Value::String(text),
                client_message_id: Some(client_message_id),
                extra: Map::new(),
            }],
            ..Default::default()
        };
        self.accept_input(message, None).await
    }
}

fn notice(job: &BackgroundJob) -> String {
    let how = match (job.ended_by, job.exit_code) {
        (Some("timeout"), _) => "was stopped at its timeout".to_owned(),
        (_, Some(code)) => format!("exited with code {code}"),
        _ => "ended by a signal".to_owned(),
    };
    if job.kind == "monitor" {
        let how = match (job.ended_by, job.exit_code) {
            (Some("timeout"), _) => "reached its timeout".to_owned(),
            (_, Some(code)) => format!("ended: its script exited with code {code}"),
            _ => "ended: its script was killed by a signal".to_owned(),
        };
        return format!(
            "<system-reminder>\nYour monitor {} (\"{}\") {how}. Start it again if you still \
             need it; its output is in {}.\n</system-reminder>",
            job.id,
            job.description.as_deref().unwrap_or_default(),
            job.output_file.display()
        );
    }
    let what = match job.kind {
        "exec" => "The command session",
        _ => "The background command",
    };
    format!(
        "<system-reminder>\n{what} {} (`{}`) {how}. Its whole output is in {}; \
         it ends with:\n```\n{}\n```\n</system-reminder>",
        job.id,
        job.command,
        job.output_file.display(),
        tail(&job.output_file)
    )
}

/// The end of a file, on a line boundary where it was cut.
fn tail(path: &std::path::Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return "(the output file is gone)".to_owned();
    };
    let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return "(the output cannot be read)".to_owned();
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = match (start > 0, text.find('\n')) {
        (true, Some(newline)) => &text[newline + 1..],
        _ => &text,
    };
    if text.trim().is_empty() {
        "(no output)".to_owned()
    } else {
        text.trim_end().to_owned()
    }
}
