//! Frontends as processes of their own, for the soak: Letta Code's
//! official client, `letta-ctl events --follow`, `letta-ctl attach` and
//! the editor bridge (`letta-ctl acp`, its session loaded), each started in
//! a round and killed with SIGKILL at the round's random moment, like a
//! closed editor or terminal. What each printed before it died is checked
//! against what the soak's own frontend received.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::ctl::{Running, Shell};
use crate::support::{Daemon, node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OfficialClient,
    CtlEvents,
    CtlAttach,
    AcpBridge,
}

pub const KINDS: [Kind; 4] = [
    Kind::OfficialClient,
    Kind::CtlEvents,
    Kind::CtlAttach,
    Kind::AcpBridge,
];

pub enum Watcher {
    Node {
        child: tokio::process::Child,
        stdout: PathBuf,
        stderr: PathBuf,
    },
    Ctl(Kind, Running),
}

/// What a killed watcher printed.
pub struct Printed {
    kind: Kind,
    stdout: String,
    stderr: String,
}

impl Watcher {
    /// Starts a watcher of `runtime` (working in `cwd`) on `daemon`, from
    /// after event `after` (the bridge replays the whole session).
    pub async fn start(
        kind: Kind,
        shell: &Shell,
        daemon: &Daemon,
        (runtime, cwd): (&Value, &Path),
        after: u64,
        name: &str,
    ) -> Watcher {
        let target = [
            "--agent",
            runtime["agent_id"].as_str().unwrap_or_default(),
            "--conversation",
            runtime["conversation_id"].as_str().unwrap_or_default(),
        ];
        let after = after.to_string();
        match kind {
            Kind::OfficialClient => start_node(shell, daemon, runtime, &after, name),
            Kind::CtlEvents => {
                let mut args = vec!["events", "--follow", "--after", &after];
                args.extend(target);
                Watcher::Ctl(kind, shell.spawn(name, &args))
            }
            Kind::CtlAttach => {
                let mut args = vec!["attach", "--after", &after];
                args.extend(target);
                Watcher::Ctl(kind, shell.spawn(name, &args))
            }
            Kind::AcpBridge => {
                let mut bridge = shell.spawn_answering(name, &["acp", "--agent", target[1]]);
                let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": 1, "clientCapabilities": {}}});
                let load = json!({"jsonrpc": "2.0", "id": 2, "method": "session/load",
                    "params": {"sessionId": target[3], "cwd": cwd, "mcpServers": []}});
                bridge.answer(&initialize.to_string()).await;
                bridge
                    .wait_for_output("the answer to initialize", |stdout, _| {
                        stdout.contains(r#""id":1"#)
                    })
                    .await;
                bridge.answer(&load.to_string()).await;
                Watcher::Ctl(kind, bridge)
            }
        }
    }

    pub async fn kill(self) -> Printed {
        match self {
            Watcher::Node {
                mut child,
                stdout,
                stderr,
            } => {
                let _ = child.kill().await;
                Printed {
                    kind: Kind::OfficialClient,
                    stdout: std::fs::read_to_string(stdout).unwrap_or_default(),
                    stderr: std::fs::read_to_string(stderr).unwrap_or_default(),
                }
            }
            Watcher::Ctl(kind, running) => {
                let (stdout, stderr) = running.kill().await;
                Printed {
                    kind,
                    stdout,
                    stderr,
                }
            }
        }
    }
}

fn start_node(shell: &Shell, daemon: &Daemon, runtime: &Value, after: &str, name: &str) -> Watcher {
    let file = |ext: &str| shell.home.join(format!("{name}.{ext}"));
    let (stdout, stderr) = (file("out"), file("err"));
    let create = |path: &Path| std::fs::File::create(path).unwrap();
    let child = tokio::process::Command::new("node")
        .arg(node::script("watch-events.mjs"))
        .arg(daemon.ws_url("/ws"))
        .arg(node::official_client_dir())
        .arg(runtime.to_string())
        .arg(after)
        .stdin(Stdio::null())
        .stdout(create(&stdout))
        .stderr(create(&stderr))
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run node");
    Watcher::Node {
        child,
        stdout,
        stderr,
    }
}

impl Printed {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Events printed one per line (the official client's and `events`'s)
    /// are consecutive and each is the event of that number as the soak's
    /// frontend received it; nothing panicked. Returns how many events it
    /// printed.
    pub fn check(&self, received: &HashMap<u64, &Value>) -> usize {
        let kind = self.kind;
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "{kind:?}: {}",
            self.stderr
        );
        // A line cut by the kill has no newline yet.
        let whole = self.stdout.rsplit_once('\n').map_or("", |(whole, _)| whole);
        match kind {
            Kind::CtlAttach => return 0,
            Kind::AcpBridge => return check_acp(whole),
            Kind::OfficialClient | Kind::CtlEvents => {}
        }
        let mut previous: Option<u64> = None;
        let mut printed = 0;
        for line in whole.lines() {
            let frame: Value = serde_json::from_str(line).unwrap_or_else(|err| {
                panic!("{kind:?} printed a line that is not JSON ({err}): {line}")
            });
            let seq = frame["event_seq"].as_u64().expect("an event_seq");
            if let Some(previous) = previous {
                assert_eq!(seq, previous + 1, "{kind:?} printed events out of order");
            }
            previous = Some(seq);
            assert_eq!(
                Some(&&frame),
                received.get(&seq),
                "{kind:?} printed event {seq} unlike the soak's frontend received it"
            );
            printed += 1;
        }
        printed
    }
}

/// The bridge wrote JSON-RPC only and answered `initialize` and
/// `session/load` (if it got that far) without an error; returns how many
/// session updates it sent.
fn check_acp(whole: &str) -> usize {
    let mut updates = 0;
    for line in whole.lines() {
        let message: Value = serde_json::from_str(line).unwrap_or_else(|err| {
            panic!("the bridge wrote a line that is not JSON ({err}): {line}")
        });
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        if message.get("id").is_some() && message.get("method").is_none() {
            assert!(message.get("error").is_none(), "the bridge failed: {line}");
        }
        if message["method"] == "session/update" {
            updates += 1;
        }
    }
    updates
}
