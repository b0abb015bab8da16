//! The built-in client-side tools: the agent's hands on this machine.
//!
//! Each tool is declared once in [`BUILTIN`] (name, description, argument
//! schema, what it may touch) and executed by [`execute`]. Names and
//! argument schemas follow Letta Code's, so an agent behaves the same with
//! either. Permission checks happen before a tool runs (see
//! [`crate::permissions`]); the tools themselves only validate arguments.

mod apply_patch;
mod bash;
mod capped_file;
mod catalog;
mod exec;
mod files;
pub mod jobs;
pub mod monitor;
mod parameters;
mod paths;
pub mod plan;
mod search;
pub mod skills;
mod view_image;
pub mod wake;
pub mod worktree;

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub use apply_patch::{FileChange, Patch, PatchError};
pub use catalog::{
    AUTO_TOOLSET, AgentModel, BUILTIN, BuiltinTool, Effect, IMAGE_TOOL, QUESTION_TOOL, TOOLSETS,
    builtin, is_toolset, offered, resolve_toolset, toolset_names,
};
pub use exec::ExecSessions;
pub use files::{edit_args, edited, write_atomically};
pub use jobs::{BackgroundJob, BackgroundJobs};
pub use paths::{absolute, home_dir, normalize, resolve};
pub use search::is_hidden;

/// Where a tool runs.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The runtime's working directory; relative paths start here.
    pub cwd: PathBuf,
    /// Where output too long to return is kept.
    pub output_dir: PathBuf,
    /// The tool call, for naming output files.
    pub tool_call_id: String,
    /// Cancelled when the turn is aborted.
    pub cancel: CancellationToken,
    /// Background processes of this runtime.
    pub jobs: BackgroundJobs,
    /// Live `exec_command` sessions of this runtime.
    pub sessions: ExecSessions,
    /// Files searches leave out (denied to reading).
    pub hidden: globset::GlobSet,
    /// The agent whose skills `Skill` looks for, besides the shared ones.
    pub agent_id: Option<String>,
}

#[cfg(test)]
impl ToolContext {
    /// A context working in `dir`, for the tools' tests.
    pub(crate) fn in_dir(dir: &std::path::Path) -> ToolContext {
        ToolContext {
            cwd: dir.to_path_buf(),
            output_dir: dir.join("out"),
            tool_call_id: "call-1".into(),
            cancel: CancellationToken::new(),
            jobs: BackgroundJobs::default(),
            sessions: ExecSessions::default(),
            hidden: globset::GlobSet::empty(),
            agent_id: None,
        }
    }
}

/// What a tool returns to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The result as text: all of it, or (with `content`) what people see.
    pub text: String,
    pub is_error: bool,
    /// Content parts sent to the model instead of `text` (an image).
    pub content: Option<Value>,
}

impl ToolOutput {
    pub fn ok(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: false,
            content: None,
        }
    }

    pub fn error(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: true,
            content: None,
        }
    }

    pub fn status(&self) -> crate::store::ResultStatus {
        if self.is_error {
            crate::store::ResultStatus::Error
        } else {
            crate::store::ResultStatus::Success
        }
    }
}

/// Runs built-in tool `name` with the agent's arguments.
pub async fn execute(name: &str, input: &Map<String, Value>, context: &ToolContext) -> ToolOutput {
    let result = match name {
        "Bash" => match arguments(name, input) {
            Ok(args) => bash::run(args, context).await,
            Err(err) => Err(err),
        },
        "exec_command" => match arguments(name, input) {
            Ok(args) => exec::exec_command(args, context).await,
            Err(err) => Err(err),
        },
        "write_stdin" => match arguments(name, input) {
            Ok(args) => exec::write_stdin(args, context).await,
            Err(err) => Err(err),
        },
        "Read" => run_blocking(name, input, context, files::read).await,
        "Write" => run_blocking(name, input, context, files::write).await,
        "Edit" => run_blocking(name, input, context, files::edit).await,
        "ApplyPatch" => run_blocking(name, input, context, apply_patch::run).await,
        "Glob" => run_blocking(name, input, context, search::glob).await,
        "Grep" => run_blocking(name, input, context, search::grep).await,
        "LS" => run_blocking(name, input, context, search::ls).await,
        "Skill" => run_blocking(name, input, context, skills::run).await,
        "ViewImage" => run_blocking(name, input, context, view_image::run).await,
        "TaskStop" => match arguments::<TaskStopArgs>(name, input) {
            Ok(args) => context.jobs.stop(&args.task_id).await.map(ToolOutput::ok),
            Err(err) => Err(err),
        },
        other => Err(format!("{other} is not a built-in tool")),
    };
    result.unwrap_or_else(ToolOutput::error)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskStopArgs {
    task_id: String,
}

/// Parses a tool's arguments, with an error the agent can act on.
pub(crate) fn arguments<T: DeserializeOwned>(
    name: &str,
    input: &Map<String, Value>,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(input.clone()))
        .map_err(|err| format!("Invalid arguments for {name}: {err}"))
}

/// Runs a file-system tool on the blocking pool: they read and walk files.
async fn run_blocking<T, F>(
    name: &str,
    input: &Map<String, Value>,
    context: &ToolContext,
    tool: F,
) -> Result<ToolOutput, String>
where
    T: DeserializeOwned + Send + 'static,
    F: FnOnce(T, &ToolContext) -> Result<ToolOutput, String> + Send + 'static,
{
    let args = arguments::<T>(name, input)?;
    let context = context.clone();
    tokio::task::spawn_blocking(move || tool(args, &context))
        .await
        .map_err(|err| format!("{name} stopped unexpectedly: {err}"))?
}

/// A non-negative whole-number argument (JSON numbers may arrive as floats).
pub(crate) fn whole_number(value: Option<f64>, name: &str) -> Result<Option<usize>, String> {
    match value {
        None => Ok(None),
        Some(number) if number >= 0.0 && number.fract() == 0.0 => Ok(Some(number as usize)),
        Some(number) => Err(format!("{name} must be a whole number ≥ 0, not {number}")),
    }
}

/// Cuts `text` to at most `max` characters, on a character boundary.
pub(crate) fn truncate_chars(text: &str, max: usize) -> (&str, bool) {
    match text.char_indices().nth(max) {
        Some((index, _)) => (&text[..index], true),
        None => (text, false),
    }
}
