//! The daemon's layers point one way: `server → rpc → runtime →
//! {tools, permissions} → store`, with `util` and `fs` leaves anyone may
//! use. A lower layer naming a higher one fails here, with the line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Each layer, and the modules it must never name.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("rpc", &["server", "app"]),
    ("runtime", &["rpc", "server", "app"]),
    ("permissions", &["runtime", "rpc", "server", "app"]),
    ("tools", &["permissions", "runtime", "rpc", "server", "app"]),
    (
        "store",
        &["tools", "permissions", "runtime", "rpc", "server", "app"],
    ),
    (
        "util.rs",
        &[
            "store",
            "tools",
            "permissions",
            "runtime",
            "rpc",
            "server",
            "app",
        ],
    ),
    (
        "fs.rs",
        &[
            "store",
            "tools",
            "permissions",
            "runtime",
            "rpc",
            "server",
            "app",
        ],
    ),
];

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        files.extend(sources(&entry.unwrap().path()));
    }
    files
}

#[test]
fn lower_layers_never_name_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut crossings = Vec::new();
    for (layer, forbidden) in FORBIDDEN {
        for file in sources(&src.join(layer)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for module in *forbidden {
                    if code.contains(&format!("crate::{module}::"))
                        || code.contains(&format!("crate::{module};"))
                        || code.contains(&format!("crate::{module}{{"))
                    {
                        crossings.push(format!(
                            "{}:{}: {layer} names {module}: {}",
                            file.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(crossings.is_empty(), "{}", crossings.join("\n"));
}
