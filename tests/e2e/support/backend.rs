//! Where scenarios run: the real Letta server with its scripted model, or
//! the mock that follows the same script directives.

use super::mock_letta::{Faults, MockLetta};
use super::{Daemon, Options, letta_server};

/// A client_message_id unique to this test run. Letta deduplicates requests
/// by their messages' otids across conversations, so ids must never repeat.
pub fn cm(name: &str) -> String {
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    format!(
        "cm-{name}-{:016x}",
        RUN.get_or_init(|| std::process::id() as u64 ^ now_nanos())
    )
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

/// Where the scenarios run: the real Letta server with its scripted model,
/// or the mock that follows the same script directives.
pub enum Backend {
    Real,
    Mock(MockLetta),
}

impl Backend {
    pub async fn mock() -> Backend {
        Backend::Mock(MockLetta::start(Faults::default()).await)
    }

    pub fn url(&self) -> String {
        match self {
            Backend::Real => letta_server::base_url(),
            Backend::Mock(mock) => mock.url.clone(),
        }
    }

    pub fn daemon(&self) -> Daemon {
        Daemon::start_with(Options::default().env("LETTA_BASE_URL", self.url()))
    }
}

/// Each scenario runs against both backends.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod real_server {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario($crate::support::backend::Backend::Real).await
            } )*
        }
        mod mock_server {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario($crate::support::backend::Backend::mock().await).await
            } )*
        }
    };
}
pub(crate) use on_both_backends;
