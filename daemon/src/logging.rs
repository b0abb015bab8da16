//! Logs go to stderr, as text or JSON lines, filtered like `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. An unusable filter falls back to `info`
/// and says so.
pub fn init(config: &Config) {
    let (filter, bad_filter) = match EnvFilter::try_new(&config.log_filter) {
        Ok(filter) => (filter, None),
        Err(err) => (EnvFilter::new("info"), Some(err)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok()
        && let Some(err) = bad_filter
    {
        tracing::warn!(filter = %config.log_filter, error = %err, "invalid log filter; logging at info");
    }
}
