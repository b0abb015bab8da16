//! Small helpers every layer may use; this module imports nothing of the
//! daemon's own.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// in-memory state stays usable, and durable state is in the database anyway.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ids of the processes running now, from `/proc` (Linux; elsewhere
/// none).
pub fn process_ids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// The time now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The `id` field of an object the backend returned.
pub fn id_of(value: &serde_json::Value) -> Option<String> {
    value
        .get("id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// The time now, as RFC 3339 with milliseconds (UTC).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
