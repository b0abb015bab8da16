//! Skills: folders with a `SKILL.md` (front matter `name`/`id`,
//! `description`, then instructions) that the agent loads with the `Skill`
//! tool. Found where Letta Code looks, later places winning for the same
//! id: `~/.letta/skills`, `~/.letta/agents/<agent>/memory/skills`, then the
//! project's `.skills`, `.letta/skills` and `.agents/skills`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ToolContext, ToolOutput};

/// Folder depth searched under each place.
const MAX_DEPTH: usize = 6;
/// Skills kept (the rest are left out and counted).
const MAX_SKILLS: usize = 200;
/// Largest `SKILL.md` read.
const MAX_SKILL_BYTES: u64 = 256 * 1024;
/// Longest description listed, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Other files of a skill's folder named in the `Skill` answer.
const MAX_LISTED_FILES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub id: String,
    pub description: String,
    /// `global`, `agent` or `project`.
    pub source: &'static str,
    /// Its `SKILL.md`.
    pub path: PathBuf,
}

impl Skill {
    /// As device status lists it (Letta Code's `AvailableSkillSummary`).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.id,
            "description": self.description,
            "path": self.path.display().to_string(),
            "source": self.source,
        })
    }
}

/// The places skills are looked for, lowest precedence first.
pub fn places(
    cwd: &Path,
    home: Option<&Path>,
    agent_id: Option<&str>,
) -> Vec<(PathBuf, &'static str)> {
    let mut places = Vec::new();
    if let Some(home) = home {
        places.push((home.join(".letta/skills"), "global"));
        if let Some(agent_id) = agent_id.filter(|id| is_plain_name(id)) {
            places.push((
                home.join(".letta/agents")
                    .join(agent_id)
                    .join("memory/skills"),
                "agent",
            ));
        }
    }
    for project in [".skills", ".letta/skills", ".agents/skills"] {
        places.push((cwd.join(project), "project"));
    }
    places
}

fn is_plain_name(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every skill in `places`, by id (a later place wins), sorted by id.
pub fn discover(places: &[(PathBuf, &'static str)]) -> Vec<Skill> {
    let mut by_id = BTreeMap::new();
    for (root, source) in places {
        if !root.is_dir() {
            continue;
        }
        let walk = ignore::WalkBuilder::new(root)
            .standard_filters(false)
            .hidden(false)
            .follow_links(true)
            .max_depth(Some(MAX_DEPTH))
            .build();
        for entry in walk.flatten() {
            let is_skill_file = entry.file_type().is_some_and(|kind| kind.is_file())
                && entry
                    .file_name()
                    .to_string_lossy()
                    .eq_ignore_ascii_case("SKILL.md");
            if !is_skill_file || by_id.len() >= MAX_SKILLS {
                continue;
            }
            if let Some(skill) = read_skill(root, entry.path(), source) {
                by_id.insert(skill.id.clone(), skill);
            }
        }
    }
    by_id.into_values().collect()
}

fn read_skill(root: &Path, path: &Path, source: &'static str) -> Option<Skill> {
    if std::fs::metadata(path).ok()?.len() > MAX_SKILL_BYTES {
        tracing::warn!(path = %path.display(), "a SKILL.md over 256 KiB is left out");
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let (front, body) = front_matter(&text);
    let folder = path
        .parent()?
        .strip_prefix(root)
        .ok()?
        .to_string_lossy()
        .replace('\\', "/");
    let id = front
        .get("id")
        .or_else(|| front.get("name"))
        .cloned()
        .unwrap_or_else(|| {
            if folder.is_empty() {
                "root".to_owned()
            } else {
                folder
            }
        });
    if front
        .get("disable-model-invocation")
        .is_some_and(|value| value == "true")
    {
        return None;
    }
    let description = front
        .get("description")
        .cloned()
        .or_else(|| body.trim().split("\n\n").next().map(str::to_owned))
        .filter(|text| !text.trim().is_empty())
        .unwrap_or_else(|| "No description".to_owned());
    let (description, _) = super::truncate_chars(description.trim(), MAX_DESCRIPTION_CHARS);
    Some(Skill {
        id,
        description: description.replace('\n', " "),
        source,
        path: path.to_path_buf(),
    })
}

/// `key: value` lines between `---` fences at the top, and the rest. Values
/// on one line, optionally quoted; other YAML forms are skipped.
fn front_matter(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut fields = BTreeMap::new();
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (fields, text);
    };
    let Some(end) = rest.find("\n---") else {
        return (fields, text);
    };
    for line in rest[..end].lines() {
        if let Some((key, value)) = line.split_once(':')
            && !key.starts_with([' ', '\t'])
        {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            if !value.is_empty() && !matches!(value, ">" | "|" | ">-" | "|-") {
                fields.insert(key.trim().to_owned(), value.to_owned());
            }
        }
    }
    let body = rest[end + 4..].trim_start_matches(['-', '\r', '\n']);
    (fields, body)
}

/// The skills as the agent's context lists them.
pub fn listing(skills: &[Skill]) -> String {
    skills
        .iter()
        .map(|skill| format!("- {} ({}): {}", skill.id, skill.source, skill.description))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillArgs {
    skill: String,
}

/// The `Skill` tool: a skill's instructions, its folder and the other files
/// there, for the agent to read as it needs them.
pub fn run(args: SkillArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let places = places(
        &context.cwd,
        Some(&super::home_dir()),
        context.agent_id.as_deref(),
    );
    let skills = discover(&places);
    let Some(skill) = skills.iter().find(|skill| skill.id == args.skill) else {
        let known: Vec<&str> = skills.iter().map(|skill| skill.id.as_str()).collect();
        return Err(if known.is_empty() {
            format!("no skill {:?}: no skills are installed", args.skill)
        } else {
            format!(
                "no skill {:?}; the skills are: {}",
                args.skill,
                known.join(", ")
            )
        });
    };
    let text = std::fs::read_to_string(&skill.path)
        .map_err(|err| format!("cannot read {}: {err}", skill.path.display()))?;
    let (_, body) = front_matter(&text);
    let folder = skill.path.parent().unwrap_or(Path::new("/"));
    let mut files = Vec::new();
    let walk = ignore::WalkBuilder::new(folder)
        .standard_filters(false)
        .hidden(false)
        .max_depth(Some(MAX_DEPTH))
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    let mut more = 0;
    for entry in walk.flatten() {
        if entry.path() == skill.path || !entry.file_type().is_some_and(|kind| kind.is_file()) {
            continue;
        }
        if files.len() < MAX_LISTED_FILES {
            files.push(
                entry
                    .path()
                    .strip_prefix(folder)
                    .unwrap_or(entry.path())
                    .display()
                    .to_string(),
            );
        } else {
            more += 1;
        }
    }
    let mut answer = format!(
        "<skill name=\"{}\" folder=\"{}\">\n{}\n</skill>",
        skill.id,
        folder.display(),
        body.trim()
    );
    if !files.is_empty() {
        answer.push_str(
            "\n\nOther files in the skill's folder (read them as the instructions say):\n",
        );
        answer.push_str(
            &files
                .iter()
                .map(|file| format!("- {file}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        if more > 0 {
            answer.push_str(&format!("\n- ... and {more} more"));
        }
    }
    Ok(ToolOutput::ok(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn skills_are_found_where_letta_code_looks_and_projects_win() {
        let home = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        write(
            &home.path().join(".letta/skills/deploy/SKILL.md"),
            "---\nname: deploy\ndescription: Ship it (global)\n---\nSteps.",
        );
        write(
            &cwd.path().join(".letta/skills/deploy/SKILL.md"),
            "---\nname: deploy\ndescription: \"Ship it (project)\"\n---\nProject steps.",
        );
        write(
            &cwd.path().join(".agents/skills/tools/review/SKILL.md"),
            "# Review\n\nLook at the diff first.\n\nMore.",
        );
        write(
            &cwd.path().join(".skills/hidden/SKILL.md"),
            "---\nname: hidden\ndisable-model-invocation: true\n---\nx",
        );
        let skills = discover(&places(cwd.path(), Some(home.path()), Some("agent-1")));
        let found: Vec<(&str, &str, &str)> = skills
            .iter()
            .map(|s| (s.id.as_str(), s.source, s.description.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("deploy", "project", "Ship it (project)"),
                ("tools/review", "project", "# Review"),
            ]
        );
        assert_eq!(
            listing(&skills).lines().next().unwrap(),
            "- deploy (project): Ship it (project)"
        );
    }

    #[test]
    fn the_skill_tool_returns_instructions_and_the_folder() {
        let cwd = tempfile::tempdir().unwrap();
        write(
            &cwd.path().join(".letta/skills/pdf/SKILL.md"),
            "---\nname: pdf\ndescription: Work with PDFs\n---\nRun scripts/extract.py first.",
        );
        write(
            &cwd.path().join(".letta/skills/pdf/scripts/extract.py"),
            "print(1)",
        );
        let context = ToolContext::in_dir(cwd.path());
        let answer = run(
            SkillArgs {
                skill: "pdf".into(),
            },
            &context,
        )
        .unwrap()
        .text;
        assert!(answer.contains("Run scripts/extract.py first."), "{answer}");
        assert!(answer.contains(".letta/skills/pdf\""), "{answer}");
        assert!(answer.contains("- scripts/extract.py"), "{answer}");
        let missing = run(
            SkillArgs {
                skill: "nope".into(),
            },
            &context,
        )
        .unwrap_err();
        assert!(missing.contains("pdf"), "{missing}");
    }
}
