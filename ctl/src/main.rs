//! `letta-ctl`: the command-line client of letta-daemon.

// A command-line tool's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod acp;
mod approval;
mod attach;
mod cli;
mod cursors;
mod daemon_cmd;
mod error;
mod last_used;
mod render;
mod resources;
mod run;
mod service;
mod target;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command, DaemonCommand};
use error::CtlError;
use target::Context;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(data_dir) = cli
        .data_dir
        .clone()
        .or_else(letta_client::discovery::default_data_dir)
    else {
        eprintln!("letta-ctl: cannot tell the home directory; pass --data-dir");
        return ExitCode::from(error::EXIT_USAGE);
    };
    let context = Context {
        data_dir,
        json: cli.json,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("letta-ctl: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(&context, cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("letta-ctl: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

async fn dispatch(context: &Context, command: Command) -> Result<u8, CtlError> {
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
