//! Letta Code's official `AppServerClient`, installed once for the tests
//! that run it with Node (`tests/node/`).

use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A script of `tests/node/`.
pub fn script(name: &str) -> PathBuf {
    repo_root().join("tests/node").join(name)
}

/// Installs (once) Letta Code's npm package and its `ws` dependency;
/// returns the folder.
pub fn official_client_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| install("letta-code-client.sh")).clone()
}

/// Runs an installer of `tests/tools/` (each reuses what it installed
/// before) and returns the folder it prints.
pub fn install(script: &str) -> PathBuf {
    let script = repo_root().join("tests/tools").join(script);
    let output = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// Runs a script of `tests/node/` with `args`, at most `timeout`, and
/// reads the one JSON value it prints. A failing script fails the test with
/// what it wrote.
pub async fn run_json(
    script: &str,
    args: &[&std::ffi::OsStr],
    timeout: std::time::Duration,
) -> serde_json::Value {
    let output = tokio::time::timeout(
        timeout,
        tokio::process::Command::new("node")
            .arg(self::script(script))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("node {script} took longer than {timeout:?}"))
    .expect("cannot run node");
    assert!(
        output.status.success(),
        "node {script} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
