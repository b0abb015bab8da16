//! The programs that only look, each with the options vetted as read-only.
//! Options that are left out on purpose are named in a comment beside the
//! program, so the next reader knows they were considered.

use std::path::Path;

use super::options::{Takes, parse};
use super::stays_inside;
use Takes::{Attached, Nothing, Path as File, Pattern, PatternFile, Value};

/// What a program's operands are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    /// Files to read.
    Files,
    /// A pattern, then files (unless the pattern came by option).
    PatternThenFiles,
    /// Text that names no file (`echo`, `tr`).
    Text,
    /// No operands at all (`hostname NAME` would set the name).
    Nothing,
    /// At most one file (`uniq IN OUT` writes OUT).
    OneFile,
    /// Only `+FORMAT` (`date`).
    DateFormat,
}

pub struct Program {
    pub name: &'static str,
    pub options: &'static [(&'static str, Takes)],
    pub operands: Operands,
    /// `-5` is a count (`head -5`).
    pub counts: bool,
}

impl Program {
    /// Whether these arguments only read, inside `cwd`.
    pub fn read_only(&self, args: &[String], cwd: &Path) -> bool {
        let Some(parsed) = parse(args, self.options, self.counts) else {
            return false;
        };
        let files: &[&str] = match self.operands {
            Operands::Files => &parsed.operands,
            Operands::PatternThenFiles if parsed.pattern_given => &parsed.operands,
            Operands::PatternThenFiles => parsed.operands.get(1..).unwrap_or_default(),
            Operands::Text => &[],
            Operands::Nothing if parsed.operands.is_empty() => &[],
            Operands::OneFile if parsed.operands.len() <= 1 => &parsed.operands,
            Operands::DateFormat
                if parsed
                    .operands
                    .iter()
                    .all(|operand| operand.starts_with('+')) =>
            {
                &[]
            }
            Operands::Nothing | Operands::OneFile | Operands::DateFormat => return false,
        };
        files
            .iter()
            .chain(&parsed.paths)
            .all(|path| stays_inside(path, cwd))
    }
}

pub fn find(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|program| program.name == name)
}

const fn program(
    name: &'static str,
    options: &'static [(&'static str, Takes)],
    operands: Operands,
) -> Program {
    Program {
        name,
        options,
        operands,
        counts: false,
    }
}

/// grep, egrep and fgrep. Left out: `--exclude-from`/`--include` files are
/// fine but rare; `-R` follows symlinks out of the tree, so only `-r`.
#[rustfmt::skip]
const GREP: &[(&str, Takes)] = &[
    ("-A", Value), ("-B", Value), ("-C", Value), ("-E", Nothing), ("-F", Nothing),
    ("-G", Nothing), ("-H", Nothing), ("-I", Nothing), ("-L", Nothing), ("-P", Nothing),
    ("-T", Nothing), ("-U", Nothing), ("-Z", Nothing), ("-a", Nothing), ("-b", Nothing),
    ("-c", Nothing), ("-e", Pattern), ("-f", PatternFile), ("-h", Nothing), ("-i", Nothing),
    ("-l", Nothing), ("-m", Value), ("-n", Nothing), ("-o", Nothing), ("-q", Nothing),
    ("-r", Nothing), ("-s", Nothing), ("-v", Nothing), ("-w", Nothing), ("-x", Nothing),
    ("-y", Nothing), ("-z", Nothing),
    ("--after-context", Value), ("--before-context", Value), ("--context", Value),
    ("--basic-regexp", Nothing), ("--extended-regexp", Nothing), ("--fixed-strings", Nothing),
    ("--perl-regexp", Nothing), ("--regexp", Pattern), ("--file", PatternFile),
    ("--ignore-case", Nothing), ("--no-ignore-case", Nothing), ("--invert-match", Nothing),
    ("--word-regexp", Nothing), ("--line-regexp", Nothing), ("--count", Nothing),
    ("--color", Attached), ("--colour", Attached), ("--files-without-match", Nothing),
    ("--files-with-matches", Nothing), ("--max-count", Value), ("--only-matching", Nothing),
    ("--quiet", Nothing), ("--silent", Nothing), ("--no-messages", Nothing),
    ("--byte-offset", Nothing), ("--with-filename", Nothing), ("--no-filename", Nothing),
    ("--label", Value), ("--line-number", Nothing), ("--initial-tab", Nothing),
    ("--null", Nothing), ("--null-data", Nothing), ("--text", Nothing),
    ("--binary-files", Value), ("--recursive", Nothing), ("--include", Value),
    ("--exclude", Value), ("--exclude-dir", Value), ("--binary", Nothing),
];

/// Left out: `--pre`, `--pre-glob` (run a program on each file),
/// `-z`/`--search-zip` (runs decompressors), `--hostname-bin` (runs a
/// program), `--ignore-file` and `-f` outside the tree are judged as files.
#[rustfmt::skip]
const RG: &[(&str, Takes)] = &[
    ("-A", Value), ("-B", Value), ("-C", Value), ("-F", Nothing), ("-H", Nothing),
    ("-I", Nothing), ("-M", Value), ("-N", Nothing), ("-P", Nothing),
    ("-S", Nothing), ("-T", Value), ("-U", Nothing), ("-a", Nothing), ("-b", Nothing),
    ("-c", Nothing), ("-d", Value), ("-e", Pattern), ("-f", PatternFile), ("-g", Value),
    ("-i", Nothing), ("-j", Value), ("-l", Nothing), ("-m", Value), ("-n", Nothing),
    ("-o", Nothing), ("-p", Nothing), ("-q", Nothing), ("-r", Value), ("-s", Nothing),
    ("-t", Value), ("-u", Nothing), ("-v", Nothing), ("-w", Nothing), ("-x", Nothing),
    ("-0", Nothing), ("-.", Nothing),
    ("--after-context", Value), ("--before-context", Value), ("--context", Value),
    ("--fixed-strings", Nothing), ("--with-filename", Nothing), ("--no-filename", Nothing),
    ("--max-columns", Value), ("--no-line-number", Nothing),
    ("--pcre2", Nothing), ("--smart-case", Nothing), ("--type-not", Value),
    ("--multiline", Nothing), ("--multiline-dotall", Nothing), ("--text", Nothing),
    ("--byte-offset", Nothing), ("--count", Nothing), ("--count-matches", Nothing),
    ("--max-depth", Value), ("--regexp", Pattern), ("--file", PatternFile), ("--glob", Value),
    ("--iglob", Value), ("--ignore-case", Nothing), ("--threads", Value),
    ("--files-with-matches", Nothing), ("--files-without-match", Nothing),
    ("--max-count", Value), ("--line-number", Nothing), ("--only-matching", Nothing),
    ("--pretty", Nothing), ("--quiet", Nothing), ("--replace", Value), ("--no-messages", Nothing),
    ("--type", Value), ("--unrestricted", Nothing), ("--invert-match", Nothing),
    ("--word-regexp", Nothing), ("--line-regexp", Nothing), ("--null", Nothing),
    ("--hidden", Nothing), ("--no-ignore", Nothing), ("--no-ignore-vcs", Nothing),
    ("--files", Nothing), ("--type-list", Nothing), ("--json", Nothing), ("--color", Value),
    ("--colors", Value), ("--column", Nothing), ("--heading", Nothing), ("--no-heading", Nothing),
    ("--sort", Value), ("--sortr", Value), ("--stats", Nothing), ("--trim", Nothing),
    ("--vimgrep", Nothing), ("--case-sensitive", Nothing), ("--max-filesize", Value),
    ("--ignore-file", File), ("--engine", Value), ("--passthru", Nothing),
];

#[rustfmt::skip]
const HEAD_TAIL: &[(&str, Takes)] = &[
    ("-c", Value), ("-n", Value), ("-q", Nothing), ("-v", Nothing), ("-z", Nothing),
    ("-f", Nothing), ("-F", Nothing), ("-s", Value),
    ("--bytes", Value), ("--lines", Value), ("--quiet", Nothing), ("--silent", Nothing),
    ("--verbose", Nothing), ("--zero-terminated", Nothing), ("--follow", Attached),
    ("--retry", Nothing), ("--sleep-interval", Value), ("--pid", Value),
];

#[rustfmt::skip]
const LS: &[(&str, Takes)] = &[
    ("-1", Nothing), ("-A", Nothing), ("-B", Nothing), ("-C", Nothing), ("-F", Nothing),
    ("-G", Nothing), ("-H", Nothing), ("-I", Value), ("-N", Nothing),
    ("-Q", Nothing), ("-R", Nothing), ("-S", Nothing), ("-T", Value), ("-U", Nothing),
    ("-X", Nothing), ("-Z", Nothing), ("-a", Nothing), ("-b", Nothing), ("-c", Nothing),
    ("-d", Nothing), ("-f", Nothing), ("-g", Nothing), ("-h", Nothing), ("-i", Nothing),
    ("-k", Nothing), ("-l", Nothing), ("-m", Nothing), ("-n", Nothing), ("-o", Nothing),
    ("-p", Nothing), ("-q", Nothing), ("-s", Nothing), ("-t", Nothing),
    ("-u", Nothing), ("-v", Nothing), ("-w", Value), ("-x", Nothing),
    ("--all", Nothing), ("--almost-all", Nothing), ("--author", Nothing),
    ("--block-size", Value), ("--classify", Attached), ("--color", Attached),
    ("--directory", Nothing), ("--full-time", Nothing),
    ("--group-directories-first", Nothing), ("--hide", Value), ("--ignore", Value),
    ("--human-readable", Nothing), ("--si", Nothing), ("--inode", Nothing),
    ("--numeric-uid-gid", Nothing), ("--recursive", Nothing), ("--reverse", Nothing),
    ("--size", Nothing), ("--sort", Value), ("--time", Value), ("--time-style", Value),
    ("--format", Value), ("--width", Value), ("--quoting-style", Value), ("--literal", Nothing),
    ("--indicator-style", Value), ("--file-type", Nothing), ("--hyperlink", Attached),
];

/// Left out: `-o`/`--output` (writes the sorted result), `-T` (temporary
/// files elsewhere), `--compress-program` (runs a program), `--files0-from`.
#[rustfmt::skip]
const SORT: &[(&str, Takes)] = &[
    ("-b", Nothing), ("-c", Nothing), ("-C", Nothing), ("-d", Nothing), ("-f", Nothing),
    ("-g", Nothing), ("-h", Nothing), ("-i", Nothing), ("-k", Value), ("-M", Nothing),
    ("-m", Nothing), ("-n", Nothing), ("-R", Nothing), ("-r", Nothing), ("-s", Nothing),
    ("-t", Value), ("-u", Nothing), ("-V", Nothing), ("-z", Nothing),
    ("--ignore-leading-blanks", Nothing), ("--check", Attached), ("--dictionary-order", Nothing),
    ("--ignore-case", Nothing), ("--general-numeric-sort", Nothing),
    ("--human-numeric-sort", Nothing), ("--ignore-nonprinting", Nothing), ("--key", Value),
    ("--month-sort", Nothing), ("--merge", Nothing), ("--numeric-sort", Nothing),
    ("--random-sort", Nothing), ("--reverse", Nothing), ("--stable", Nothing),
    ("--field-separator", Value), ("--unique", Nothing), ("--version-sort", Nothing),
    ("--zero-terminated", Nothing), ("--sort", Value),
];

/// Left out: `-o` (writes the tree to a file), `--fromfile` (reads a
/// listing from elsewhere), `-R` (writes `00Tree.html` files with `-H`),
/// `-H` (HTML output is fine, but its base URL ends up in links).
#[rustfmt::skip]
const TREE: &[(&str, Takes)] = &[
    ("-a", Nothing), ("-d", Nothing), ("-f", Nothing), ("-x", Nothing),
    ("-L", Value), ("-P", Value), ("-I", Value), ("-i", Nothing), ("-q", Nothing),
    ("-N", Nothing), ("-Q", Nothing), ("-p", Nothing), ("-u", Nothing), ("-g", Nothing),
    ("-s", Nothing), ("-h", Nothing), ("-D", Nothing), ("-F", Nothing), ("-v", Nothing),
    ("-t", Nothing), ("-c", Nothing), ("-U", Nothing), ("-r", Nothing), ("-C", Nothing),
    ("-n", Nothing), ("-J", Nothing), ("-X", Nothing),
    ("--noreport", Nothing), ("--dirsfirst", Nothing), ("--filesfirst", Nothing),
    ("--gitignore", Nothing), ("--matchdirs", Nothing), ("--ignore-case", Nothing),
    ("--prune", Nothing), ("--charset", Value), ("--filelimit", Value), ("--du", Nothing),
    ("--si", Nothing), ("--sort", Value), ("--inodes", Nothing), ("--device", Nothing),
    ("--timefmt", Value),
];

/// At most one operand: a second one is a file `uniq` writes.
#[rustfmt::skip]
const UNIQ: &[(&str, Takes)] = &[
    ("-c", Nothing), ("-d", Nothing), ("-D", Nothing), ("-f", Value), ("-i", Nothing),
    ("-s", Value), ("-u", Nothing), ("-w", Value), ("-z", Nothing),
    ("--count", Nothing), ("--repeated", Nothing), ("--all-repeated", Attached),
    ("--skip-fields", Value), ("--ignore-case", Nothing), ("--skip-chars", Value),
    ("--unique", Nothing), ("--check-chars", Value), ("--zero-terminated", Nothing),
    ("--group", Attached),
];

/// Left out: `--files0-from` (a list of files from elsewhere).
#[rustfmt::skip]
const WC: &[(&str, Takes)] = &[
    ("-c", Nothing), ("-l", Nothing), ("-L", Nothing), ("-m", Nothing), ("-w", Nothing),
    ("--bytes", Nothing), ("--chars", Nothing), ("--lines", Nothing), ("--words", Nothing),
    ("--max-line-length", Nothing), ("--total", Value),
];

#[rustfmt::skip]
const CAT: &[(&str, Takes)] = &[
    ("-A", Nothing), ("-b", Nothing), ("-e", Nothing), ("-E", Nothing), ("-n", Nothing),
    ("-s", Nothing), ("-t", Nothing), ("-T", Nothing), ("-u", Nothing), ("-v", Nothing),
    ("--show-all", Nothing), ("--number-nonblank", Nothing), ("--show-ends", Nothing),
    ("--number", Nothing), ("--squeeze-blank", Nothing), ("--show-tabs", Nothing),
    ("--show-nonprinting", Nothing),
];

#[rustfmt::skip]
const DIFF: &[(&str, Takes)] = &[
    ("-a", Nothing), ("-b", Nothing), ("-B", Nothing), ("-c", Nothing), ("-C", Value),
    ("-d", Nothing), ("-E", Nothing), ("-i", Nothing), ("-I", Value), ("-N", Nothing),
    ("-p", Nothing), ("-q", Nothing), ("-s", Nothing), ("-t", Nothing),
    ("-T", Nothing), ("-u", Nothing), ("-U", Value), ("-w", Nothing), ("-W", Value),
    ("-x", Value), ("-X", File), ("-y", Nothing), ("-Z", Nothing),
    ("--brief", Nothing), ("--report-identical-files", Nothing), ("--context", Attached),
    ("--unified", Attached), ("--side-by-side", Nothing),
    ("--new-file", Nothing), ("--text", Nothing), ("--ignore-case", Nothing),
    ("--ignore-all-space", Nothing), ("--ignore-space-change", Nothing),
    ("--ignore-blank-lines", Nothing), ("--strip-trailing-cr", Nothing), ("--color", Attached),
    ("--label", Value), ("--exclude", Value), ("--exclude-from", File), ("--normal", Nothing),
    ("--suppress-common-lines", Nothing), ("--show-c-function", Nothing), ("--width", Value),
    ("--from-file", File), ("--to-file", File), ("--minimal", Nothing),
];

#[rustfmt::skip]
const PROGRAMS: &[Program] = &[
    program("basename", &[("-a", Nothing), ("-s", Value), ("-z", Nothing), ("--multiple", Nothing), ("--suffix", Value), ("--zero", Nothing)], Operands::Text),
    program("cat", CAT, Operands::Files),
    program("cmp", &[("-b", Nothing), ("-i", Value), ("-l", Nothing), ("-n", Value), ("-s", Nothing), ("--print-bytes", Nothing), ("--ignore-initial", Value), ("--verbose", Nothing), ("--bytes", Value), ("--quiet", Nothing), ("--silent", Nothing)], Operands::Files),
    program("column", &[("-t", Nothing), ("-s", Value), ("-c", Value), ("-x", Nothing), ("-n", Nothing), ("-o", Value), ("-N", Value), ("-R", Value), ("-J", Nothing), ("--table", Nothing), ("--separator", Value), ("--output-separator", Value)], Operands::Files),
    program("cut", &[("-b", Value), ("-c", Value), ("-d", Value), ("-f", Value), ("-n", Nothing), ("-s", Nothing), ("-z", Nothing), ("--bytes", Value), ("--characters", Value), ("--delimiter", Value), ("--fields", Value), ("--complement", Nothing), ("--only-delimited", Nothing), ("--output-delimiter", Value), ("--zero-terminated", Nothing)], Operands::Files),
    // Left out: `-s`/`--set` (sets the clock), `-f`/`--file`.
    program("date", &[("-u", Nothing), ("-R", Nothing), ("-I", Attached), ("-d", Value), ("-r", File), ("--utc", Nothing), ("--universal", Nothing), ("--rfc-email", Nothing), ("--iso-8601", Attached), ("--rfc-3339", Value), ("--date", Value), ("--reference", File)], Operands::DateFormat),
    program("df", &[("-a", Nothing), ("-B", Value), ("-h", Nothing), ("-H", Nothing), ("-i", Nothing), ("-k", Nothing), ("-l", Nothing), ("-P", Nothing), ("-T", Nothing), ("-t", Value), ("-x", Value), ("--all", Nothing), ("--human-readable", Nothing), ("--si", Nothing), ("--inodes", Nothing), ("--local", Nothing), ("--portability", Nothing), ("--print-type", Nothing), ("--total", Nothing), ("--output", Attached), ("--type", Value), ("--exclude-type", Value)], Operands::Files),
    program("diff", DIFF, Operands::Files),
    program("dirname", &[("-z", Nothing), ("--zero", Nothing)], Operands::Text),
    program("du", &[("-a", Nothing), ("-b", Nothing), ("-c", Nothing), ("-d", Value), ("-h", Nothing), ("-k", Nothing), ("-m", Nothing), ("-s", Nothing), ("-S", Nothing), ("-x", Nothing), ("-P", Nothing), ("-X", File), ("--all", Nothing), ("--apparent-size", Nothing), ("--bytes", Nothing), ("--total", Nothing), ("--max-depth", Value), ("--human-readable", Nothing), ("--si", Nothing), ("--summarize", Nothing), ("--separate-dirs", Nothing), ("--one-file-system", Nothing), ("--exclude", Value), ("--exclude-from", File), ("--threshold", Value), ("--time", Attached), ("--block-size", Value)], Operands::Files),
    program("echo", &[("-n", Nothing), ("-e", Nothing), ("-E", Nothing)], Operands::Text),
    program("egrep", GREP, Operands::PatternThenFiles),
    program("false", &[], Operands::Text),
    program("fgrep", GREP, Operands::PatternThenFiles),
    // Left out: `-C` (compiles a magic file, writing it), `-z`/`-Z`/
    // `--uncompress` (may run decompressors).
    program("file", &[("-b", Nothing), ("-i", Nothing), ("-L", Nothing), ("-h", Nothing), ("-k", Nothing), ("-s", Nothing), ("-N", Nothing), ("-0", Nothing), ("-E", Nothing), ("-f", File), ("-m", File), ("--brief", Nothing), ("--mime", Nothing), ("--mime-type", Nothing), ("--mime-encoding", Nothing), ("--dereference", Nothing), ("--no-dereference", Nothing), ("--keep-going", Nothing), ("--special-files", Nothing), ("--files-from", File), ("--magic-file", File)], Operands::Files),
    program("grep", GREP, Operands::PatternThenFiles),
    Program { name: "head", options: HEAD_TAIL, operands: Operands::Files, counts: true },
    // An operand would set the host name.
    program("hostname", &[("-f", Nothing), ("-s", Nothing), ("-i", Nothing), ("-I", Nothing), ("-d", Nothing), ("-A", Nothing), ("--fqdn", Nothing), ("--short", Nothing), ("--ip-address", Nothing), ("--all-ip-addresses", Nothing), ("--domain", Nothing)], Operands::Nothing),
    program("id", &[("-u", Nothing), ("-g", Nothing), ("-G", Nothing), ("-n", Nothing), ("-r", Nothing), ("-z", Nothing), ("--user", Nothing), ("--group", Nothing), ("--groups", Nothing), ("--name", Nothing), ("--real", Nothing)], Operands::Text),
    program("ls", LS, Operands::Files),
    program("nl", &[("-b", Value), ("-d", Value), ("-f", Value), ("-h", Value), ("-i", Value), ("-l", Value), ("-n", Value), ("-p", Nothing), ("-s", Value), ("-v", Value), ("-w", Value), ("--body-numbering", Value), ("--number-format", Value), ("--number-width", Value), ("--number-separator", Value)], Operands::Files),
    // Left out: `-v VAR` (assigns a shell variable).
    program("printf", &[], Operands::Text),
    program("pwd", &[("-L", Nothing), ("-P", Nothing)], Operands::Nothing),
    program("readlink", &[("-f", Nothing), ("-e", Nothing), ("-m", Nothing), ("-n", Nothing), ("-q", Nothing), ("-s", Nothing), ("-v", Nothing), ("-z", Nothing), ("--canonicalize", Nothing), ("--canonicalize-existing", Nothing), ("--canonicalize-missing", Nothing), ("--no-newline", Nothing), ("--quiet", Nothing), ("--silent", Nothing), ("--verbose", Nothing), ("--zero", Nothing)], Operands::Files),
    program("realpath", &[("-e", Nothing), ("-m", Nothing), ("-L", Nothing), ("-P", Nothing), ("-q", Nothing), ("-s", Nothing), ("-z", Nothing), ("--canonicalize-existing", Nothing), ("--canonicalize-missing", Nothing), ("--logical", Nothing), ("--physical", Nothing), ("--quiet", Nothing), ("--strip", Nothing), ("--no-symlinks", Nothing), ("--zero", Nothing), ("--relative-to", File), ("--relative-base", File)], Operands::Files),
    program("rg", RG, Operands::PatternThenFiles),
    program("sort", SORT, Operands::Files),
    program("stat", &[("-L", Nothing), ("-f", Nothing), ("-t", Nothing), ("-c", Value), ("--dereference", Nothing), ("--file-system", Nothing), ("--terse", Nothing), ("--format", Value), ("--printf", Value)], Operands::Files),
    Program { name: "tail", options: HEAD_TAIL, operands: Operands::Files, counts: true },
    program("tr", &[("-c", Nothing), ("-C", Nothing), ("-d", Nothing), ("-s", Nothing), ("-t", Nothing), ("--complement", Nothing), ("--delete", Nothing), ("--squeeze-repeats", Nothing), ("--truncate-set1", Nothing)], Operands::Text),
    program("tree", TREE, Operands::Files),
    program("true", &[], Operands::Text),
    program("uname", &[("-a", Nothing), ("-s", Nothing), ("-n", Nothing), ("-r", Nothing), ("-v", Nothing), ("-m", Nothing), ("-p", Nothing), ("-i", Nothing), ("-o", Nothing), ("--all", Nothing), ("--kernel-name", Nothing), ("--nodename", Nothing), ("--kernel-release", Nothing), ("--kernel-version", Nothing), ("--machine", Nothing), ("--operating-system", Nothing)], Operands::Nothing),
    program("uniq", UNIQ, Operands::OneFile),
    program("wc", WC, Operands::Files),
    program("which", &[("-a", Nothing)], Operands::Text),
    program("whoami", &[], Operands::Nothing),
];
