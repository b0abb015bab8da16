//! What a client can make the daemon hold is bounded, with a clear error
//! past each bound, and nothing already accepted is lost.

use serde_json::Value;

use crate::support::backend::{Backend, cm};
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::raw::Lines;
use crate::support::{Daemon, Options};

const INFO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"app_server_info"}"#;

#[tokio::test]
async fn a_batch_past_the_bound_runs_nothing_and_says_why() {
    let daemon = Daemon::start();
    let mut lines = Lines::connect(&daemon.socket()).await;
    let batch = |count: usize| format!("[{}]", vec![INFO; count].join(","));
    let reply = lines.request(&batch(64)).await;
    assert_eq!(reply.as_array().map(Vec::len), Some(64));
    let reply = lines.request(&batch(65)).await;
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 64"),
        "{reply}"
    );
    assert_eq!(lines.request(INFO).await["result"]["success"], true);
}

#[tokio::test]
async fn connections_past_the_bound_are_refused_with_a_reason() {
    let daemon = Daemon::start_with(Options::default().arg("--max-connections").arg("2"));
    let mut first = Lines::connect(&daemon.socket()).await;
    let mut second = Lines::connect(&daemon.socket()).await;
    assert_eq!(first.request(INFO).await["result"]["success"], true);
    assert_eq!(second.request(INFO).await["result"]["success"], true);
    let mut third = Lines::connect(&daemon.socket()).await;
    let refused = third.recv().await;
    assert_eq!(refused["error"]["code"], -32002, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 connections"),
        "{refused}"
    );
    third.expect_end().await;
    // A freed slot is taken again.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let mut lines = Lines::connect(&daemon.socket()).await;
        // Refused while the slot is not free yet: the daemon may close
        // before the request is written.
        let reply = lines.try_request(INFO).await.unwrap_or_default();
        if reply["result"]["success"] == true {
            again = Some(lines);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        again.is_some(),
        "a slot freed by a closed connection is reused"
    );
}

/// While a turn waits on an approval, inputs queue behind it up to the
/// bound; one more is refused, a repeated id still gets its first answer.
#[tokio::test]
async fn inputs_past_the_queue_bound_are_refused() {
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "bounds", project.path(), "standard").await;
    let script = r#"[[call:Write {"file_path": "x.txt", "content": "x"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("queue-head")))
        .await;
    frontend.wait_for_type("control_request").await;
    let queued = |index: usize| user_input(&runtime, "later", &cm(&format!("queue-{index}")));
    for index in 0..1000 {
        let accepted = frontend.request(queued(index)).await;
        assert_eq!(accepted["disposition"], "queued", "{index}: {accepted}");
    }
    let refused: Value = frontend.request(queued(1000)).await;
    assert_eq!(refused["error_code"], -32002, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("1000 queued inputs"),
        "{refused}"
    );
    let repeated = frontend.request(queued(7)).await;
    assert_eq!(repeated["accepted"], true, "{repeated}");
    assert_eq!(repeated["disposition"], "queued");
}
