//! Reading, writing and editing one file for the human. Writes go through a
//! temporary file and a rename, so a crash leaves the old content or the
//! new, never half of either.

use base64::Engine as _;
use letta_protocol::{EditFileResult, FileEncoding, ReadFileResult, WriteFileResult};

use super::{Confined, WorkspaceError};
use crate::tools::write_atomically;

/// Largest file `read_file` returns, in bytes.
pub const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;

fn not_a_directory(file: &Confined) -> Result<(), WorkspaceError> {
    if file.path.is_dir() {
        return Err(WorkspaceError::Invalid(format!(
            "{} is a directory",
            file.path.display()
        )));
    }
    Ok(())
}

fn read_bytes(file: &Confined) -> Result<Vec<u8>, WorkspaceError> {
    not_a_directory(file)?;
    let path = &file.path;
    let size = std::fs::metadata(path)
        .map_err(|err| WorkspaceError::Failed(format!("cannot read {}: {err}", path.display())))?
        .len();
    if size > MAX_READ_BYTES {
        return Err(WorkspaceError::Invalid(format!(
            "{} is {size} bytes; read_file returns files up to {MAX_READ_BYTES} bytes",
            path.display()
        )));
    }
    std::fs::read(path)
        .map_err(|err| WorkspaceError::Failed(format!("cannot read {}: {err}", path.display())))
}

fn utf8(file: &Confined, bytes: Vec<u8>) -> Result<String, WorkspaceError> {
    String::from_utf8(bytes).map_err(|_| {
        WorkspaceError::Invalid(format!(
            "{} is not UTF-8 text; read it with encoding \"base64\"",
            file.path.display()
        ))
    })
}

/// `read_file`.
pub fn read_file(
    file: &Confined,
    asked: &str,
    encoding: FileEncoding,
) -> Result<ReadFileResult, WorkspaceError> {
    file.check_read()?;
    let bytes = read_bytes(file)?;
    let content = match encoding {
        FileEncoding::Utf8 => utf8(file, bytes)?,
        FileEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
    };
    Ok(ReadFileResult {
        path: asked.to_owned(),
        content: Some(content),
        encoding,
        success: true,
    })
}

/// `write_file`: the whole content, parent directories created.
pub fn write_file(
    file: &Confined,
    asked: &str,
    content: &str,
) -> Result<WriteFileResult, WorkspaceError> {
    file.check_write()?;
    not_a_directory(file)?;
    write_atomically(&file.path, content.as_bytes()).map_err(WorkspaceError::Failed)?;
    Ok(WriteFileResult {
        path: asked.to_owned(),
        success: true,
    })
}

/// What `edit_file` changes.
pub struct Edit<'a> {
    pub old_string: &'a str,
    pub new_string: &'a str,
    pub replace_all: bool,
    pub expected_replacements: Option<u64>,
}

/// `edit_file`: exact text replaced; with neither `replace_all` nor
/// `expected_replacements`, the text must occur once.
pub fn edit_file(
    file: &Confined,
    asked: &str,
    edit: &Edit<'_>,
) -> Result<EditFileResult, WorkspaceError> {
    file.check_write()?;
    if edit.old_string.is_empty() {
        return Err(WorkspaceError::Invalid(
            "old_string is empty; use write_file to replace a whole file".to_owned(),
        ));
    }
    let content = utf8(file, read_bytes(file)?)?;
    let found = content.matches(edit.old_string).count() as u64;
    let wanted = match (edit.expected_replacements, edit.replace_all) {
        (Some(expected), _) => expected,
        (None, true) => found.max(1),
        (None, false) => 1,
    };
    if found == 0 {
        return Err(WorkspaceError::Invalid(format!(
            "old_string was not found in {asked}; it must match exactly, whitespace included"
        )));
    }
    if found != wanted {
        return Err(WorkspaceError::Invalid(format!(
            "old_string occurs {found} times in {asked}, not {wanted}; nothing was changed"
        )));
    }
    let start = content.find(edit.old_string).unwrap_or(0);
    let start_line = content[..start].matches('\n').count() as u64 + 1;
    let edited = content.replace(edit.old_string, edit.new_string);
    write_atomically(&file.path, edited.as_bytes()).map_err(WorkspaceError::Failed)?;
    Ok(EditFileResult {
        file_path: asked.to_owned(),
        message: Some(format!(
            "Replaced {found} occurrence{} in {asked}",
            if found == 1 { "" } else { "s" }
        )),
        replacements: found,
        start_line: Some(start_line),
        success: true,
    })
}
