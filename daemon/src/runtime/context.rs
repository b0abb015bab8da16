//! Session context: the first message of a session (and the first after
//! the working directory changes) tells the agent where it is — time,
//! system, shell, directory, git — and who it is, as a system reminder
//! before the user's text, as Letta Code does, with the skills it can
//! load; later inputs say when the skills change. What was last described
//! is stored with the runtime, so a restart does not repeat it.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::Runtime;
use crate::tools::skills;
use crate::util::lock;

/// How long one git command may take before its part is left out.
const GIT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long reading the agent (its name) may take.
const AGENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Lines of `git status` shown; the rest are counted.
const STATUS_LINES: usize = 20;
/// Longest git output kept per part, in characters.
const GIT_OUTPUT_CHARS: usize = 4_000;

/// Why the context is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    SessionStart,
    CwdChanged,
}

/// What the reminder says about the agent.
#[derive(Debug, Default)]
pub struct AgentFacts {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub conversation_id: String,
}

/// What git says about a directory.
#[derive(Debug, Default)]
pub struct GitFacts {
    pub branch: Option<String>,
    pub user: Option<String>,
    pub recent_commits: Option<String>,
    pub status: Option<String>,
}

impl Runtime {
    /// Turns the session context on or off for this runtime (kept).
    pub async fn set_session_context(&self, enabled: bool) -> Result<(), crate::store::StoreError> {
        self.store.set_session_context(self.id, enabled).await?;
        lock(&self.state).session_context = enabled;
        Ok(())
    }

    /// What to tell the agent before this input: the whole session context
    /// if this runtime sends one and has not described its working
    /// directory yet, or only what changed in the skills.
    pub(crate) async fn session_context(&self) -> Option<ContextUpdate> {
        let (enabled, cwd, described, sent_skills) = {
            let state = lock(&self.state);
            (
                state.session_context,
                state.cwd.clone(),
                state.context_cwd.clone(),
                state.context_skills.clone(),
            )
        };
        if !enabled {
            return None;
        }
        let found = self.discover_skills(&cwd).await;
        let skills_key = skills_key(&found);
        if described.as_deref() == Some(cwd.as_str()) {
            if sent_skills.as_deref() == Some(skills_key.as_str()) {
                return None;
            }
            let before = sent_skills
                .as_deref()
                .and_then(|key| serde_json::from_str::<Vec<(String, String)>>(key).ok())
                .unwrap_or_default();
            return Some(ContextUpdate {
                reminder: skills_changed(&before, &found)?,
                cwd: None,
                skills: skills_key,
            });
        }
        let reason = match described {
            None => Reason::SessionStart,
            Some(_) => Reason::CwdChanged,
        };
        let agent = match &self.scope.agent_id {
            // Accepting the input waits for this: a slow server costs the
            // reminder the agent's name, not the user a stalled input.
            Some(agent_id) => {
                match tokio::time::timeout(AGENT_TIMEOUT, self.backend.retrieve_agent(agent_id))
                    .await
                {
                    Ok(Ok(agent)) => agent,
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "cannot read the agent for the session context");
                        json!({ "id": agent_id })
                    }
                    Err(_) => {
                        tracing::warn!("the agent took too long to read for the session context");
                        json!({ "id": agent_id })
                    }
                }
            }
            None => Value::Null,
        };
        let facts = AgentFacts {
            id: self.scope.agent_id.clone(),
            name: agent["name"].as_str().map(str::to_owned),
            description: agent["description"].as_str().map(str::to_owned),
            conversation_id: self.scope.conversation_id.clone(),
        };
        let git = git_facts(Path::new(&cwd)).await;
        let mut reminder = reminder(reason, &cwd, git.as_ref(), &facts);
        if !found.is_empty() {
            reminder.push_str(&format!(
                "\n<system-reminder>\nSkills you can load with the Skill tool:\n{}\n</system-reminder>",
                skills::listing(&found)
            ));
        }
        Some(ContextUpdate {
            reminder,
            cwd: Some(cwd),
            skills: skills_key,
        })
    }
}

impl Runtime {
    /// The skills the agent can load from `cwd`, kept for the device
    /// status (frontends offer them as commands).
    pub(crate) async fn discover_skills(&self, cwd: &str) -> Vec<skills::Skill> {
        let places = skills::places(
            Path::new(cwd),
            Some(&crate::tools::home_dir()),
            self.scope.agent_id.as_deref(),
        );
        // Most places do not exist: a few stats here spare every input a
        // hop to the blocking pool.
        let found = if places.iter().any(|(root, _)| root.is_dir()) {
            crate::fs::blocking(move || skills::discover(&places)).await
        } else {
            Vec::new()
        };
        lock(&self.state).available_skills = found.iter().map(skills::Skill::summary).collect();
        found
    }
}

/// A reminder for the agent and what it described, to store with the input.
pub struct ContextUpdate {
    pub reminder: String,
    /// The working directory described, when the whole context is sent.
    pub cwd: Option<String>,
    /// The skills described (see [`skills_key`]).
    pub skills: String,
}

/// The skills as stored with the runtime: ids and descriptions, as JSON.
fn skills_key(skills: &[skills::Skill]) -> String {
    let pairs: Vec<(&str, &str)> = skills
        .iter()
        .map(|skill| (skill.id.as_str(), skill.description.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// What changed in the skills since `before`; `None` if nothing did.
fn skills_changed(before: &[(String, String)], now: &[skills::Skill]) -> Option<String> {
    let added: Vec<&skills::Skill> = now
        .iter()
        .filter(|skill| {
            !before
                .iter()
                .any(|(id, description)| *id == skill.id && *description == skill.description)
        })
        .collect();
    let removed: Vec<&str> = before
        .iter()
        .filter(|(id, _)| !now.iter().any(|skill| skill.id == *id))
        .map(|(id, _)| id.as_str())
        .collect();
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    let mut text = String::from("<system-reminder>\nThe skills you can load have changed.");
    if !added.is_empty() {
        let added: Vec<skills::Skill> = added.into_iter().cloned().collect();
        text.push_str(&format!("\nNew or changed:\n{}", skills::listing(&added)));
    }
    if !removed.is_empty() {
        text.push_str(&format!("\nNo longer available: {}", removed.join(", ")));
    }
    text.push_str("\n</system-reminder>");
    Some(text)
}

/// Puts `reminder` before the first message's content, as a text part of
/// its own.
pub fn prepend(messages: &mut [letta_protocol::MessageCreate], reminder: String) {
    let Some(first) = messages.first_mut() else {
        return;
    };
    let part = json!({ "type": "text", "text": reminder });
    first.content = match first.content.take() {
        Value::Array(mut parts) => {
            parts.insert(0, part);
            Value::Array(parts)
        }
        Value::String(text) => json!([part, { "type": "text", "text": text }]),
        Value::Null => json!([part]),
        other => json!([part, other]),
    };
}

/// The reminder's text.
pub fn reminder(reason: Reason, cwd: &str, git: Option<&GitFacts>, agent: &AgentFacts) -> String {
    let unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "(unknown)".to_owned());
    let why = match reason {
        Reason::SessionStart => {
            "A session with this conversation has started on the user's machine."
        }
        Reason::CwdChanged => "The working directory of this conversation has changed.",
    };
    let mut text = format!(
        "<system-reminder>\nThe environment you work in, sent automatically. {why}\n\n\
         ## This machine\n\
         - Local time: {}\n\
         - Operating system: {}\n\
         - Shell: {}\n\
         - Working directory: {cwd}\n",
        local_time(),
        operating_system(),
        shell(),
    );
    match git {
        Some(git) => {
            text.push_str(&format!(
                "- Git repository: yes, on branch {}\n- Git user: {}\n\n\
                 ### Recent commits\n```\n{}\n```\n\n### Git status\n```\n{}\n```\n",
                unknown(&git.branch),
                git.user.as_deref().unwrap_or("(not configured)"),
                git.recent_commits.as_deref().unwrap_or("(none)"),
                git.status.as_deref().unwrap_or("(clean working tree)"),
            ));
        }
        None => text.push_str("- Git repository: no\n"),
    }
    text.push_str(&format!(
        "\n## You\n\
         - Agent id: {}\n\
         - Agent name: {}\n\
         - Agent description: {}\n\
         - Conversation id: {}\n\
         </system-reminder>",
        unknown(&agent.id),
        agent.name.as_deref().unwrap_or("(unnamed)"),
        agent.description.as_deref().unwrap_or("(none)"),
        agent.conversation_id,
    ));
    text
}

fn local_time() -> String {
    jiff::ZonedDateTime::now()
        .strftime("%A, %B %-d, %Y, %H:%M %Z")
        .to_string()
}

fn operating_system() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        "linux" => "Linux",
        "windows" => "Windows",
        other => other,
    }
}

/// The user's login shell by name; the shell tool itself runs bash.
fn shell() -> String {
    std::env::var("SHELL")
        .ok()
        .and_then(|shell| {
            Path::new(&shell)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "bash".to_owned())
}

/// What git says about `cwd`; `None` outside a repository (or without git).
pub async fn git_facts(cwd: &Path) -> Option<GitFacts> {
    let inside = git(cwd, &["rev-parse", "--is-inside-work-tree"]).await?;
    if inside != "true" {
        return None;
    }
    let (branch, name, email, commits, status) = tokio::join!(
        git(cwd, &["rev-parse", "--abbrev-ref", "HEAD"]),
        git(cwd, &["config", "user.name"]),
        git(cwd, &["config", "user.email"]),
        git(cwd, &["log", "-3", "--format=%h %s (%an)"]),
        git(cwd, &["status", "--short"]),
    );
    let user = match (name, email) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (name, email) => name.or(email),
    };
    Some(GitFacts {
        branch,
        user,
        recent_commits: commits.filter(|commits| !commits.is_empty()),
        status: status.filter(|status| !status.is_empty()).map(|status| {
            let lines: Vec<&str> = status.lines().collect();
            let mut shown = lines[..lines.len().min(STATUS_LINES)].join("\n");
            if lines.len() > STATUS_LINES {
                shown.push_str(&format!("\n... and {} more", lines.len() - STATUS_LINES));
            }
            shown
        }),
    })
}

/// One git command's trimmed output, bounded; `None` if it fails or hangs.
async fn git(cwd: &Path, args: &[&str]) -> Option<String> {
    let output = tokio::process::Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(args)
        // Reading status must not take the index lock from the user's git.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(GIT_TIMEOUT, output).await.ok()?.ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let (text, _) = crate::tools::truncate_chars(text.trim_end(), GIT_OUTPUT_CHARS);
    Some(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentFacts {
        AgentFacts {
            id: Some("agent-1".into()),
            name: Some("Ada".into()),
            description: None,
            conversation_id: "conv-1".into(),
        }
    }

    #[test]
    fn the_reminder_says_where_and_who() {
        let git = GitFacts {
            branch: Some("main".into()),
            user: Some("Ada <ada@example.com>".into()),
            recent_commits: Some("abc123 first (Ada)".into()),
            status: None,
        };
        let text = reminder(Reason::SessionStart, "/work/x", Some(&git), &agent());
        assert!(text.starts_with("<system-reminder>") && text.ends_with("</system-reminder>"));
        for expected in [
            "Working directory: /work/x",
            "on branch main",
            "abc123 first (Ada)",
            "(clean working tree)",
            "Agent id: agent-1",
            "Agent name: Ada",
            "Conversation id: conv-1",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        let moved = reminder(Reason::CwdChanged, "/elsewhere", None, &agent());
        assert!(moved.contains("has changed") && moved.contains("Git repository: no"));
    }

    #[test]
    fn skill_changes_are_told_once() {
        let skill = |id: &str, description: &str| skills::Skill {
            id: id.into(),
            description: description.into(),
            source: "project",
            path: "/x/SKILL.md".into(),
        };
        let before = vec![
            ("a".to_owned(), "A".to_owned()),
            ("b".to_owned(), "B".to_owned()),
        ];
        assert_eq!(
            skills_changed(&before, &[skill("a", "A"), skill("b", "B")]),
            None
        );
        let text = skills_changed(&before, &[skill("a", "A2"), skill("c", "C")]).unwrap();
        assert!(
            text.contains("- a (project): A2") && text.contains("- c (project): C"),
            "{text}"
        );
        assert!(text.contains("No longer available: b"), "{text}");
    }

    #[test]
    fn the_reminder_goes_first() {
        let message = |content: Value| letta_protocol::MessageCreate {
            role: "user".into(),
            content,
            client_message_id: None,
            extra: Default::default(),
        };
        let mut messages = vec![message(json!("hello"))];
        prepend(&mut messages, "R".into());
        assert_eq!(
            messages[0].content,
            json!([{"type": "text", "text": "R"}, {"type": "text", "text": "hello"}])
        );
        let mut parts = vec![message(json!([{"type": "image"}]))];
        prepend(&mut parts, "R".into());
        assert_eq!(parts[0].content[0]["text"], "R");
        assert_eq!(parts[0].content[1]["type"], "image");
    }

    #[tokio::test]
    async fn git_is_read_from_a_repository_and_skipped_outside_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(git_facts(dir.path()).await.is_none());
        let run = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .output()
                .unwrap()
                .status;
            assert!(status.success(), "git {args:?}");
        };
        run(&["init", "-q", "-b", "trunk"]);
        run(&["config", "user.name", "Ada"]);
        run(&["config", "user.email", "ada@example.com"]);
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        run(&["add", "a.txt"]);
        run(&["commit", "-q", "-m", "first"]);
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        let facts = git_facts(dir.path()).await.unwrap();
        assert_eq!(facts.branch.as_deref(), Some("trunk"));
        assert_eq!(facts.user.as_deref(), Some("Ada <ada@example.com>"));
        assert!(facts.recent_commits.unwrap().ends_with("first (Ada)"));
        assert_eq!(facts.status.as_deref(), Some("?? b.txt"));
    }
}
