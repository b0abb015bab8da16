//! `letta-ctl`: the command-line client of letta-daemon.

// A command-line tool's job is to print.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

use letta_ctl::cli::Cli;
use letta_ctl::error;
use letta_ctl::target::Context;

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
    match runtime.block_on(letta_ctl::dispatch(&context, cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("letta-ctl: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
