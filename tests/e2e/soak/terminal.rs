//! A live terminal in each round of the soak: a shell printing numbered
//! ticks, watched by a frontend of its own until the daemon is killed
//! (now and then that frontend leaves midway and reattaches from the
//! offset it had). Its output must arrive gap-free, once and in order up
//! to the kill; after the
//! restart a frontend reattaching is told the terminal ended with the
//! daemon, and its shell is gone, not left behind.

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::Daemon;
use letta_client::FrameClient;

use crate::support::frontend::{Frontend, TURN_TIMEOUT};

/// A terminal of one round, and the task reading its output.
pub struct Terminal {
    /// Its frontend leaves and reattaches midway.
    pub reattaches: bool,
    id: String,
    pid: u32,
    reader: JoinHandle<Vec<Value>>,
}

impl Terminal {
    /// Spawns terminal `id` in `cwd` and starts it ticking; its frontend
    /// reattaches after `reattach_after` output frames, if given.
    pub async fn open(
        daemon: &Daemon,
        id: String,
        cwd: &std::path::Path,
        reattach_after: Option<usize>,
    ) -> Terminal {
        let mut frontend = Frontend::connect(daemon).await;
        frontend
            .send(json!({
                "type": "terminal_spawn", "terminal_id": id, "cols": 120, "rows": 40,
                "cwd": cwd.display().to_string(),
            }))
            .await;
        let spawned = frontend
            .wait_for("the terminal", |frame| {
                frame["type"] == "terminal_spawned" && frame["terminal_id"] == id
            })
            .await;
        let pid = spawned["pid"].as_u64().unwrap() as u32;
        frontend
            .send(json!({
                "type": "terminal_input", "terminal_id": id,
                "data": "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.01; done\n",
            }))
            .await;
        let reader = tokio::spawn(read_until_closed(
            frontend,
            daemon.ws_url("/ws"),
            id.clone(),
            reattach_after,
        ));
        Terminal {
            reattaches: reattach_after.is_some(),
            id,
            pid,
            reader,
        }
    }

    /// After the daemon was killed and `restarted` took its place: checks
    /// what was printed, and that the terminal is reported ended and its
    /// shell gone. Returns how many ticks it printed.
    pub async fn check_after_restart(self, restarted: &Daemon) -> usize {
        let output = self.reader.await.unwrap();
        let mut offset = 0;
        let mut text = String::new();
        for frame in &output {
            let data = frame["data"].as_str().unwrap();
            let end = frame["offset"].as_u64().unwrap();
            assert_eq!(
                end - data.len() as u64,
                offset,
                "terminal {} output follows on: {frame}",
                self.id
            );
            offset = end;
            text.push_str(data);
        }
        let ticks: Vec<usize> = text
            .lines()
            // The shell may start a line with control sequences of its own.
            .filter_map(|line| {
                let tick = &line[line.rfind("tick-")? + "tick-".len()..];
                let digits = tick
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(tick.len());
                tick[..digits].parse().ok()
            })
            .collect();
        let expected: Vec<usize> = (1..=ticks.len()).collect();
        assert_eq!(ticks, expected, "terminal {} ticks in order", self.id);

        let mut frontend = Frontend::connect(restarted).await;
        frontend
            .send(json!({
                "type": "terminal_spawn", "terminal_id": self.id, "cols": 120, "rows": 40,
                "after_offset": offset,
            }))
            .await;
        let exited = frontend
            .wait_for("the terminal's end", |frame| {
                frame["type"] == "terminal_exited" && frame["terminal_id"] == self.id
            })
            .await;
        assert!(
            exited["error"]
                .as_str()
                .is_some_and(|error| error.starts_with("the daemon stopped")),
            "{exited}"
        );
        crate::terminals::until_gone(self.pid).await;
        ticks.len()
    }
}

/// The terminal's output frames until the daemon is gone. After
/// `reattach_after` frames the connection is dropped and a new one
/// reattaches from the offset reached.
async fn read_until_closed(
    frontend: Frontend,
    url: String,
    id: String,
    mut reattach_after: Option<usize>,
) -> Vec<Value> {
    let mut client = frontend.client;
    let mut output: Vec<Value> = Vec::new();
    loop {
        if reattach_after == Some(output.len()) {
            reattach_after = None;
            drop(client);
            let Ok(again) = FrameClient::connect(&url, None).await else {
                return output;
            };
            client = again;
            let offset = output
                .last()
                .map_or(0, |frame| frame["offset"].as_u64().unwrap());
            let spawn = json!({
                "type": "terminal_spawn", "terminal_id": id, "cols": 120, "rows": 40,
                "after_offset": offset,
            });
            if client.send(spawn).await.is_err() {
                return output;
            }
        }
        match client.next_unsolicited(TURN_TIMEOUT).await {
            Ok(frame) if frame["type"] == "terminal_output" && frame["terminal_id"] == id => {
                output.push(frame);
            }
            Ok(_) => {}
            Err(_) => return output,
        }
    }
}
