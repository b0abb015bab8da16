//! The commands run for the user start with the signals a terminal would
//! give them.
//!
//! A daemon started from a script in the background (`letta-daemon &`)
//! inherits SIGINT and SIGQUIT ignored, and `nohup` ignores SIGHUP. An
//! ignored signal stays ignored across exec, and a shell that starts with a
//! signal ignored cannot even trap it: Ctrl-C sent to a session would do
//! nothing, and a closed terminal would leave its commands running. (exec
//! resets the signals the daemon handles itself, but not ignored ones.)

use nix::sys::signal::{SigHandler, Signal, signal};

/// Signals set back to their default action in each child.
const RESET: [Signal; 3] = [Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT];

/// Runs in the child between fork and exec.
#[allow(unsafe_code)]
fn reset() -> std::io::Result<()> {
    for reset in RESET {
        // SAFETY: sigaction is async-signal-safe, and SIG_DFL installs no
        // code of ours to run in a signal handler.
        unsafe { signal(reset, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Resets the child's signals before it runs (see the module's comment).
#[allow(unsafe_code)]
pub fn reset_in(command: &mut tokio::process::Command) {
    // SAFETY: `reset` only calls sigaction, which is async-signal-safe, as
    // code between fork and exec must be.
    unsafe { command.pre_exec(reset) };
}

/// [`reset_in`] for a command run on a terminal.
#[allow(unsafe_code)]
pub fn reset_in_terminal_command(command: pty_process::Command) -> pty_process::Command {
    // SAFETY: as in `reset_in`.
    unsafe { command.pre_exec(reset) }
}
