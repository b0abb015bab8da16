//! Crash points for the durability tests: with `LETTA_DAEMON_CRASH_AT=<point>`
//! the daemon aborts, as a `kill -9` would, when it reaches that point; with
//! `LETTA_DAEMON_STALL_AT=<point>` it waits there two seconds, so a test can
//! close a connection mid-request. Unset (always, outside tests) they do
//! nothing.

use std::sync::OnceLock;

/// Whether the environment variable `var` (read once, into `chosen`) names
/// `point`.
fn names(chosen: &OnceLock<Option<String>>, var: &str, point: &str) -> bool {
    chosen.get_or_init(|| std::env::var(var).ok()).as_deref() == Some(point)
}

/// Aborts the process here if the environment names this point.
pub fn crash_point(point: &str) {
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    if names(&CHOSEN, "LETTA_DAEMON_CRASH_AT", point) {
        tracing::error!(point, "crashing on purpose (LETTA_DAEMON_CRASH_AT)");
        std::process::abort();
    }
}

/// Waits two seconds here if the environment names this point.
pub async fn stall_point(point: &str) {
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    if names(&CHOSEN, "LETTA_DAEMON_STALL_AT", point) {
        tracing::warn!(point, "stalling on purpose (LETTA_DAEMON_STALL_AT)");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
