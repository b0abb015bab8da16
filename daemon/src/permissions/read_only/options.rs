//! Reading a command's arguments the way GNU `getopt_long` does, against an
//! allow-list of options: bundled short options (`-la`), values attached or
//! separate (`-n5`, `-n 5`, `--lines=5`, `--lines 5`), `--` ending the
//! options, and options anywhere among the operands.

/// What an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Nothing,
    /// A value that names no file.
    Value,
    /// An optional value, only ever attached (`--color=always`, `-U3`).
    Attached,
    /// A file to read.
    Path,
    /// The search pattern (so every operand is a file).
    Pattern,
    /// A file of search patterns (so every operand is a file).
    PatternFile,
}

/// Arguments sorted by what they are.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    pub operands: Vec<&'a str>,
    /// Values of options that name files.
    pub paths: Vec<&'a str>,
    /// A pattern was given by option (`-e`, `-f`, `--regexp`).
    pub pattern_given: bool,
}

/// Sorts `args`, or `None` when one of them is an option not in `known`
/// (or misses its value).
pub fn parse<'a>(args: &'a [String], known: &[(&str, Takes)], counts: bool) -> Option<Parsed<'a>> {
    let lookup = |name: &str| {
        known
            .iter()
            .find(|(option, _)| *option == name)
            .map(|(_, takes)| *takes)
    };
    let mut parsed = Parsed::default();
    let mut args = args.iter().map(String::as_str);
    let mut options_ended = false;
    while let Some(arg) = args.next() {
        if options_ended || arg == "-" || !arg.starts_with('-') {
            parsed.operands.push(arg);
            continue;
        }
        if arg == "--" {
            options_ended = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let takes = lookup(&format!("--{name}"))?;
            let value = match (takes, attached) {
                (Takes::Nothing, Some(_)) => return None,
                (Takes::Nothing | Takes::Attached, _) => None,
                (_, Some(value)) => Some(value),
                (_, None) => Some(args.next()?),
            };
            record(&mut parsed, takes, value);
            continue;
        }
        let letters = &arg[1..];
        if counts && letters.chars().all(|ch| ch.is_ascii_digit()) {
            continue;
        }
        for (at, letter) in letters.char_indices() {
            let takes = lookup(&format!("-{letter}"))?;
            if takes == Takes::Nothing {
                continue;
            }
            let rest = &letters[at + letter.len_utf8()..];
            let value = match takes {
                Takes::Attached => None,
                _ if rest.is_empty() => Some(args.next()?),
                _ => Some(rest),
            };
            record(&mut parsed, takes, value);
            break;
        }
    }
    Some(parsed)
}

fn record<'a>(parsed: &mut Parsed<'a>, takes: Takes, value: Option<&'a str>) {
    match takes {
        Takes::Path => parsed.paths.extend(value),
        Takes::Pattern => parsed.pattern_given = true,
        Takes::PatternFile => {
            parsed.pattern_given = true;
            parsed.paths.extend(value);
        }
        Takes::Nothing | Takes::Value | Takes::Attached => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[(&str, Takes)] = &[
        ("-l", Takes::Nothing),
        ("-a", Takes::Nothing),
        ("-n", Takes::Value),
        ("-f", Takes::PatternFile),
        ("--color", Takes::Attached),
        ("--lines", Takes::Value),
        ("--from", Takes::Path),
    ];

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_are_read_like_getopt() {
        let line = args("-la -n5 x --lines 3 --color=always -- -f y --from=z");
        let parsed = parse(&line, KNOWN, false).unwrap();
        assert_eq!(parsed.operands, ["x", "-f", "y", "--from=z"]);
        assert!(!parsed.pattern_given);
        let line = args("-lf pats --from src a");
        let parsed = parse(&line, KNOWN, false).unwrap();
        assert_eq!(parsed.paths, ["pats", "src"]);
        assert_eq!(parsed.operands, ["a"]);
        assert!(parsed.pattern_given);
    }

    #[test]
    fn unknown_or_incomplete_options_refuse() {
        for line in [
            "-x",
            "-lx",
            "--lines",
            "--colour",
            "-n",
            "--a=1",
            "--color x -q",
        ] {
            assert!(parse(&args(line), KNOWN, false).is_none(), "{line}");
        }
        assert!(parse(&args("-20"), KNOWN, false).is_none());
        assert!(parse(&args("-20"), KNOWN, true).is_some());
    }
}
