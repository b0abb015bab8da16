//! What an editor sees of a runtime's events: each daemon event becomes
//! zero or more ACP `session/update`s, written in the protocol's wire form
//! and checked against the SDK's types by the caller.

use std::collections::HashSet;

use serde_json::{Value, json};

use std::collections::HashMap;

use crate::render::{content_text, summary, without_reminders};

/// Queued inputs remembered until their turn starts.
const MAX_QUEUED: usize = 1000;

/// What a session remembers to translate the next event.
#[derive(Debug, Default)]
pub struct Translator {
    /// Tool calls already announced with a `tool_call` update.
    announced: HashSet<String>,
    /// The permission mode last reported.
    mode: Option<String>,
    /// What each queued input says, until its turn starts.
    queued: HashMap<String, Value>,
    /// The skills last offered as commands.
    commands: Option<Value>,
    /// The agent's context window in tokens, when its model says.
    context_window: Option<u64>,
}

impl Translator {
    /// A translator for an agent whose model has `context_window` tokens.
    pub fn new(context_window: Option<u64>) -> Translator {
        Translator {
            context_window,
            ..Translator::default()
        }
    }

    /// The permission mode the runtime last reported.
    pub fn mode(&self) -> Option<&str> {
        self.mode.as_deref()
    }

    /// The updates one daemon event stands for; `own` tells the inputs
    /// this editor sent (not echoed back as the user's message).
    pub fn updates(&mut self, frame: &Value, own: impl Fn(&str) -> bool) -> Vec<Value> {
        match frame["type"].as_str() {
            Some("update_queue") => self.queue(frame, own),
            Some("stream_delta") => self.delta(&frame["delta"]),
            Some("control_request") => match frame["request"]["subtype"].as_str() {
                Some("can_use_tool") => {
                    let request = &frame["request"];
                    self.announce(
                        request["tool_call_id"].as_str().unwrap_or_default(),
                        request["tool_name"].as_str().unwrap_or("tool"),
                        &request["input"],
                        "pending",
                    )
                }
                _ => Vec::new(),
            },
            Some("update_plan") => plan(&frame["plan"]).into_iter().collect(),
            Some("update_device_status") => {
                let status = &frame["device_status"];
                let mut updates: Vec<Value> = self.commands(status).into_iter().collect();
                let mode = status["current_permission_mode"].as_str();
                if let Some(mode) = mode
                    && self.mode.as_deref() != Some(mode)
                {
                    let first = self.mode.replace(mode.to_owned()).is_none();
                    // The first is the mode the session started in.
                    if !first {
                        updates.push(
                            json!({ "sessionUpdate": "current_mode_update", "currentModeId": mode }),
                        );
                    }
                }
                updates
            }
            _ => Vec::new(),
        }
    }

    /// The skills as the editor's commands, when they changed.
    fn commands(&mut self, status: &Value) -> Option<Value> {
        let skills = status.get("current_available_skills")?.as_array()?;
        let commands: Vec<Value> = skills
            .iter()
            .filter_map(|skill| {
                Some(json!({
                    "name": skill["id"].as_str()?,
                    "description": skill["description"].as_str().unwrap_or_default(),
                    "input": { "hint": "what the skill should work on (optional)" },
                }))
            })
            .collect();
        let commands = Value::from(commands);
        if self.commands.as_ref() == Some(&commands) {
            return None;
        }
        self.commands = Some(commands.clone());
        Some(json!({ "sessionUpdate": "available_commands_update", "availableCommands": commands }))
    }

    /// How full the agent's context is, after each step.
    fn usage(&self, delta: &Value) -> Vec<Value> {
        let Some(size) = self.context_window else {
            return Vec::new();
        };
        let used = delta["context_tokens"]
            .as_u64()
            .or_else(|| delta["total_tokens"].as_u64());
        match used {
            Some(used) => {
                vec![json!({ "sessionUpdate": "usage_update", "used": used, "size": size })]
            }
            None => Vec::new(),
        }
    }

    /// A user's message when its turn starts: from another frontend, or
    /// from an earlier session of this editor being loaded.
    fn queue(&mut self, frame: &Value, own: impl Fn(&str) -> bool) -> Vec<Value> {
        for item in frame["queue"].as_array().into_iter().flatten() {
            if let Some(id) = item["client_message_id"].as_str()
                && item["source"] == "user"
                && self.queued.len() < MAX_QUEUED
            {
                self.queued.insert(id.to_owned(), item["content"].clone());
            }
        }
        let mut updates = Vec::new();
        for removal in frame["removed"].as_array().into_iter().flatten() {
            let Some(id) = removal["client_message_id"].as_str() else {
                continue;
            };
            let Some(content) = self.queued.remove(id) else {
                continue;
            };
            if removal["disposition"] == "dequeued" && !own(id) {
                let text = without_reminders(&content_text(&content));
                if !text.trim().is_empty() {
                    updates.push(json!({ "sessionUpdate": "user_message_chunk", "content": { "type": "text", "text": text } }));
                }
            }
        }
        updates
    }

    fn delta(&mut self, delta: &Value) -> Vec<Value> {
        match delta["message_type"].as_str() {
            Some("assistant_message") => chunk("agent_message_chunk", &delta["content"]),
            Some("reasoning_message") => chunk("agent_thought_chunk", &delta["reasoning"]),
            Some("usage_statistics") => self.usage(delta),
            Some("client_tool_start") => {
                let id = delta["tool_call_id"].as_str().unwrap_or_default();
                let tool = delta["tool_name"].as_str().unwrap_or("tool");
                let input = arguments(&delta["tool_args"]);
                self.announce(id, tool, &input, "in_progress")
            }
            Some("tool_return_message") => {
                let id = delta["tool_call_id"].as_str().unwrap_or_default();
                let status = if delta["status"] == "error" {
                    "failed"
                } else {
                    "completed"
                };
                let text = content_text(&delta["tool_return"]);
                let content =
                    json!([{ "type": "content", "content": { "type": "text", "text": text } }]);
                if self.announced.insert(id.to_owned()) {
                    // A tool the server ran itself: announced done.
                    let name = delta["name"].as_str().unwrap_or("tool");
                    vec![json!({
                        "sessionUpdate": "tool_call",
                        "toolCallId": id,
                        "title": name,
                        "kind": "other",
                        "status": status,
                        "content": content,
                    })]
                } else {
                    vec![json!({
                        "sessionUpdate": "tool_call_update",
                        "toolCallId": id,
                        "status": status,
                        "content": content,
                    })]
                }
            }
            _ => Vec::new(),
        }
    }

    /// The updates a stored message stands for (history from before the
    /// event log), in the same terms as the live events.
    pub fn stored(&mut self, message: &Value) -> Vec<Value> {
        match message["message_type"].as_str() {
            Some("user_message") => {
                let text = without_reminders(&content_text(&message["content"]));
                if text.trim().is_empty() {
                    Vec::new()
                } else {
                    vec![
                        json!({ "sessionUpdate": "user_message_chunk", "content": { "type": "text", "text": text } }),
                    ]
                }
            }
            Some("tool_call_message" | "approval_request_message") => {
                let calls = match message["tool_calls"].as_array() {
                    Some(calls) => calls.clone(),
                    None => vec![message["tool_call"].clone()],
                };
                calls
                    .iter()
                    .flat_map(|call| {
                        self.announce(
                            call["tool_call_id"].as_str().unwrap_or_default(),
                            call["name"].as_str().unwrap_or("tool"),
                            &arguments(&call["arguments"]),
                            "in_progress",
                        )
                    })
                    .collect()
            }
            _ => self.delta(message),
        }
    }

    /// A `tool_call` the first time a call is seen, a `tool_call_update`
    /// (its new status) after.
    fn announce(&mut self, id: &str, tool: &str, input: &Value, status: &str) -> Vec<Value> {
        if id.is_empty() {
            return Vec::new();
        }
        if !self.announced.insert(id.to_owned()) {
            return vec![
                json!({ "sessionUpdate": "tool_call_update", "toolCallId": id, "status": status }),
            ];
        }
        let mut call = tool_call(id, tool, input);
        call["sessionUpdate"] = json!("tool_call");
        call["status"] = json!(status);
        vec![call]
    }
}

/// A tool call as ACP describes it: title, kind, the files it touches, and
/// for edits the change as a diff.
pub fn tool_call(id: &str, tool: &str, input: &Value) -> Value {
    let fields = input.as_object().cloned().unwrap_or_default();
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let mut call = json!({
        "toolCallId": id,
        "title": format!("{tool} {}", summary(tool, &fields)).trim().to_owned(),
        "kind": kind(tool),
        "rawInput": input,
    });
    let path = text("file_path").or(text("path"));
    if let Some(path) = path {
        // Read's offset is the first line it reads.
        let line = fields.get("offset").and_then(Value::as_u64);
        call["locations"] = match line {
            Some(line) => json!([{ "path": path, "line": line }]),
            None => json!([{ "path": path }]),
        };
    }
    if tool == "ApplyPatch"
        && let Some(patch) = text("input")
    {
        let diffs = patch_diffs(patch);
        let paths: Vec<Value> = diffs
            .iter()
            .map(|diff| json!({ "path": diff["path"] }))
            .collect();
        if !diffs.is_empty() {
            call["locations"] = Value::from(paths);
            call["content"] = Value::from(diffs);
        }
        return call;
    }
    let diff = match (tool, path) {
        ("Write", Some(path)) => Some(
            json!({ "type": "diff", "path": path, "oldText": null, "newText": text("content").unwrap_or_default() }),
        ),
        ("Edit", Some(path)) => Some(json!({
            "type": "diff",
            "path": path,
            "oldText": text("old_string").unwrap_or_default(),
            "newText": text("new_string").unwrap_or_default(),
        })),
        _ => None,
    };
    if let Some(diff) = diff {
        call["content"] = json!([diff]);
    }
    call
}

/// Files shown per patch.
const MAX_PATCH_FILES: usize = 50;

/// What an `ApplyPatch` input changes, as ACP diffs: per added or updated
/// file, its removed and kept lines against its added and kept lines.
fn patch_diffs(patch: &str) -> Vec<Value> {
    let mut diffs = Vec::new();
    // (path, old text — none for an added file, new text)
    let mut file: Option<(String, Option<String>, String)> = None;
    let finish = |file: Option<(String, Option<String>, String)>, diffs: &mut Vec<Value>| {
        if let Some((path, old, new)) = file
            && diffs.len() < MAX_PATCH_FILES
        {
            diffs.push(json!({ "type": "diff", "path": path, "oldText": old, "newText": new }));
        }
    };
    for line in patch.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(header) = line.strip_prefix("*** ") {
            if let Some(to) = header.strip_prefix("Move to: ")
                && let Some((path, ..)) = &mut file
            {
                *path = to.trim().to_owned();
                continue;
            }
            finish(file.take(), &mut diffs);
            file = if let Some(path) = header.strip_prefix("Add File: ") {
                Some((path.trim().to_owned(), None, String::new()))
            } else {
                header
                    .strip_prefix("Update File: ")
                    .map(|path| (path.trim().to_owned(), Some(String::new()), String::new()))
            };
            continue;
        }
        let Some((_, old, new)) = &mut file else {
            continue;
        };
        let (kind, rest) = line.split_at(line.len().min(1));
        let keep = |text: &mut String| {
            text.push_str(rest);
            text.push('\n');
        };
        match (kind, old.as_mut()) {
            ("+", _) => keep(new),
            ("-", Some(old)) => keep(old),
            (" ", Some(old)) => {
                keep(old);
                keep(new);
            }
            _ => {}
        }
    }
    finish(file, &mut diffs);
    diffs
}

/// The ACP kind of a built-in tool.
fn kind(tool: &str) -> &'static str {
    match tool {
        "Read" | "ViewImage" | "Skill" => "read",
        "Write" | "Edit" | "ApplyPatch" => "edit",
        "Glob" | "Grep" | "LS" => "search",
        "Bash" | "exec_command" | "write_stdin" | "Monitor" | "TaskStop" => "execute",
        "TaskCreate" | "TaskGet" | "TaskList" | "TaskUpdate" | "UpdatePlan" => "think",
        "SetWorkingDirectory" | "EnterWorktree" | "ExitWorktree" => "move",
        _ => "other",
    }
}

/// A call's arguments: an object, or JSON text of one.
fn arguments(args: &Value) -> Value {
    match args {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| json!({})),
        Value::Object(_) => args.clone(),
        _ => json!({}),
    }
}

fn chunk(kind: &str, content: &Value) -> Vec<Value> {
    let text = content_text(content);
    if text.is_empty() {
        return Vec::new();
    }
    vec![json!({ "sessionUpdate": kind, "content": { "type": "text", "text": text } })]
}

/// The agent's task list or plan as an ACP plan.
fn plan(plan: &Value) -> Option<Value> {
    let entry = |item: &Value, text: &str| -> Value {
        let status = match item["status"].as_str() {
            Some("completed") => "completed",
            Some("in_progress") => "in_progress",
            _ => "pending",
        };
        json!({ "content": item[text].as_str().unwrap_or_default(), "priority": "medium", "status": status })
    };
    let mut entries: Vec<Value> = Vec::new();
    for (key, text) in [("tasks", "subject"), ("steps", "step")] {
        entries.extend(
            plan[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| entry(item, text)),
        );
    }
    Some(json!({ "sessionUpdate": "plan", "entries": entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(delta: Value) -> Value {
        json!({ "type": "stream_delta", "delta": delta })
    }

    #[test]
    fn messages_and_thoughts_become_chunks() {
        let mut translator = Translator::default();
        let updates = translator.updates(
            &delta(json!({"message_type": "assistant_message", "content": "Hello"})),
            |_| false,
        );
        assert_eq!(
            updates,
            [
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Hello"}})
            ]
        );
        let updates = translator.updates(
            &delta(json!({"message_type": "reasoning_message", "reasoning": "hmm"})),
            |_| false,
        );
        assert_eq!(updates[0]["sessionUpdate"], "agent_thought_chunk");
    }

    #[test]
    fn a_tool_call_is_announced_once_then_updated() {
        let mut translator = Translator::default();
        let asked = json!({
            "type": "control_request",
            "request": {"subtype": "can_use_tool", "tool_call_id": "c1", "tool_name": "Write",
                "input": {"file_path": "/p/a.txt", "content": "new"}}
        });
        let first = translator.updates(&asked, |_| false);
        assert_eq!(first[0]["sessionUpdate"], "tool_call");
        assert_eq!(first[0]["status"], "pending");
        assert_eq!(first[0]["kind"], "edit");
        assert_eq!(first[0]["locations"][0]["path"], "/p/a.txt");
        assert_eq!(first[0]["content"][0]["newText"], "new");
        let started = translator.updates(
            &delta(json!({
                "message_type": "client_tool_start", "tool_call_id": "c1", "tool_name": "Write",
                "tool_args": "{\"file_path\": \"/p/a.txt\"}"
            })),
            |_| false,
        );
        assert_eq!(
            started,
            [
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "in_progress"})
            ]
        );
        let done = translator.updates(
            &delta(json!({
                "message_type": "tool_return_message", "tool_call_id": "c1", "status": "error",
                "tool_return": "denied"
            })),
            |_| false,
        );
        assert_eq!(done[0]["status"], "failed");
        assert_eq!(done[0]["content"][0]["content"]["text"], "denied");
    }

    #[test]
    fn a_patch_shows_as_a_diff_per_file() {
        let patch = "*** Begin Patch\n*** Add File: new.txt\n+hello\n*** Update File: src/a.rs\n*** Move to: src/b.rs\n@@ fn main() {\n     keep();\n-    old();\n+    new();\n*** Delete File: gone.txt\n*** End Patch";
        let call = tool_call("c1", "ApplyPatch", &json!({ "input": patch }));
        assert_eq!(call["kind"], "edit");
        assert_eq!(
            call["content"],
            json!([
                {"type": "diff", "path": "new.txt", "oldText": null, "newText": "hello\n"},
                {"type": "diff", "path": "src/b.rs", "oldText": "    keep();\n    old();\n", "newText": "    keep();\n    new();\n"},
            ])
        );
        assert_eq!(call["locations"][1]["path"], "src/b.rs");
        let read = tool_call(
            "c2",
            "Read",
            &json!({ "file_path": "/p/a.rs", "offset": 40 }),
        );
        assert_eq!(
            read["locations"],
            json!([{ "path": "/p/a.rs", "line": 40 }])
        );
    }

    #[test]
    fn plans_and_modes() {
        let mut translator = Translator::default();
        let plan = translator.updates(
            &json!({"type": "update_plan", "plan": {
                "tasks": [{"subject": "Test", "status": "in_progress"}]
            }}),
            |_| false,
        );
        assert_eq!(plan[0]["entries"][0]["content"], "Test");
        assert_eq!(plan[0]["entries"][0]["status"], "in_progress");
        let status = |mode: &str| json!({"type": "update_device_status", "device_status": {"current_permission_mode": mode}});
        assert!(
            translator
                .updates(&status("standard"), |_| false)
                .is_empty()
        );
        assert!(
            translator
                .updates(&status("standard"), |_| false)
                .is_empty()
        );
        assert_eq!(
            translator.updates(&status("acceptEdits"), |_| false)[0]["currentModeId"],
            "acceptEdits"
        );
    }

    #[test]
    fn others_messages_show_when_their_turn_starts() {
        let mut translator = Translator::default();
        let queued = json!({"type": "update_queue", "removed": [], "queue": [
            {"client_message_id": "cm-mine", "source": "user", "content": "from the editor"},
            {"client_message_id": "cm-other", "source": "user",
             "content": [{"type": "text", "text": "<system-reminder>\nwhere\n</system-reminder>"},
                         {"type": "text", "text": "from a terminal"}]},
        ]});
        let own = |id: &str| id == "cm-mine";
        assert!(translator.updates(&queued, own).is_empty());
        let started = |id: &str| {
            json!({"type": "update_queue", "queue": [],
            "removed": [{"client_message_id": id, "disposition": "dequeued"}]})
        };
        assert!(translator.updates(&started("cm-mine"), own).is_empty());
        let other = translator.updates(&started("cm-other"), own);
        assert_eq!(other[0]["sessionUpdate"], "user_message_chunk");
        assert_eq!(other[0]["content"]["text"], "from a terminal");
        assert!(
            translator.updates(&started("cm-other"), own).is_empty(),
            "once"
        );
    }

    #[test]
    fn usage_needs_the_context_window() {
        let usage = delta(
            json!({"message_type": "usage_statistics", "total_tokens": 120, "context_tokens": 100}),
        );
        assert!(Translator::default().updates(&usage, |_| false).is_empty());
        assert_eq!(
            Translator::new(Some(8000)).updates(&usage, |_| false),
            [json!({"sessionUpdate": "usage_update", "used": 100, "size": 8000})]
        );
    }

    #[test]
    fn skills_are_commands_sent_when_they_change() {
        let mut translator = Translator::default();
        let status = |skills: Value| json!({"type": "update_device_status", "device_status": {"current_available_skills": skills}});
        let one = json!([{"id": "review", "description": "Reviews a diff", "path": "/p/SKILL.md"}]);
        let first = translator.updates(&status(one.clone()), |_| false);
        assert_eq!(first[0]["sessionUpdate"], "available_commands_update");
        assert_eq!(first[0]["availableCommands"][0]["name"], "review");
        assert!(translator.updates(&status(one), |_| false).is_empty());
        let none = translator.updates(&status(json!([])), |_| false);
        assert_eq!(none[0]["availableCommands"], json!([]));
    }

    #[test]
    fn stored_messages_read_like_the_live_events() {
        let mut translator = Translator::default();
        let user = translator.stored(&json!({"message_type": "user_message",
            "content": [{"type": "text", "text": "<system-reminder>\nwhere\n</system-reminder>"},
                        {"type": "text", "text": "fix it"}]}));
        assert_eq!(user[0]["sessionUpdate"], "user_message_chunk");
        assert_eq!(user[0]["content"]["text"], "fix it");
        let call = translator.stored(&json!({"message_type": "approval_request_message",
            "tool_call": {"tool_call_id": "c1", "name": "Edit",
                          "arguments": "{\"file_path\": \"/p/a.rs\", \"old_string\": \"a\", \"new_string\": \"b\"}"}}));
        assert_eq!(call[0]["sessionUpdate"], "tool_call");
        assert_eq!(call[0]["content"][0]["newText"], "b");
        let done = translator.stored(&json!({"message_type": "tool_return_message",
            "tool_call_id": "c1", "status": "success", "tool_return": "edited"}));
        assert_eq!(done[0]["sessionUpdate"], "tool_call_update");
        assert_eq!(done[0]["status"], "completed");
    }
}
