use std::process::ExitCode;

use clap::Parser;
use letta_daemon::config::{Cli, Config, UserEnvironment};
use letta_daemon::{app, logging};

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
    logging::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
