//! Turns waiting for a frontend: for the answer to an external tool call,
//! or for a human's decision on an approval.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::util::lock;

/// Turns waiting for answers, by request id. The answers themselves are
/// stored first; this only wakes the waiting turn.
#[derive(Default)]
pub struct Waiters {
    waiters: Mutex<HashMap<String, oneshot::Sender<Value>>>,
}

impl Waiters {
    pub fn waiter(&self, request_id: &str) -> oneshot::Receiver<Value> {
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(request_id.to_owned(), sender);
        receiver
    }

    pub fn answered(&self, request_id: &str, answer: Value) {
        if let Some(waiter) = lock(&self.waiters).remove(request_id) {
            let _ = waiter.send(answer);
        }
    }

    pub fn forget(&self, request_id: &str) {
        lock(&self.waiters).remove(request_id);
    }
}
