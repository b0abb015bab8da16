//! Starting a program in a pseudo-terminal, for the agent's `exec_command`
//! sessions and the terminals frontends open. The program leads a session
//! (and so a process group) of its own.

use std::path::Path;

/// A program running in a pseudo-terminal, and both ends of the terminal.
pub struct Spawned {
    pub child: tokio::process::Child,
    pub output: pty_process::OwnedReadPty,
    pub input: pty_process::OwnedWritePty,
}

/// What to start, and how big its terminal is.
pub struct Launch<'a> {
    pub program: &'a str,
    pub args: &'a [&'a str],
    pub cwd: &'a Path,
    pub env: &'a [(&'a str, &'a str)],
    pub rows: u16,
    pub cols: u16,
}

pub fn spawn(launch: &Launch<'_>) -> Result<Spawned, String> {
    let (pty, pts) = pty_process::open().map_err(|err| format!("cannot open a terminal: {err}"))?;
    pty.resize(pty_process::Size::new(launch.rows, launch.cols))
        .map_err(|err| format!("cannot size the terminal: {err}"))?;
    let mut command = crate::child_signals::reset_in_terminal_command(
        pty_process::Command::new(launch.program)
            .args(launch.args)
            .current_dir(launch.cwd)
            .kill_on_drop(false),
    );
    for (key, value) in launch.env {
        command = command.env(key, value);
    }
    let child = command
        .spawn(pts)
        .map_err(|err| format!("cannot start {}: {err}", launch.program))?;
    let (output, input) = pty.into_split();
    Ok(Spawned {
        child,
        output,
        input,
    })
}
