//! Rules from Letta Code's settings files: `~/.letta/settings.json`,
//! `<cwd>/.letta/settings.json` and `<cwd>/.letta/settings.local.json`, each
//! with `permissions.allow|deny|ask` lists of rules. Files are looked at
//! at every decision (their [`FileStamp`]s, and read again when one
//! changed), so an edit takes effect at the next tool call.
//!
//! A file that cannot be read or parsed fails closed: its `deny` and `ask`
//! rules could have covered any call, so while it is broken every call asks
//! ([`RuleSet::broken`]), and the frontend is told which file and why.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::rules::Rule;
use crate::tools::home_dir;

/// Where a rule came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    User,
    Project,
    ProjectLocal,
    Session,
    /// Rules sent with the turn's input.
    Turn,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::User => "~/.letta/settings.json",
            Source::Project => ".letta/settings.json",
            Source::ProjectLocal => ".letta/settings.local.json",
            Source::Session => "this session",
            Source::Turn => "the rules sent with this turn",
        }
    }
}

/// Rules by kind, each with its source.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub allow: Vec<(Rule, Source)>,
    pub deny: Vec<(Rule, Source)>,
    pub ask: Vec<(Rule, Source)>,
    /// Settings files whose rules could not all be read.
    pub broken: Vec<BrokenSettings>,
}

/// A settings file that could not be read, or a `deny`/`ask` rule in it
/// that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} cannot be used: {error}", file.display())]
pub struct BrokenSettings {
    pub file: PathBuf,
    pub error: String,
}

impl RuleSet {
    pub fn extend_allow(&mut self, rules: impl IntoIterator<Item = Rule>, source: Source) {
        self.allow
            .extend(rules.into_iter().map(|rule| (rule, source)));
    }
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    inode: u64,
    len: u64,
    modified_ns: i128,
    changed_ns: i128,
}

impl FileStamp {
    /// Whether the file was last changed long enough ago that a change
    /// made now would show in its stamp: timestamps are coarse (a few
    /// milliseconds), so two writes of the same length in one tick look
    /// the same (git's "racily clean" files).
    pub fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as i128);
        let margin = 2_000_000_000;
        self.modified_ns.max(self.changed_ns) < now - margin
    }

    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Some(FileStamp {
            inode: meta.ino(),
            len: meta.size(),
            modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
            changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// The settings files that apply to a working directory.
#[derive(Debug, Clone)]
pub struct SettingsFiles {
    files: [(Source, PathBuf); 3],
}

impl SettingsFiles {
    pub fn for_cwd(cwd: &Path) -> SettingsFiles {
        SettingsFiles {
            files: [
                (Source::User, home_dir().join(".letta/settings.json")),
                (Source::Project, cwd.join(".letta/settings.json")),
                (Source::ProjectLocal, cwd.join(".letta/settings.local.json")),
            ],
        }
    }

    pub fn path(&self, source: Source) -> Option<&Path> {
        self.files
            .iter()
            .find(|(file_source, _)| *file_source == source)
            .map(|(_, path)| path.as_path())
    }

    /// Each file's stamp (`None` when it is missing): rules loaded when
    /// the stamps were the same still hold.
    pub fn stamps(&self) -> [Option<FileStamp>; 3] {
        self.files.each_ref().map(|(_, path)| FileStamp::of(path))
    }

    /// Every rule of every file. A file that is missing adds nothing. A
    /// file that cannot be read or parsed, or a `deny`/`ask` rule that does
    /// not parse, is recorded in [`RuleSet::broken`]; an `allow` rule that
    /// does not parse is skipped (allowing less is safe).
    pub fn load(&self) -> RuleSet {
        let mut rules = RuleSet::default();
        for (source, path) in &self.files {
            let broken = |error: String| BrokenSettings {
                file: path.clone(),
                error,
            };
            let settings = match read(path) {
                Ok(Some(settings)) => settings,
                Ok(None) => continue,
                Err(err) => {
                    rules.broken.push(broken(err));
                    continue;
                }
            };
            let permissions = match settings.get("permissions") {
                None => continue,
                Some(Value::Object(permissions)) => permissions,
                Some(_) => {
                    rules
                        .broken
                        .push(broken("`permissions` is not an object".to_owned()));
                    continue;
                }
            };
            for (kind, list) in [
                ("allow", &mut rules.allow),
                ("deny", &mut rules.deny),
                ("ask", &mut rules.ask),
            ] {
                let texts = match permissions.get(kind) {
                    None => continue,
                    Some(Value::Array(texts)) => texts,
                    Some(_) => {
                        rules
                            .broken
                            .push(broken(format!("`permissions.{kind}` is not a list")));
                        continue;
                    }
                };
                for text in texts {
                    let parsed = text
                        .as_str()
                        .ok_or_else(|| format!("{text} is not a string"))
                        .and_then(|text| {
                            text.parse::<Rule>()
                                .map_err(|err| format!("`{text}`: {err}"))
                        });
                    match parsed {
                        Ok(rule) => list.push((rule, *source)),
                        Err(err) if kind == "allow" => {
                            tracing::warn!(file = %path.display(), error = %err, "ignoring an allow rule");
                        }
                        Err(err) => rules
                            .broken
                            .push(broken(format!("a {kind} rule does not parse: {err}"))),
                    }
                }
            }
        }
        for broken in &rules.broken {
            tracing::error!(file = %broken.file.display(), error = %broken.error, "a settings file is broken: every tool call asks until it is fixed");
        }
        rules
    }

    /// Adds allow rules to one file, keeping everything else in it.
    pub fn add_allow(&self, source: Source, rules: &[Rule]) -> Result<PathBuf, String> {
        let path = self
            .path(source)
            .ok_or_else(|| format!("{} is not a settings file", source.describe()))?
            .to_path_buf();
        let mut settings = read(&path)?.unwrap_or_else(|| Value::Object(Map::new()));
        let Value::Object(root) = &mut settings else {
            return Err(format!("{} does not hold a JSON object", path.display()));
        };
        let permissions = root.entry("permissions").or_insert_with(|| json!({}));
        let Value::Object(permissions) = permissions else {
            return Err(format!(
                "permissions in {} is not an object",
                path.display()
            ));
        };
        let allow = permissions.entry("allow").or_insert_with(|| json!([]));
        let Value::Array(allow) = allow else {
            return Err(format!(
                "permissions.allow in {} is not a list",
                path.display()
            ));
        };
        for rule in rules {
            let text = Value::from(rule.to_string());
            if !allow.contains(&text) {
                allow.push(text);
            }
        }
        let mut text = serde_json::to_string_pretty(&settings)
            .map_err(|err| format!("cannot encode settings: {err}"))?;
        text.push('\n');
        crate::tools::write_atomically(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// Largest settings file read; a bigger one is broken, not loaded.
const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

fn read(path: &Path) -> Result<Option<Value>, String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let mut text = String::new();
    file.take(MAX_SETTINGS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    if text.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(format!(
            "{} is larger than {MAX_SETTINGS_BYTES} bytes",
            path.display()
        ));
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| format!("{} is not valid JSON: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_with_the_file_and_a_fresh_file_is_not_settled() {
        let dir = tempfile::tempdir().unwrap();
        let files = SettingsFiles::for_cwd(dir.path());
        let [_, before, _] = files.stamps();
        assert_eq!(before, None, "missing");
        std::fs::create_dir_all(dir.path().join(".letta")).unwrap();
        let project = dir.path().join(".letta/settings.json");
        std::fs::write(&project, r#"{"permissions": {"allow": []}}"#).unwrap();
        let [_, written, _] = files.stamps();
        let written = written.expect("stamped");
        assert!(!written.settled(), "just written");
        // Written again through a new file, as editors save.
        let saved = dir.path().join(".letta/settings.json.new");
        std::fs::write(&saved, r#"{"permissions": {"deny": []}}"#).unwrap();
        std::fs::rename(&saved, &project).unwrap();
        let [_, again, _] = files.stamps();
        assert_ne!(again, Some(written));
    }

    #[test]
    fn rules_are_read_and_saved_without_losing_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let files = SettingsFiles::for_cwd(dir.path());
        let local = files.path(Source::ProjectLocal).unwrap().to_path_buf();
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        std::fs::write(
            &local,
            r#"{"model": "x", "permissions": {"deny": ["Bash(rm:*)", "Broken(("], "ask": ["Write"]}}"#,
        )
        .unwrap();
        let rules = files.load();
        assert_eq!(rules.deny.len(), 1);
        assert_eq!(rules.ask.len(), 1);
        assert_eq!(
            rules.broken.len(),
            1,
            "a deny rule that does not parse is not dropped silently"
        );
        assert!(
            rules.broken[0].error.contains("Broken(("),
            "{:?}",
            rules.broken
        );
        std::fs::write(
            &local,
            r#"{"model": "x", "permissions": {"deny": ["Bash(rm:*)"], "ask": ["Write"], "allow": ["Broken(("]}}"#,
        )
        .unwrap();
        let rules = files.load();
        assert!(
            rules.broken.is_empty(),
            "an allow rule that does not parse only allows less"
        );

        files
            .add_allow(Source::ProjectLocal, &["Bash(npm test:*)".parse().unwrap()])
            .unwrap();
        files
            .add_allow(Source::ProjectLocal, &["Bash(npm test:*)".parse().unwrap()])
            .unwrap();
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&local).unwrap()).unwrap();
        assert_eq!(saved["model"], "x");
        assert_eq!(
            saved["permissions"]["allow"],
            json!(["Broken((", "Bash(npm test:*)"]),
            "other rules are kept as they were"
        );
        assert_eq!(saved["permissions"]["deny"][0], "Bash(rm:*)");
        assert_eq!(files.load().allow.len(), 1);
        assert!(files.load().broken.is_empty());
    }

    #[test]
    fn a_broken_file_is_reported_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let files = SettingsFiles::for_cwd(dir.path());
        let project = files.path(Source::Project).unwrap().to_path_buf();
        std::fs::create_dir_all(project.parent().unwrap()).unwrap();
        for text in [
            "{ not json",
            r#"{"permissions": ["Bash"]}"#,
            r#"{"permissions": {"deny": "Bash(rm:*)"}}"#,
            r#"{"permissions": {"ask": [7]}}"#,
        ] {
            std::fs::write(&project, text).unwrap();
            let rules = files.load();
            assert_eq!(rules.broken.len(), 1, "{text}");
            assert_eq!(rules.broken[0].file, project);
            assert!(rules.broken[0].to_string().contains("settings.json"));
        }
        let huge = format!(
            r#"{{"permissions": {{"deny": [], "x": "{}"}}}}"#,
            "a".repeat(2 << 20)
        );
        std::fs::write(&project, huge).unwrap();
        let rules = files.load();
        assert!(
            rules.broken[0].error.contains("larger than"),
            "{:?}",
            rules.broken
        );
        std::fs::write(&project, "{ not json").unwrap();
        let err = files
            .add_allow(Source::Project, &["Read".parse().unwrap()])
            .unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
        assert_eq!(std::fs::read_to_string(&project).unwrap(), "{ not json");
    }
}
