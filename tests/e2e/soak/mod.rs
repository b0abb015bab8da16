//! The crash soak: multi-step turns (a command a rule allows, a command a
//! frontend approves, a subagent the agent waits for that does the same,
//! a long streamed answer, inputs queued behind each other) while the
//! daemon is killed with SIGKILL at random moments, and in a third of the
//! rounds its frontend's connection is dropped as well, on its own. Each
//! round also has a frontend process watching (Letta Code's official
//! client, `letta-ctl events --follow`, `letta-ctl attach` or the editor
//! bridge), killed with SIGKILL at the round's moment, just before the
//! daemon, and a live terminal (`terminal.rs`). After every restart or
//! drop a new frontend resumes from the last `event_seq` seen and sends
//! again every input ever sent (it cannot know which ones were accepted).
//! At the end:
//!
//! * every event arrived exactly once and in order (consecutive
//!   `event_seq`s across all the daemons), and the answers streamed are
//!   exactly the answers stored;
//! * what each killed watcher printed before it died is consecutive and
//!   the same as what the soak's frontend received;
//! * every input reached the agent once and its turn finished;
//! * no command ran twice: each appends a line of its own to a file, and
//!   every line is there at most once — exactly once when the agent was
//!   told the command ran;
//! * each subagent's report came back to the agent once.
//!
//! CI runs a few kills per backend. The long run (README, "Reliability"):
//! `LETTA_SOAK_KILLS=100 cargo test -p letta-daemon --test e2e soak -- --nocapture`;
//! `LETTA_SOAK_SEED` repeats a run's random moments.

mod terminal;
mod watchers;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::local_tools::approval;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::ctl::Shell;
use crate::support::frontend::{Frontend, TURN_TIMEOUT, start_runtime, user_input};
use crate::support::{Daemon, Options};
use terminal::Terminal;
use watchers::{Printed, Watcher};

on_both_backends!(crash_soak);

/// Kills per backend when `LETTA_SOAK_KILLS` is not set.
const SHORT_KILLS: usize = 4;
/// The longest a round runs before its kill.
const LONGEST_ROUND: Duration = Duration::from_millis(900);

// The seed and the figures are printed: a failure is repeated with the
// seed, and the long run's figures go to RELIABILITY.md.
#[allow(clippy::print_stderr)]
async fn crash_soak(backend: Backend) {
    let kills = env_number("LETTA_SOAK_KILLS").unwrap_or(SHORT_KILLS as u64) as usize;
    let seed = env_number("LETTA_SOAK_SEED").unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash soak: {kills} kills, LETTA_SOAK_SEED={seed}");
    let mut soak = Soak::start(backend, seed).await;
    let (mut ticks, mut reattached) = (0, 0);
    for round in 0..kills {
        let watcher = soak.start_watcher(round).await;
        let terminal = soak.open_terminal(round).await;
        soak.send_input(round).await;
        if round % 3 == 2 {
            // One more behind it, to be queued when the kill comes.
            soak.send_input(kills + round).await;
        }
        if soak.rng.u8(..3) == 0 {
            // The frontend alone dies now and then, as a closed terminal or
            // editor would, with approvals and turns in flight.
            soak.follow_for_a_while().await;
            soak.crash_and_resume(Crash::Frontend).await;
            soak.frontend_crashes += 1;
        }
        soak.follow_for_a_while().await;
        soak.watchers.push(watcher.kill().await);
        soak.crash_and_resume(Crash::Daemon).await;
        reattached += usize::from(terminal.reattaches);
        ticks += terminal.check_after_restart(soak.daemon()).await;
    }
    soak.follow(None).await;
    let watched = soak.check().await;
    eprintln!(
        "crash soak: {kills} kills, {} frontend crashes, {} inputs, {} subagents, {} events, {} commands counted",
        soak.frontend_crashes,
        soak.inputs.len(),
        soak.inputs
            .iter()
            .filter(|(_, text)| subagent_description(text).is_some())
            .count(),
        soak.events.len(),
        soak.counted_lines().len(),
    );
    eprintln!(
        "crash soak: {kills} terminals ({reattached} reattached midway) ticked {ticks} times, \
         each gap-free until its kill"
    );
    for kind in watchers::KINDS {
        let killed: Vec<usize> = soak
            .watchers
            .iter()
            .zip(&watched)
            .filter(|(printed, _)| printed.kind() == kind)
            .map(|(_, events)| *events)
            .collect();
        eprintln!(
            "crash soak: {kind:?} killed {} times, having printed {} events",
            killed.len(),
            killed.iter().sum::<usize>()
        );
    }
}

struct Soak {
    backend: Backend,
    rng: fastrand::Rng,
    project: tempfile::TempDir,
    /// The first daemon: its directory holds the data every later one uses.
    first: Daemon,
    current: Option<Daemon>,
    frontend: Frontend,
    runtime: Value,
    /// Every runtime event received, across all the daemons, in order.
    events: Vec<Value>,
    /// Client message id -> text of every input sent.
    inputs: Vec<(String, String)>,
    /// Approvals answered on the current connection.
    answered: HashSet<String>,
    frontend_crashes: usize,
    /// Where the watcher processes keep their home and output.
    shell: Shell,
    _shell_root: tempfile::TempDir,
    /// What each killed watcher printed.
    watchers: Vec<Printed>,
}

/// What dies in a round.
#[derive(PartialEq)]
enum Crash {
    /// The daemon, with SIGKILL (its frontend's connection with it).
    Daemon,
    /// Only the frontend's connection, closed without a word.
    Frontend,
}

impl Soak {
    async fn start(backend: Backend, seed: u64) -> Soak {
        let project = tempfile::tempdir().unwrap();
        std::fs::write(
            project.path().join("count.sh"),
            "echo \"$1\" >> side.log\necho \"counted $1\"\n",
        )
        .unwrap();
        std::fs::create_dir(project.path().join(".letta")).unwrap();
        std::fs::write(
            project.path().join(".letta/settings.json"),
            json!({"permissions": {"allow": ["Bash(sh count.sh:*)"]}}).to_string(),
        )
        .unwrap();
        let first = backend.daemon();
        let frontend = Frontend::connect(&first).await;
        let runtime = start_runtime(&frontend, "soak", project.path(), "standard").await;
        let shell_root = tempfile::tempdir().unwrap();
        Soak {
            shell: Shell::new(shell_root.path(), &first.data_dir),
            _shell_root: shell_root,
            watchers: Vec::new(),
            backend,
            rng: fastrand::Rng::with_seed(seed),
            project,
            first,
            current: None,
            frontend,
            runtime,
            events: Vec::new(),
            inputs: Vec::new(),
            answered: HashSet::new(),
            frontend_crashes: 0,
        }
    }

    /// Input `number`: a command a rule allows, one the frontend must
    /// approve, every other time a subagent the agent waits for (which
    /// runs two commands the same way), then a long answer.
    async fn send_input(&mut self, number: usize) {
        let commands = |name: &str| {
            format!(
                r#"[[call:Bash {{"command": "sh count.sh {name}-ruled", "description": "count"}}]] [[call:Bash {{"command": "bash count.sh {name}-asked", "description": "count"}}]]"#
            )
        };
        let subagent = if number % 2 == 1 {
            subagent_call(
                number,
                &format!("{} sub {number} done", commands(&format!("{number}-sub"))),
            )
        } else {
            String::new()
        };
        let text = format!(
            "{} {subagent} [[delay=0.02]] [[repeat=2]] input {number}",
            commands(&number.to_string())
        );
        let id = cm(&format!("soak-{number}"));
        self.frontend
            .send(user_input(&self.runtime, &text, &id))
            .await;
        self.inputs.push((id, text));
    }

    /// Receives events and answers approvals until `until`, or with none,
    /// until every input's turn has finished. A daemon that sends nothing
    /// for [`TURN_TIMEOUT`] has hung.
    async fn follow(&mut self, until: Option<tokio::time::Instant>) {
        let mut give_up = tokio::time::Instant::now() + TURN_TIMEOUT;
        loop {
            if until.is_none() && self.finished_turns() == self.inputs.len() {
                return;
            }
            let deadline = until.unwrap_or(give_up).min(give_up);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = match self.frontend.client.next_unsolicited(left).await {
                Ok(frame) => frame,
                Err(_) if until.is_some() && tokio::time::Instant::now() >= deadline => return,
                Err(err) => panic!(
                    "{err} after {} of {} turns; last events {:#?}",
                    self.finished_turns(),
                    self.inputs.len(),
                    &self.events[self.events.len().saturating_sub(5)..]
                ),
            };
            self.receive(frame).await;
            give_up = tokio::time::Instant::now() + TURN_TIMEOUT;
        }
    }

    async fn receive(&mut self, frame: Value) {
        for request_id in pending_approvals(&frame) {
            if self.answered.insert(request_id.clone()) {
                let correlation = format!("approve-{request_id}-{}", self.events.len());
                self.frontend
                    .send(approval(
                        &self.runtime,
                        &json!(request_id),
                        json!({"behavior": "allow"}),
                        &correlation,
                    ))
                    .await;
            }
        }
        let Some(seq) = frame["event_seq"].as_u64() else {
            return;
        };
        let expected = self
            .events
            .last()
            .map_or(1, |last| last["event_seq"].as_u64().unwrap_or_default() + 1);
        assert_eq!(
            seq,
            expected,
            "events arrive once and in order; got {frame}, last {:?}",
            self.events.last()
        );
        self.events.push(frame);
    }

    /// A frontend process of a kind picked at random, watching from a
    /// random event already seen.
    async fn start_watcher(&mut self, round: usize) -> Watcher {
        let kind = watchers::KINDS[self.rng.usize(..watchers::KINDS.len())];
        let seen = self.events.len() as u64;
        let after = self.rng.u64(..=seen);
        let daemon = self.daemon();
        Watcher::start(
            kind,
            &self.shell,
            daemon,
            (&self.runtime, self.project.path()),
            after,
            &format!("watcher-{round}"),
        )
        .await
    }

    /// The daemon running now.
    fn daemon(&self) -> &Daemon {
        self.current.as_ref().unwrap_or(&self.first)
    }

    /// A live terminal for the round, on the daemon running now; its
    /// frontend reattaches midway every third round or so.
    async fn open_terminal(&mut self, round: usize) -> Terminal {
        let reattach_after = (self.rng.u8(..3) == 0).then(|| self.rng.usize(1..20));
        Terminal::open(
            self.daemon(),
            format!("soak-{round}"),
            self.project.path(),
            reattach_after,
        )
        .await
    }

    /// Follows for a random moment of a round.
    async fn follow_for_a_while(&mut self) {
        let moment = Duration::from_millis(self.rng.u64(..LONGEST_ROUND.as_millis() as u64));
        self.follow(Some(tokio::time::Instant::now() + moment))
            .await;
    }

    /// Kills the daemon (starting another on its data) or only the
    /// frontend's connection; then a new frontend resumes from the last
    /// event seen and sends every input again.
    async fn crash_and_resume(&mut self, crash: Crash) {
        if crash == Crash::Daemon {
            match self.current.as_mut() {
                Some(daemon) => daemon.kill(),
                None => self.first.kill(),
            }
            self.current = Some(Daemon::start_with(Options {
                data_dir: Some(self.first.data_dir.clone()),
                ..self.backend.options()
            }));
        }
        self.frontend = Frontend::connect(self.daemon()).await;
        self.answered.clear();
        let last = self.events.last().map(|event| event["event_seq"].clone());
        let synced = self
            .frontend
            .request(json!({"type": "sync", "runtime": self.runtime, "after_event_seq": last}))
            .await;
        assert_eq!(synced["success"], true, "{synced}");
        for (id, text) in self.inputs.clone() {
            let accepted = self
                .frontend
                .request(user_input(&self.runtime, &text, &id))
                .await;
            assert_eq!(accepted["accepted"], true, "{accepted}");
        }
    }

    fn finished_turns(&self) -> usize {
        self.events
            .iter()
            .filter(|event| event["type"] == "turn_finished")
            .count()
    }

    fn counted_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.project.path().join("side.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Checks everything; returns how many events each killed watcher
    /// printed.
    async fn check(&self) -> Vec<usize> {
        for finished in self
            .events
            .iter()
            .filter(|event| event["type"] == "turn_finished")
        {
            assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
        }
        let stored = stored_messages(&self.frontend, &self.runtime).await;
        for (id, _) in &self.inputs {
            let sent = stored
                .iter()
                .filter(|message| message["otid"] == id.as_str())
                .count();
            assert_eq!(
                sent,
                1,
                "input {id} reached the agent once; stored {:#?}",
                stored
                    .iter()
                    .map(|message| (&message["message_type"], &message["otid"]))
                    .collect::<Vec<_>>()
            );
        }

        let mut counts: HashMap<String, usize> = HashMap::new();
        for line in self.counted_lines() {
            *counts.entry(line).or_default() += 1;
        }
        let repeated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
        assert!(repeated.is_empty(), "commands ran twice: {repeated:?}");
        for message in &stored {
            if message["message_type"] != "tool_return_message" {
                continue;
            }
            let returned = message["tool_return"].as_str().unwrap_or_default();
            if let Some(line) = returned
                .lines()
                .find_map(|line| line.strip_prefix("counted "))
            {
                assert_eq!(counts.get(line), Some(&1), "{line} was reported run");
            }
        }

        // Each subagent's report came back to its parent once.
        for (id, text) in &self.inputs {
            let Some(description) = subagent_description(text) else {
                continue;
            };
            let reports = stored
                .iter()
                .filter(|message| message["message_type"] == "tool_return_message")
                .filter_map(|message| message["tool_return"].as_str())
                .filter(|returned| returned.contains(&format!("\"{description}\")")))
                .count();
            assert_eq!(
                reports, 1,
                "the report of {description} ({id}) came back once"
            );
        }

        let stored_answers: Vec<&str> = stored
            .iter()
            .filter(|message| message["message_type"] == "assistant_message")
            .filter_map(|message| message["content"].as_str())
            .collect();
        assert_eq!(streamed_answers(&self.events), stored_answers);

        let received: HashMap<u64, &Value> = self
            .events
            .iter()
            .filter_map(|event| Some((event["event_seq"].as_u64()?, event)))
            .collect();
        self.watchers
            .iter()
            .map(|printed| printed.check(&received))
            .collect()
    }
}

/// A launch of a subagent the agent waits for, with `prompt` (its script).
fn subagent_call(number: usize, prompt: &str) -> String {
    crate::subagents::scripted_call(json!({
        "description": format!("soak {number}"),
        "prompt": prompt,
        "subagent_type": "general-purpose",
        "run_in_background": false,
    }))
}

/// The description of the subagent an input launches, if it does.
fn subagent_description(text: &str) -> Option<String> {
    let start = text.find(r#""description":"soak "#)? + r#""description":""#.len();
    let end = start + text[start..].find('"')?;
    Some(text[start..end].to_owned())
}

/// The request ids of approvals a frame asks for or lists as pending.
fn pending_approvals(frame: &Value) -> Vec<String> {
    match frame["type"].as_str() {
        Some("control_request") if frame["request"]["subtype"] == "can_use_tool" => {
            frame["request_id"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect()
        }
        Some("update_device_status") => frame["device_status"]["pending_control_requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pending| pending["request_id"].as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The assistant messages as the events streamed them. A step the local
/// backend runs again after a crash is announced by a `retry` delta, which
/// voids what that step had streamed.
fn streamed_answers(events: &[Value]) -> Vec<String> {
    let mut answers = Vec::new();
    let mut current: Option<(Value, String)> = None;
    for event in events {
        let delta = &event["delta"];
        match (event["type"].as_str(), delta["message_type"].as_str()) {
            (Some("stream_delta"), Some("assistant_message")) => {
                let piece = delta["content"].as_str().unwrap_or_default();
                match &mut current {
                    Some((id, text)) if *id == delta["id"] => text.push_str(piece),
                    _ => {
                        answers.extend(current.take().map(|(_, text)| text));
                        current = Some((delta["id"].clone(), piece.to_owned()));
                    }
                }
            }
            (Some("stream_delta"), Some("retry")) => current = None,
            (Some("stream_delta"), Some(_)) | (Some("turn_finished"), _) => {
                answers.extend(current.take().map(|(_, text)| text));
            }
            _ => {}
        }
    }
    answers.extend(current.map(|(_, text)| text));
    answers
}

/// Every message stored for the runtime's conversation, oldest first.
async fn stored_messages(frontend: &Frontend, runtime: &Value) -> Vec<Value> {
    let listed = frontend
        .request(json!({
            "type": "conversation_messages_list",
            "conversation_id": runtime["conversation_id"],
            "query": { "limit": 5000, "order": "asc" },
        }))
        .await;
    assert_eq!(listed["success"], true, "{listed}");
    listed["messages"].as_array().cloned().unwrap_or_default()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}"))
    })
}
