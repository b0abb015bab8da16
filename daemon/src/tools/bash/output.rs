//! What a command printed: the head of each stream in memory, all of it in
//! an overflow file once it outgrows memory or the agent's share, and the
//! text the agent gets.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::tools::{ToolContext, ToolOutput, truncate_chars};

/// Characters of output returned to the agent; the rest goes to a file.
pub const MAX_OUTPUT_CHARS: usize = 30_000;
/// Bytes of each stream kept in memory; beyond it the stream goes to a file.
const MEMORY_BYTES: usize = 256 * 1024;
/// Bytes of each stream kept in its overflow file; the rest is read and
/// dropped, so a runaway command cannot fill the disk.
pub const MAX_SPILL_BYTES: u64 = 64 * 1024 * 1024;

/// How a command ended.
pub(super) enum Ending {
    Exited(Option<i32>),
    TimedOut,
    Aborted,
}

/// One output stream: its head in memory, all of it in a file once it
/// outgrows memory.
#[derive(Default)]
pub(super) struct Captured {
    head: Vec<u8>,
    total: u64,
    spilled_to: Option<PathBuf>,
    /// Bytes written to the overflow file.
    spilled: u64,
}

pub(super) fn spill_path(context: &ToolContext, stream: &str) -> PathBuf {
    context
        .output_dir
        .join(format!("{}.{stream}.txt", file_safe(&context.tool_call_id)))
}

pub(super) async fn capture(stream: Option<impl AsyncRead + Unpin>, spill_to: PathBuf) -> Captured {
    let mut captured = Captured::default();
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut spill: Option<tokio::fs::File> = None;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        captured.total += read as u64;
        if captured.head.len() + read <= MEMORY_BYTES && spill.is_none() {
            captured.head.extend_from_slice(chunk);
            continue;
        }
        if spill.is_none() && captured.spilled_to.is_none() {
            spill = open_spill(&spill_to, &captured.head).await;
            captured.spilled_to = spill.as_ref().map(|_| spill_to.clone());
            captured.spilled = captured.head.len() as u64;
        }
        if let Some(file) = spill.as_mut() {
            let room = usize::try_from(MAX_SPILL_BYTES.saturating_sub(captured.spilled))
                .unwrap_or(usize::MAX)
                .min(read);
            if room > 0
                && tokio::io::AsyncWriteExt::write_all(file, &chunk[..room])
                    .await
                    .is_ok()
            {
                captured.spilled += room as u64;
            }
        }
        let room = MEMORY_BYTES.saturating_sub(captured.head.len());
        captured.head.extend_from_slice(&chunk[..room.min(read)]);
    }
    if let Some(file) = spill.as_mut() {
        // tokio writes files in the background: wait until all of it is there.
        let _ = tokio::io::AsyncWriteExt::flush(file).await;
    }
    captured
}

async fn open_spill(path: &Path, head: &[u8]) -> Option<tokio::fs::File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.ok()?;
    }
    let mut file = tokio::fs::File::create(path).await.ok()?;
    tokio::io::AsyncWriteExt::write_all(&mut file, head)
        .await
        .ok()?;
    Some(file)
}

/// Output too long to return whole is kept whole in a file, even when it
/// fit in memory.
pub(super) async fn keep_overflow(captured: &mut Captured, path: PathBuf) {
    if captured.spilled_to.is_some() || captured.head.is_empty() {
        return;
    }
    if let Some(mut file) = open_spill(&path, &captured.head).await
        && tokio::io::AsyncWriteExt::flush(&mut file).await.is_ok()
    {
        captured.spilled = captured.head.len() as u64;
        captured.spilled_to = Some(path);
    }
}

pub(super) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .collect()
}

/// Both streams as the agent reads them, before cutting.
pub(super) fn shown_text(stdout: &Captured, stderr: &Captured) -> String {
    let out = String::from_utf8_lossy(&stdout.head);
    let err = String::from_utf8_lossy(&stderr.head);
    let mut text = out.trim_end_matches('\n').to_owned();
    if !err.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str("[stderr]\n");
        text.push_str(err.trim_end_matches('\n'));
    }
    text
}

/// The text the agent gets: `text` (from [`shown_text`]) cut to size, where
/// the rest is kept, and how the command ended.
pub(super) fn compose(
    text: &str,
    stdout: &Captured,
    stderr: &Captured,
    ending: &Ending,
    timeout_ms: u64,
) -> ToolOutput {
    let whole_kept = stdout.spilled_to.is_none() && stderr.spilled_to.is_none();
    let (shown, cut) = truncate_chars(text, MAX_OUTPUT_CHARS);
    let mut result = shown.to_owned();
    if cut || !whole_kept {
        result.push_str(&format!(
            "\n[output cut at {MAX_OUTPUT_CHARS} characters ({} bytes of stdout, {} of stderr)",
            stdout.total, stderr.total
        ));
        for (name, captured) in [("stdout", stdout), ("stderr", stderr)] {
            if let Some(path) = &captured.spilled_to {
                result.push_str(&format!("; full {name} in {}", path.display()));
                if captured.spilled < captured.total {
                    result.push_str(&format!(
                        " (its first {} bytes: the file is capped)",
                        captured.spilled
                    ));
                }
            }
        }
        result.push(']');
    }
    let is_error = match ending {
        Ending::Exited(Some(0)) => false,
        Ending::Exited(Some(code)) => {
            result.push_str(&format!("\n[exit code {code}]"));
            true
        }
        Ending::Exited(None) => {
            result.push_str("\n[exit status unknown]");
            true
        }
        Ending::TimedOut => {
            result.push_str(&format!(
                "\n[killed after {timeout_ms} ms: the command timed out]"
            ));
            true
        }
        Ending::Aborted => {
            result.push_str("\n[killed: the turn was aborted]");
            true
        }
    };
    if result.is_empty() {
        result.push_str("(no output)");
    }
    ToolOutput {
        text: result,
        is_error,
        content: None,
    }
}
