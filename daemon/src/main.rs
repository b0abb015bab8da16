use std::process::ExitCode;

use clap::Parser;
use letta_daemon::config::{Cli, Config, UserEnvironment};
use letta_daemon::{app, logging, orphans};

// Startup failures are reported on stderr in one line whatever the log
// format, so a user who ran the command sees why it stopped.
#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::resolve(cli, UserEnvironment::current()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("letta-daemon: {err}");
            return ExitCode::from(app::EXIT_CONFIG);
        }
    };
    mark_children(&config.data_dir);
    logging::init(&config);
    raise_open_file_limit();
    // The MCP client's HTTP transport is built without a TLS crypto
    // provider; it gets ring, the one the Letta client uses. Only fails if
    // one is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("letta-daemon: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("letta-daemon: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Every process the daemon starts inherits its mark, so that a daemon
/// starting after a crash can end what this one left running
/// ([`orphans`](letta_daemon::orphans)).
#[allow(unsafe_code)]
fn mark_children(data_dir: &std::path::Path) {
    let mark = orphans::mark(std::process::id(), data_dir);
    // SAFETY: called before the async runtime, the logger or any other
    // thread starts, so nothing reads the environment concurrently.
    unsafe { std::env::set_var(orphans::MARK_VAR, mark) };
}

/// Every frontend is a socket and every tool a few pipes: the soft limit on
/// open files many systems start processes with (1024) would refuse
/// connections well before `--max-connections`. Raised to the hard limit
/// (at most 65,536), which needs no privilege.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    const ENOUGH: u64 = 65_536;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let wanted = hard.min(ENOUGH);
    if soft < wanted
        && let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, wanted, hard)
    {
        tracing::warn!(soft, wanted, error = %err, "cannot raise the limit on open files");
    }
}
