//! `letta-ctl`: the command-line client of letta-daemon. The binary parses
//! the command line and hands it to [`dispatch`]; the library exists so the
//! fuzz targets under `fuzz/` reach the editor bridge's parsers.

// A command-line tool's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod acp;
mod approval;
mod attach;
pub mod cli;
mod cursors;
mod daemon_cmd;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod last_used;
mod mcp;
mod render;
mod resources;
mod run;
mod service;
pub mod target;
mod watch;

use clap::CommandFactory;

use cli::{Cli, Command, DaemonCommand};
use error::CtlError;
use target::Context;

/// Runs one command; returns the exit code.
pub async fn dispatch(context: &Context, command: Command) -> Result<u8, CtlError> {
    match command {
        Command::Daemon(command) => match command {
            DaemonCommand::Start {
                daemon_bin,
                timeout,
            } => daemon_cmd::start(context, daemon_bin, timeout).await,
            DaemonCommand::Stop { timeout } => daemon_cmd::stop(context, timeout).await,
            DaemonCommand::Status => daemon_cmd::status(context).await,
            DaemonCommand::Logs { lines, follow } => daemon_cmd::logs(context, lines, follow).await,
            DaemonCommand::InstallService {
                print,
                no_start,
                daemon_bin,
            } => service::install(context, print, no_start, daemon_bin),
            DaemonCommand::UninstallService => service::uninstall(),
        },
        Command::Agents(command) => resources::agents(context, command).await,
        Command::Conversations(command) => resources::conversations(context, command).await,
        Command::Run(args) => run::run(context, args).await,
        Command::Attach(args) => attach::attach(context, args).await,
        Command::Approve(args) => attach::answer(context, args, true).await,
        Command::Deny(args) => attach::answer(context, args, false).await,
        Command::Abort(target) => attach::abort(context, target).await,
        Command::Events(args) => attach::events(context, args).await,
        Command::Mcp(cli::McpCommand::List) => mcp::list(context).await,
        Command::Acp(args) => acp::acp(context, args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "letta-ctl",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

/// The value behind a mutex, also after a thread panicked holding it (the
/// bridge's state stays usable: each update is whole).
pub(crate) fn util_lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
