//! Monitors: background scripts the agent started with `Monitor`, whose
//! output lines come back to it as events. Events start a turn when the
//! agent is idle; while it is busy they gather into one message, delivered
//! when it is idle again. At most [`BURST`] messages go out at once, then
//! one per [`REFILL`]; a monitor whose output overflows for
//! [`FLOOD_LIMIT`] is stopped and the agent told why.
//!
//! Monitors are stored while they run: after a daemon restart each one is
//! started again within its timeout, or reported as ended — never lost.

use std::sync::Weak;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::Runtime;
use crate::store::{MonitorRow, StoreError};
use crate::tools::ToolOutput;
use crate::tools::monitor::{self, BATCH_WINDOW, MAX_EVENT_CHARS, MonitorEvent, MonitorSpec};
use crate::util::{lock, now_millis};

/// Event messages that may go out back to back.
const BURST: u32 = 10;
/// How often the allowance of messages grows by one.
const REFILL: Duration = Duration::from_secs(2);
/// A monitor whose undelivered output overflows for this long is stopped.
const FLOOD_LIMIT: Duration = Duration::from_secs(30);
/// Events waiting for delivery, across monitors.
pub(super) const EVENT_QUEUE: usize = 64;

impl Runtime {
    /// Runs a `Monitor` call (already allowed). Keyed by the call: running
    /// it again after a crash starts nothing more.
    pub(crate) async fn run_monitor_call(
        &self,
        tool_call_id: &str,
        input: &Map<String, Value>,
    ) -> Result<ToolOutput, StoreError> {
        let (description, command, timeout) = match monitor::parse(input) {
            Ok(parsed) => parsed,
            Err(error) => return Ok(ToolOutput::error(format!("Monitor: {error}"))),
        };
        let row = MonitorRow {
            id: format!("monitor-{}", tool_call_id.trim_start_matches("call_")),
            runtime_id: self.id,
            description,
            command,
            cwd: lock(&self.state).cwd.clone(),
            started_at: now_millis(),
            timeout_ms: timeout.map(|timeout| timeout.as_millis() as i64),
        };
        if self.jobs.get(&row.id).is_some() {
            return Ok(ToolOutput::error(format!("{} is already started", row.id)));
        }
        self.store.monitor_started(&row).await?;
        if let Err(error) = self.start_monitor(&row, timeout) {
            self.store.monitor_ended(&row.id).await?;
            return Ok(ToolOutput::error(format!("Monitor: {error}")));
        }
        let lifetime = match timeout {
            Some(timeout) => format!("for at most {} s", timeout.as_secs()),
            None => "until you stop it with TaskStop".to_owned(),
        };
        Ok(ToolOutput::ok(format!(
            "Monitor {} started ({lifetime}). Each burst of output lines reaches you as an \
             event, in a message of its own; events are not the user's words. Keep working: do \
             not wait or poll for them. Its output is also kept in {}.",
            row.id,
            self.monitor_output(&row.id).display()
        )))
    }

    fn monitor_output(&self, id: &str) -> std::path::PathBuf {
        self.tool_output_dir.join(format!("{id}.log"))
    }

    fn start_monitor(&self, row: &MonitorRow, timeout: Option<Duration>) -> Result<(), String> {
        let spec = MonitorSpec {
            id: row.id.clone(),
            description: row.description.clone(),
            command: row.command.clone(),
            cwd: row.cwd.clone().into(),
            timeout,
            output_file: self.monitor_output(&row.id),
        };
        monitor::start(&spec, &self.jobs, self.monitor_events.clone())
    }

    /// Starts again the monitors that ran when the daemon stopped, for
    /// what is left of their timeout; tells the agent of those whose
    /// timeout passed meanwhile, or that cannot start.
    pub(super) async fn restore_monitors(&self) {
        let rows = match self.store.running_monitors(self.id).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the monitors to restart");
                return;
            }
        };
        for row in rows {
            if self.jobs.get(&row.id).is_some() {
                continue;
            }
            let left = row
                .timeout_ms
                .map(|timeout| row.started_at + timeout - now_millis());
            let ended = match left {
                Some(left) if left <= 0 => {
                    Some("reached its timeout while the daemon was stopped".to_owned())
                }
                _ => {
                    let timeout = left.map(|left| Duration::from_millis(left as u64));
                    match self.start_monitor(&row, timeout) {
                        Ok(()) => {
                            tracing::info!(monitor = %row.id, "monitor restarted");
                            None
                        }
                        Err(error) => Some(format!(
                            "could not be started again after the daemon restarted: {error}"
                        )),
                    }
                }
            };
            let Some(how) = ended else { continue };
            if let Err(err) = self.store.monitor_ended(&row.id).await {
                tracing::warn!(error = %err, "cannot forget an ended monitor");
            }
            let text = format!(
                "<system-reminder>\nYour monitor {} (\"{}\") {how}. Start it again if you still \
                 need it.\n</system-reminder>",
                row.id, row.description
            );
            let client_message_id = format!("cm-{}-ended", row.id);
            if let Err(err) = self.accept_daemon_message(text, client_message_id).await {
                tracing::warn!(monitor = %row.id, error = %err, "cannot tell the agent a monitor ended");
            }
        }
    }

    /// Forgets the monitors that ended other than by the daemon stopping,
    /// so a restart does not start them again; `forgotten` keeps the ids
    /// already forgotten.
    pub(super) async fn forget_ended_monitors(
        &self,
        forgotten: &mut std::collections::HashSet<String>,
    ) {
        let jobs = self.jobs.list();
        forgotten.retain(|id| jobs.iter().any(|job| job.id == *id));
        for job in jobs {
            let ended = job.kind == "monitor"
                && job.status != "running"
                && job.ended_by != Some("shutdown");
            if ended && !forgotten.contains(&job.id) {
                match self.store.monitor_ended(&job.id).await {
                    Ok(()) => {
                        forgotten.insert(job.id);
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot forget an ended monitor"),
                }
            }
        }
    }

    /// No turn running or waiting: a message now starts one at once.
    fn is_idle(&self) -> bool {
        let state = lock(&self.state);
        state.running.is_none() && state.queue.is_empty()
    }
}

/// Events not delivered yet, per monitor in the order they first spoke.
#[derive(Default)]
struct Pending {
    monitors: Vec<PendingMonitor>,
}

struct PendingMonitor {
    id: String,
    description: String,
    text: String,
    /// Events that did not fit.
    cut: usize,
    overflowing_since: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.monitors.is_empty()
    }

    /// Adds an event; the id of its monitor if that has overflowed for too
    /// long.
    fn add(&mut self, event: MonitorEvent) -> Option<String> {
        let index = match self.monitors.iter().position(|m| m.id == event.monitor_id) {
            Some(index) => index,
            None => {
                self.monitors.push(PendingMonitor {
                    id: event.monitor_id,
                    description: event.description,
                    text: String::new(),
                    cut: 0,
                    overflowing_since: None,
                });
                self.monitors.len() - 1
            }
        };
        let monitor = &mut self.monitors[index];
        if monitor.text.len() + event.text.len() > 2 * MAX_EVENT_CHARS {
            monitor.cut += 1;
            let since = *monitor.overflowing_since.get_or_insert_with(Instant::now);
            return (since.elapsed() >= FLOOD_LIMIT).then(|| monitor.id.clone());
        }
        if !monitor.text.is_empty() {
            monitor.text.push('\n');
        }
        monitor.text.push_str(&event.text);
        None
    }

    /// The message carrying every pending event; empties the list.
    fn take_message(&mut self) -> String {
        let mut text = String::from(
            "<system-reminder>\nEvents from your monitors (output of scripts you started, not \
             messages from the user):\n",
        );
        for monitor in self.monitors.drain(..) {
            text.push_str(&format!(
                "\n[{} \"{}\"]\n{}\n",
                monitor.id, monitor.description, monitor.text
            ));
            if monitor.cut > 0 {
                text.push_str(&format!(
                    "[{} more events cut: the output comes faster than you can read it; \
                     narrow the script's filter]\n",
                    monitor.cut
                ));
            }
        }
        text.push_str("</system-reminder>");
        text
    }
}

/// How many messages may go out now.
struct Allowance {
    tokens: u32,
    refilled_at: Instant,
}

impl Allowance {
    fn new() -> Allowance {
        Allowance {
            tokens: BURST,
            refilled_at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let grown = (self.refilled_at.elapsed().as_millis() / REFILL.as_millis()) as u32;
        if grown > 0 {
            self.tokens = (self.tokens + grown).min(BURST);
            self.refilled_at += REFILL * grown;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// Delivers the runtime's monitor events to the agent, for as long as the
/// runtime exists.
pub(super) async fn deliver_events(
    runtime: Weak<Runtime>,
    mut events: mpsc::Receiver<MonitorEvent>,
) {
    let mut pending = Pending::default();
    let mut allowance = Allowance::new();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let Some(flooding) = pending.add(event) {
                        let Some(runtime) = runtime.upgrade() else { return };
                        tracing::warn!(monitor = %flooding, "monitor stopped: too much output");
                        let _ = runtime.jobs.stop(&flooding).await;
                    }
                }
                None => return,
            },
            // Undelivered events: look again at whether the agent is idle.
            () = tokio::time::sleep(BATCH_WINDOW), if !pending.is_empty() => {}
        }
        if pending.is_empty() {
            continue;
        }
        let Some(runtime) = runtime.upgrade() else {
            return;
        };
        if !runtime.is_idle() || !allowance.take() {
            continue;
        }
        let text = pending.take_message();
        let client_message_id = format!("cm-monitor-{:016x}", fastrand::u64(..));
        if let Err(err) = runtime.accept_daemon_message(text, client_message_id).await {
            tracing::warn!(error = %err, "cannot deliver monitor events");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, text: &str) -> MonitorEvent {
        MonitorEvent {
            monitor_id: id.into(),
            description: format!("{id} lines"),
            text: text.into(),
        }
    }

    #[test]
    fn events_gather_per_monitor_into_one_bounded_message() {
        let mut pending = Pending::default();
        assert!(pending.add(event("m1", "a")).is_none());
        pending.add(event("m2", "x"));
        pending.add(event("m1", "b"));
        for _ in 0..10 {
            pending.add(event("m2", &"y".repeat(MAX_EVENT_CHARS)));
        }
        let message = pending.take_message();
        assert!(message.contains("[m1 \"m1 lines\"]\na\nb\n"), "{message}");
        assert!(message.contains("[m2 \"m2 lines\"]\nx\n"), "{message}");
        assert!(message.contains("[9 more events cut"), "{message}");
        assert!(message.len() < 3 * MAX_EVENT_CHARS, "{}", message.len());
        assert!(pending.is_empty());
    }

    #[test]
    fn the_allowance_allows_a_burst_then_refills() {
        let mut allowance = Allowance::new();
        for _ in 0..BURST {
            assert!(allowance.take());
        }
        assert!(!allowance.take());
        allowance.refilled_at -= REFILL * 3;
        assert!(allowance.take() && allowance.take() && allowance.take());
        assert!(!allowance.take());
    }
}
