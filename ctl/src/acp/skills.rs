//! Skills as the editor's commands: `/<skill> request` sends the skill's
//! instructions with the request, as Letta Code's own `/<skill>` does, so
//! the agent starts on them without having to load the skill first.

use std::path::Path;

use tokio::io::AsyncReadExt;

/// Largest `SKILL.md` sent (the daemon reads no larger either).
const MAX_SKILL_BYTES: u64 = 256 * 1024;

/// The instructions of the skill whose `SKILL.md` is `path`: the file
/// without its front matter.
pub async fn instructions(path: &Path) -> std::io::Result<String> {
    let file = tokio::fs::File::open(path).await?;
    let mut text = String::new();
    file.take(MAX_SKILL_BYTES).read_to_string(&mut text).await?;
    Ok(without_front_matter(&text).trim().to_owned())
}

/// The agent's message: the skill, then what the user asked of it.
pub fn prompt(id: &str, path: &Path, instructions: &str, request: &str) -> String {
    let folder = path.parent().unwrap_or(Path::new("/"));
    let skill = format!(
        "<skill name=\"{id}\" folder=\"{}\">\n{instructions}\n</skill>",
        folder.display()
    );
    if request.is_empty() {
        skill
    } else {
        format!("{skill}\n\n{request}")
    }
}

/// `text` after a `---` fenced header at its top, if it has one.
fn without_front_matter(text: &str) -> &str {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return text;
    };
    match rest.find("\n---") {
        Some(end) => rest[end + 4..].trim_start_matches(['\r', '\n']),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_not_sent() {
        let text = "---\nname: review\ndescription: Reviews\n---\n\nRead the diff.\n";
        assert_eq!(without_front_matter(text), "Read the diff.\n");
        assert_eq!(without_front_matter("No header"), "No header");
        assert_eq!(
            without_front_matter("---\nunclosed: yes\n"),
            "---\nunclosed: yes\n"
        );
    }

    #[test]
    fn the_request_follows_the_skill() {
        let path = Path::new("/p/.skills/review/SKILL.md");
        assert_eq!(
            prompt("review", path, "Read the diff.", "the last commit"),
            "<skill name=\"review\" folder=\"/p/.skills/review\">\nRead the diff.\n</skill>\n\nthe last commit"
        );
    }
}
