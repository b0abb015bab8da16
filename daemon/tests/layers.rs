//! The daemon's layers point one way: `server → rpc → {workspace,
//! terminals, crons} → runtime → backend → {tools, permissions} → store`, with
//! `util`, `fs`, `git` and `pty` leaves anyone may use. A lower layer naming a higher one fails here, with the line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The layers from the top down; a layer may name those below it, never
/// those above.
const LAYERS: &[&[&str]] = &[
    &["app.rs"],
    &["server"],
    &["rpc"],
    &["workspace", "terminals.rs", "crons"],
    &["runtime"],
    &["backend"],
    &["permissions"],
    &["tools"],
    &["store"],
    &["fs.rs", "util.rs", "git.rs", "pty.rs"],
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
    for (level, layers) in LAYERS.iter().enumerate() {
        let above: Vec<&str> = LAYERS[..level]
            .iter()
            .flat_map(|layers| layers.iter())
            .map(|layer| layer.trim_end_matches(".rs"))
            .collect();
        for layer in *layers {
            for file in sources(&src.join(layer)) {
                let text = std::fs::read_to_string(&file).unwrap();
                for (number, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    for module in &above {
                        if [":", ";", "{"]
                            .iter()
                            .any(|end| code.contains(&format!("crate::{module}{end}")))
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
    }
    assert!(crossings.is_empty(), "{}", crossings.join("\n"));
}
