//! A file that keeps at most so many bytes: what a command prints past the
//! cap is read and dropped, so a runaway process cannot fill the disk.

use std::io::Write as _;

#[derive(Debug)]
pub(crate) struct CappedFile {
    /// `None` once a write failed: the rest is dropped too.
    file: Option<std::fs::File>,
    written: u64,
    limit: u64,
}

impl CappedFile {
    /// Appends to `file` (counting what it already holds) up to `limit`.
    pub fn new(file: std::fs::File, limit: u64) -> CappedFile {
        let written = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        CappedFile {
            file: Some(file),
            written,
            limit,
        }
    }

    /// Writes what fits under the cap.
    pub fn write(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else {
            return;
        };
        let room = usize::try_from(self.limit.saturating_sub(self.written)).unwrap_or(usize::MAX);
        let kept = &bytes[..bytes.len().min(room)];
        if kept.is_empty() {
            return;
        }
        if file.write_all(kept).is_err() {
            self.file = None;
            return;
        }
        self.written += kept.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stop_at_the_cap_counting_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(&path, "ab").unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut capped = CappedFile::new(file, 5);
        capped.write(b"cd");
        capped.write(b"efgh");
        capped.write(b"ij");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abcde");
    }
}
