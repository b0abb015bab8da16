//! Copies of what the store holds about a runtime that every status update
//! or tool call repeats — its pending approvals, its scheduled wakes, its
//! session rules — kept while the version of their table says they are
//! still true. A turn sends three status updates and asks for the rules
//! twice per tool call; each was a round trip or two to SQLite.

use std::sync::Mutex;

use letta_protocol::PendingControlRequest;
use serde_json::Value;

use crate::util::lock;

#[derive(Default)]
pub(super) struct Copies {
    pub(super) approvals: Copy<Vec<PendingControlRequest>>,
    pub(super) wakes: Copy<Value>,
    pub(super) session_rules: Copy<Vec<String>>,
}

/// A value read at a table version.
pub(super) struct Copy<T>(Mutex<Option<(u64, T)>>);

impl<T> Default for Copy<T> {
    fn default() -> Self {
        Copy(Mutex::new(None))
    }
}

impl<T: Clone> Copy<T> {
    /// The copy when it was read at `version`, else what `read` reads now.
    /// `version` must be read before calling this, so a change that lands
    /// during `read` leaves the copy older than the table's next version.
    pub(super) async fn get<E, F>(&self, version: u64, read: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        if let Some((held, value)) = &*lock(&self.0)
            && *held == version
        {
            return Ok(value.clone());
        }
        let value = read.await?;
        *lock(&self.0) = Some((version, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_is_read_again_once_its_version_moved() {
        let copy = Copy::<u32>::default();
        let read = |value| async move { Ok::<_, ()>(value) };
        assert_eq!(copy.get(1, read(10)).await, Ok(10));
        assert_eq!(
            copy.get(1, read(11)).await,
            Ok(10),
            "same version: the copy"
        );
        assert_eq!(copy.get(2, read(12)).await, Ok(12), "a newer version reads");
        assert_eq!(copy.get(2, async { Err(()) }).await, Ok(12));
        assert_eq!(
            copy.get(3, async { Err(()) }).await,
            Err(()),
            "errors are not kept"
        );
        assert_eq!(copy.get(3, read(13)).await, Ok(13));
    }
}
