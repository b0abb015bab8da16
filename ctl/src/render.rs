//! Human output of a runtime's events: assistant text on stdout as it
//! streams, tool calls, results and approvals compactly on stderr, and a
//! spinner with the loop status when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use letta_protocol::{CanUseTool, DiffLineKind, DiffPreview, JsonObject, LoopStatus};
use serde_json::Value;

/// Longest tool summary or result line shown.
const SUMMARY_CHARS: usize = 100;

/// ANSI styling, off when the stream is not a terminal or `NO_COLOR` is set.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn for_stderr() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Style {
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }
}

pub struct Renderer {
    pub style: Style,
    spinner: Option<ProgressBar>,
    spinner_allowed: bool,
    /// The assistant message being streamed to stdout, if its line is open.
    open_message: Option<String>,
    /// Each subagent's status as last shown, by id.
    subagents: std::collections::HashMap<String, String>,
}

impl Renderer {
    pub fn new() -> Renderer {
        Renderer {
            style: Style::for_stderr(),
            spinner: None,
            spinner_allowed: std::io::stderr().is_terminal(),
            open_message: None,
            subagents: std::collections::HashMap::new(),
        }
    }

    /// Shows one event frame.
    pub fn event(&mut self, frame: &Value) {
        match frame["type"].as_str() {
            Some("stream_delta") => self.delta(&frame["delta"]),
            Some("update_loop_status") => self.loop_status(&frame["loop_status"]["status"]),
            Some("update_plan") => {
                self.end_line();
                let line = plan_line(&frame["plan"]);
                self.info(&self.style.dim(&line));
            }
            Some("update_subagent_state") => {
                for line in self.subagent_changes(&frame["subagents"]) {
                    self.end_line();
                    self.info(&self.style.dim(&line));
                }
            }
            Some("turn_finished") => {
                self.end_line();
                let reason = frame["stop_reason"].as_str().unwrap_or("?");
                if reason != "end_turn" {
                    let error = frame["error"]
                        .as_str()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    let text = format!("turn ended: {reason}{error}");
                    self.info(&self.style.red(&text));
                }
            }
            _ => {}
        }
    }

    /// A line for each subagent that is new or changed status since the
    /// last snapshot.
    fn subagent_changes(&mut self, subagents: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        for subagent in subagents.as_array().into_iter().flatten() {
            let id = subagent["subagent_id"].as_str().unwrap_or_default();
            let status = subagent["status"].as_str().unwrap_or("?");
            if self.subagents.get(id).is_some_and(|shown| shown == status) {
                continue;
            }
            self.subagents.insert(id.to_owned(), status.to_owned());
            let mut line = format!(
                "◆ subagent {} \"{}\": {status}",
                subagent["subagent_type"].as_str().unwrap_or("?"),
                subagent["description"].as_str().unwrap_or_default()
            );
            if let Some(conversation) = subagent["conversation_id"].as_str() {
                line.push_str(&format!(" ({conversation})"));
            }
            lines.push(line);
        }
        lines
    }

    fn delta(&mut self, delta: &Value) {
        match delta["message_type"].as_str() {
            Some("assistant_message") => {
                let id = delta["id"].as_str().unwrap_or_default().to_owned();
                if self.open_message.as_ref().is_some_and(|open| *open != id) {
                    self.end_line();
                }
                self.hide_spinner();
                let text = content_text(&delta["content"]);
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
                self.open_message = Some(id);
            }
            Some("client_tool_start") => {
                let tool = delta["tool_name"].as_str().unwrap_or("?");
                let input = delta["tool_args"]
                    .as_str()
                    .and_then(|args| serde_json::from_str::<JsonObject>(args).ok())
                    .unwrap_or_default();
                let line = format!("● {}({})", self.style.bold(tool), summary(tool, &input));
                self.info(&line);
            }
            Some("tool_return_message") => {
                let text = delta["tool_return"].as_str().unwrap_or_default();
                let mut lines = text.lines();
                let first = truncate(lines.next().unwrap_or_default(), SUMMARY_CHARS);
                let more = lines.count();
                let more = if more > 0 {
                    format!(" (+{more} lines)")
                } else {
                    String::new()
                };
                let line = format!("  ⎿ {first}{more}");
                let line = if delta["status"] == "error" {
                    self.style.red(&line)
                } else {
                    self.style.dim(&line)
                };
                self.info(&line);
            }
            _ => {}
        }
    }

    fn loop_status(&mut self, status: &Value) {
        let Ok(status) = serde_json::from_value::<LoopStatus>(status.clone()) else {
            return;
        };
        let label = match status {
            LoopStatus::SendingApiRequest | LoopStatus::WaitingForApiResponse => "thinking",
            LoopStatus::RetryingApiRequest => "retrying the Letta server",
            LoopStatus::ExecutingClientSideTool | LoopStatus::ExecutingCommand => "running tools",
            LoopStatus::ProcessingApiResponse
            | LoopStatus::WaitingOnApproval
            | LoopStatus::WaitingOnInput => {
                self.hide_spinner();
                return;
            }
        };
        if !self.spinner_allowed {
            return;
        }
        let spinner = self.spinner.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        spinner.set_message(label);
    }

    /// A line on stderr, after whatever streams on stdout.
    pub fn info(&mut self, line: &str) {
        self.end_line();
        self.hide_spinner();
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }

    /// Ends an assistant message's line on stdout.
    pub fn end_line(&mut self) {
        if self.open_message.take().is_some() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(b"\n");
            let _ = stdout.flush();
        }
    }

    fn hide_spinner(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }

    pub fn finish(&mut self) {
        self.end_line();
        self.hide_spinner();
    }

    /// A pending approval: the tool, what it would do, and the diff.
    pub fn approval(&mut self, request_id: &str, ask: &CanUseTool) {
        let style = self.style;
        let mut text = format!(
            "{} {}({}) needs approval [{request_id}]",
            style.yellow("?"),
            style.bold(&ask.tool_name),
            summary(&ask.tool_name, &ask.input)
        );
        if let Some(path) = &ask.blocked_path {
            text.push_str(&format!("\n  outside the working directory: {path}"));
        }
        for diff in ask.diffs.iter().flatten() {
            text.push('\n');
            text.push_str(&diff_text(diff, style));
        }
        self.info(&text);
    }
}

impl Renderer {
    /// The agent's questions, numbered options under each.
    pub fn questions(&mut self, request_id: &str, ask: &letta_protocol::AskUserQuestionRequest) {
        let style = self.style;
        let mut text = format!("{} the agent asks [{request_id}]", style.yellow("?"));
        for question in &ask.questions {
            text.push_str(&format!(
                "\n  {}: {}{}",
                style.bold(&question.header),
                question.question,
                if question.multi_select {
                    " (one or more)"
                } else {
                    ""
                }
            ));
            for (number, option) in question.options.iter().enumerate() {
                text.push_str(&format!(
                    "\n    {}) {} — {}",
                    number + 1,
                    option.label,
                    option.description
                ));
            }
        }
        self.info(&text);
    }
}

/// One line of status on stderr, where it stays out of piped output.
pub fn say(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// The text of a message's `content`: a string, or text parts.
/// The text of a message's content (a string or parts), without the system
/// reminders the daemon adds for the agent (the session context).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => without_reminders(text),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .map(without_reminders)
            .collect(),
        _ => String::new(),
    }
}

pub fn without_reminders(text: &str) -> String {
    const OPEN: &str = "<system-reminder>";
    const CLOSE: &str = "</system-reminder>";
    let mut rest = text;
    let mut kept = String::new();
    while let Some(start) = rest.find(OPEN) {
        kept.push_str(&rest[..start]);
        let Some(end) = rest[start..].find(CLOSE) else {
            return kept;
        };
        rest = rest[start + end + CLOSE.len()..].trim_start();
    }
    kept.push_str(rest);
    kept
}

/// What a tool call does, in a few words: the command, the path, the pattern.
pub fn summary(tool: &str, input: &JsonObject) -> String {
    let field = |name: &str| input.get(name).and_then(Value::as_str);
    let text = match tool {
        "Bash" => field("command").map(str::to_owned),
        "exec_command" => field("cmd").map(str::to_owned),
        "Monitor" => field("description").map(str::to_owned),
        "ViewImage" => field("path").map(str::to_owned),
        "EnterWorktree" => field("path").or(field("name")).map(str::to_owned),
        "ExitWorktree" => field("action").map(str::to_owned),
        "write_stdin" => input.get("session_id").map(|id| match field("chars") {
            Some(chars) if !chars.is_empty() => format!("{id} ← {}", chars.escape_debug()),
            _ => format!("{id} (read)"),
        }),
        "Read" | "Write" | "Edit" | "MultiEdit" => field("file_path").map(str::to_owned),
        "LS" => field("path").map(str::to_owned),
        "Agent" => field("description").map(str::to_owned),
        "SendAgentMessage" => field("conversation_id")
            .or(field("agent_id"))
            .map(str::to_owned),
        "TaskCreate" => field("subject").map(str::to_owned),
        "TaskGet" | "TaskUpdate" => field("taskId").map(|id| match field("status") {
            Some(status) => format!("{id} {status}"),
            None => id.to_owned(),
        }),
        "Glob" | "Grep" => field("pattern").map(|pattern| match field("path") {
            Some(path) => format!("{pattern} in {path}"),
            None => pattern.to_owned(),
        }),
        _ => None,
    }
    .unwrap_or_else(|| Value::Object(input.clone()).to_string());
    truncate(text.lines().next().unwrap_or_default(), SUMMARY_CHARS)
}

/// A plan on one line: each task or step marked done (✓), in progress (▶)
/// or pending (○).
pub fn plan_line(plan: &Value) -> String {
    let items = |key: &str, text: &str| {
        plan[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                let mark = match item["status"].as_str() {
                    Some("completed") => '✓',
                    Some("in_progress") => '▶',
                    _ => '○',
                };
                format!("{mark} {}", item[text].as_str().unwrap_or("?"))
            })
            .collect::<Vec<_>>()
    };
    let mut all = items("tasks", "subject");
    all.extend(items("steps", "step"));
    if all.is_empty() {
        return "plan: empty".to_owned();
    }
    truncate(&format!("plan: {}", all.join(" · ")), 4 * SUMMARY_CHARS)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn diff_text(diff: &DiffPreview, style: Style) -> String {
    match diff {
        DiffPreview::Advanced { file_name, hunks } => {
            let mut out = style.bold(&format!("  {file_name}"));
            for hunk in hunks {
                out.push_str(&style.dim(&format!(
                    "\n  @@ -{},{} +{},{} @@",
                    hunk.old_start, hunk.old_lines, hunk.new_start, hunk.new_lines
                )));
                for line in &hunk.lines {
                    let content = line.content.trim_end_matches('\n');
                    out.push('\n');
                    out.push_str(&match line.kind {
                        DiffLineKind::Add => style.green(&format!("  +{content}")),
                        DiffLineKind::Remove => style.red(&format!("  -{content}")),
                        DiffLineKind::Context => format!("   {content}"),
                    });
                }
            }
            out
        }
        DiffPreview::Fallback { file_name, reason }
        | DiffPreview::Unpreviewable { file_name, reason } => {
            format!("  {file_name}: no preview ({reason})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subagents_are_shown_when_they_start_and_when_they_end() {
        let mut renderer = Renderer::new();
        let snapshot = |status: &str| {
            json!([{"subagent_id": "subagent-1", "subagent_type": "explore",
                    "description": "look", "status": status, "conversation_id": "conv-2"}])
        };
        assert_eq!(
            renderer.subagent_changes(&snapshot("running")),
            ["◆ subagent explore \"look\": running (conv-2)"]
        );
        assert!(renderer.subagent_changes(&snapshot("running")).is_empty());
        assert_eq!(renderer.subagent_changes(&snapshot("completed")).len(), 1);
    }

    #[test]
    fn summaries_name_what_the_call_touches() {
        let input = |value: Value| value.as_object().cloned().unwrap();
        assert_eq!(
            summary("Bash", &input(json!({"command": "ls -la\necho"}))),
            "ls -la"
        );
        assert_eq!(
            summary("Edit", &input(json!({"file_path": "/a/b.rs"}))),
            "/a/b.rs"
        );
        assert_eq!(
            summary("Grep", &input(json!({"pattern": "fn main", "path": "src"}))),
            "fn main in src"
        );
        assert_eq!(
            summary(
                "write_stdin",
                &input(json!({"session_id": 12, "chars": "y\n"}))
            ),
            "12 ← y\\n"
        );
        assert_eq!(
            summary("write_stdin", &input(json!({"session_id": 12}))),
            "12 (read)"
        );
        assert_eq!(
            summary("exec_command", &input(json!({"cmd": "npm run dev"}))),
            "npm run dev"
        );
        assert_eq!(summary("Custom", &input(json!({"x": 1}))), r#"{"x":1}"#);
        let long = "é".repeat(150);
        assert_eq!(
            summary("Bash", &input(json!({"command": long})))
                .chars()
                .count(),
            101
        );
    }

    #[test]
    fn a_plan_fits_on_a_line() {
        let plan = json!({
            "tasks": [
                {"subject": "Run tests", "status": "completed"},
                {"subject": "Fix", "status": "in_progress"},
            ],
            "steps": [{"step": "Ship", "status": "pending"}],
        });
        assert_eq!(plan_line(&plan), "plan: ✓ Run tests · ▶ Fix · ○ Ship");
        assert_eq!(plan_line(&json!({"tasks": []})), "plan: empty");
    }

    #[test]
    fn content_is_text_or_text_parts() {
        assert_eq!(content_text(&json!("hi")), "hi");
        assert_eq!(
            content_text(&json!([{"type": "text", "text": "a"}, {"type": "image"}, {"text": "b"}])),
            "ab"
        );
        assert_eq!(content_text(&Value::Null), "");
        assert_eq!(
            content_text(&json!("<system-reminder>\nwhere\n</system-reminder>\nhi")),
            "hi"
        );
        assert_eq!(
            content_text(
                &json!([{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "hi"}])
            ),
            "hi"
        );
    }
}
