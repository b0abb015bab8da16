//! Crash points for the durability tests: with `LETTA_DAEMON_CRASH_AT=<point>`
//! the daemon aborts, as a `kill -9` would, when it reaches that point. Unset
//! (always, outside tests) it does nothing.

use std::sync::OnceLock;

/// Aborts the process here if the environment names this point.
pub fn crash_point(point: &str) {
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| std::env::var("LETTA_DAEMON_CRASH_AT").ok());
    if chosen.as_deref() == Some(point) {
        tracing::error!(point, "crashing on purpose (LETTA_DAEMON_CRASH_AT)");
        std::process::abort();
    }
}
