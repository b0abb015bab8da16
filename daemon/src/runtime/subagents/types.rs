//! Subagent types: what a subagent is told and which tools it gets. Two
//! are built in (`general-purpose`, `explore`); more are Markdown files in
//! `~/.letta/agents/` and `<cwd>/.letta/agents/` (the project's win), with
//! Letta Code's front matter:
//!
//! ```text
//! ---
//! name: reviewer
//! description: Reviews a change and reports problems
//! tools: Read, Grep, Glob
//! model: inherit
//! ---
//! Instructions...
//! ```

use std::path::Path;

/// Longest type file read, and most files read from one folder.
const MAX_FILE_BYTES: u64 = 64 * 1024;
const MAX_FILES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubagentType {
    pub name: String,
    pub description: String,
    /// The tools it may use (`mcp__*`: every MCP tool, `mcp__s__*`: those
    /// of server `s`); `None` for every tool of the parent's toolset.
    pub tools: Option<Vec<String>>,
    /// A model handle; `None` to use the parent's.
    pub model: Option<String>,
    pub instructions: String,
}

pub const DEFAULT_TYPE: &str = "general-purpose";

fn builtin() -> Vec<SubagentType> {
    vec![
        SubagentType {
            name: DEFAULT_TYPE.to_owned(),
            description: "Researches, plans and changes code on its own, then reports".to_owned(),
            tools: Some(
                [
                    "Bash",
                    "Read",
                    "Write",
                    "Edit",
                    "Glob",
                    "Grep",
                    "LS",
                    "TaskCreate",
                    "TaskGet",
                    "TaskList",
                    "TaskUpdate",
                    "TaskStop",
                    "mcp__*",
                ]
                .map(str::to_owned)
                .to_vec(),
            ),
            model: None,
            instructions: "You are a subagent: another agent handed you the task below and \
                waits for your final report, which is the only thing of your work it sees. Work \
                on your own; where the task is unclear, take the most reasonable reading and say \
                so in the report. End with one report: what you did, the files you changed, the \
                assumptions you made, and what is left to do."
                .to_owned(),
        },
        SubagentType {
            name: "explore".to_owned(),
            description: "Reads and searches the code to answer a question; changes nothing"
                .to_owned(),
            tools: Some(["Read", "Glob", "Grep", "LS"].map(str::to_owned).to_vec()),
            model: None,
            instructions: "You are an exploring subagent: another agent asked you the question \
                below and waits for your final report. Read and search the files to answer it; \
                you change nothing. End with one report that answers the question, naming the \
                files and lines it rests on."
                .to_owned(),
        },
    ]
}

/// Every type available in `cwd`: built in, then the user's, then the
/// project's, a later one replacing an earlier of the same name. Files
/// that cannot be used are returned with why.
pub fn available(home: &Path, cwd: &Path) -> (Vec<SubagentType>, Vec<String>) {
    let mut types = builtin();
    let mut problems = Vec::new();
    for dir in [home.join(".letta/agents"), cwd.join(".letta/agents")] {
        for (path, parsed) in read_dir(&dir) {
            match parsed {
                Ok(found) => {
                    types.retain(|known| known.name != found.name);
                    types.push(found);
                }
                Err(err) => problems.push(format!("{}: {err}", path.display())),
            }
        }
    }
    (types, problems)
}

fn read_dir(dir: &Path) -> Vec<(std::path::PathBuf, Result<SubagentType, String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    paths.truncate(MAX_FILES);
    paths
        .into_iter()
        .map(|path| {
            let parsed = read_type(&path);
            (path, parsed)
        })
        .collect()
}

fn read_type(path: &Path) -> Result<SubagentType, String> {
    let size = std::fs::metadata(path)
        .map_err(|err| err.to_string())?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|err| err.to_string())?;
    parse(&text)
}

/// A type from its Markdown: front matter between `---` lines, then the
/// instructions.
pub fn parse(text: &str) -> Result<SubagentType, String> {
    let rest = text
        .trim_start()
        .strip_prefix("---")
        .ok_or("it does not start with front matter (---)")?;
    let (front, body) = rest
        .split_once("\n---")
        .ok_or("its front matter does not end (---)")?;
    let body = body.split_once('\n').map_or("", |(_, body)| body);
    let field = |key: &str| {
        front.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let name = field("name")
        .filter(|name| !name.is_empty())
        .ok_or("the front matter has no name")?;
    let tools = field("tools")
        .filter(|tools| !tools.is_empty() && !tools.eq_ignore_ascii_case("all"))
        .map(|tools| {
            tools
                .split(',')
                .map(|tool| tool.trim().to_owned())
                .filter(|tool| !tool.is_empty())
                .collect()
        });
    Ok(SubagentType {
        name,
        description: field("description").unwrap_or_default(),
        tools,
        model: field("model").filter(|model| !model.is_empty() && model != "inherit"),
        instructions: body.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_is_read_from_its_front_matter() {
        let parsed = parse(
            "---\nname: reviewer\ndescription: Reviews a change\ntools: Read, Grep\nmodel: inherit\n---\nLook closely.\n",
        )
        .expect("parses");
        assert_eq!(parsed.name, "reviewer");
        assert_eq!(
            parsed.tools,
            Some(vec!["Read".to_owned(), "Grep".to_owned()])
        );
        assert_eq!(parsed.model, None);
        assert_eq!(parsed.instructions, "Look closely.");
        let all = parse("---\nname: x\ntools: all\nmodel: openai/gpt-5\n---\n").expect("parses");
        assert_eq!(all.tools, None);
        assert_eq!(all.model.as_deref(), Some("openai/gpt-5"));
        assert!(parse("no front matter").is_err());
        assert!(parse("---\ndescription: nameless\n---\n").is_err());
    }

    #[test]
    fn the_projects_types_replace_the_users_and_the_built_in_ones() {
        let home = tempfile::tempdir().expect("home");
        let cwd = tempfile::tempdir().expect("cwd");
        let write = |dir: &Path, file: &str, text: &str| {
            std::fs::create_dir_all(dir.join(".letta/agents")).expect("dir");
            std::fs::write(dir.join(".letta/agents").join(file), text).expect("write");
        };
        write(
            home.path(),
            "explore.md",
            "---\nname: explore\ndescription: mine\n---\nMine.",
        );
        write(
            cwd.path(),
            "explore.md",
            "---\nname: explore\ndescription: project\n---\nOurs.",
        );
        write(cwd.path(), "broken.md", "no front matter");
        let (types, problems) = available(home.path(), cwd.path());
        let explore: Vec<&SubagentType> = types.iter().filter(|t| t.name == "explore").collect();
        assert_eq!(explore.len(), 1);
        assert_eq!(explore[0].description, "project");
        assert!(types.iter().any(|t| t.name == DEFAULT_TYPE));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("broken.md"));
    }
}
