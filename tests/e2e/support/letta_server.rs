//! The real Letta server tier: a Letta 0.16.8 server with a scripted model,
//! brought up by the repository's `tests/tools/letta-server.sh` (installed
//! once under `~/.cache/letta-daemon-tests/letta-server`, started on first
//! use and left running). `LETTA_TEST_BASE_URL` points the tests at a server
//! that is already up.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Installing takes about two minutes the first time.
const SETUP_TIMEOUT: Duration = Duration::from_secs(900);

pub const MODEL: &str = "openai-proxy/fake-model";
pub const EMBEDDING: &str = "openai/text-embedding-3-small";

/// The scripted model the real server calls (started with it), for a
/// daemon whose local agents should call the same model.
pub fn model_url() -> String {
    std::env::var("LETTA_TEST_MODEL_URL").unwrap_or_else(|_| "http://127.0.0.1:8399/v1".to_owned())
}

/// The base URL of a running real Letta server, starting one if needed.
pub fn base_url() -> String {
    if let Ok(url) = std::env::var("LETTA_TEST_BASE_URL") {
        return url;
    }
    let dir = std::env::var_os("LETTA_TEST_SERVER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::home_dir()
                .unwrap()
                .join(".cache/letta-daemon-tests/letta-server")
        });
    std::fs::create_dir_all(&dir).unwrap();
    // Tests run in parallel processes: one sets the server up, the others wait.
    let lock = File::create(dir.join(".e2e-setup.lock")).unwrap();
    lock.lock().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/letta-server.sh");
    for step in ["install", "start"] {
        run_setup(&script, &dir, step);
    }
    drop(lock);
    "http://127.0.0.1:8283".to_owned()
}

fn run_setup(script: &PathBuf, dir: &PathBuf, step: &str) {
    let log = dir.join(format!("e2e-{step}.log"));
    let mut child = Command::new("bash")
        .arg(script)
        .arg(dir)
        .arg(step)
        .stdin(Stdio::null())
        .stdout(File::create(&log).unwrap())
        .stderr(File::create(dir.join(format!("e2e-{step}.err"))).unwrap())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    let deadline = Instant::now() + SETUP_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            let errors =
                std::fs::read_to_string(dir.join(format!("e2e-{step}.err"))).unwrap_or_default();
            assert!(
                status.success(),
                "letta-server setup {step} failed:\n{output}\n{errors}"
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("letta-server setup {step} took longer than {SETUP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
