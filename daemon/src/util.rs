//! Small helpers every layer may use; this module imports nothing of the
//! daemon's own.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// in-memory state stays usable, and durable state is in the database anyway.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The time now, as RFC 3339 with milliseconds (UTC).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
