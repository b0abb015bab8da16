//! Processes a crashed daemon left running.
//!
//! A daemon that stops normally ends the commands its agents started
//! (background jobs, exec sessions, monitors, the command a turn waits on).
//! One killed with SIGKILL cannot: its commands are re-parented to init and
//! go on acting — writing files, holding ports — while the journal of the
//! next daemon reports them interrupted. So every process the daemon starts
//! inherits a mark naming the daemon's pid and data directory, and a daemon
//! starting on that data directory ends every marked process of an earlier
//! one. The mark is an environment variable because it is inherited by
//! everything a command starts, including what leaves the command's process
//! group (`setsid`, double forks), and needs no record written per spawn.
//! A process that clears its environment loses the mark; it is still ended
//! with its process group when the group's leader was a command of ours.
//!
//! Linux only (it reads `/proc`); elsewhere nothing is marked or ended.

use std::path::Path;

/// The environment variable every process started by the daemon inherits:
/// `<daemon pid> <absolute data directory>`.
pub const MARK_VAR: &str = "LETTA_DAEMON_OWNER";

/// The mark of the daemon with `pid` on `data_dir`.
pub fn mark(pid: u32, data_dir: &Path) -> String {
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    format!("{pid} {}", data_dir.display())
}

/// Ends, with SIGKILL, the processes an earlier daemon on `data_dir` left
/// running, and the process groups they lead; returns how many processes
/// were found. Only one daemon runs on a data directory at a time (its
/// lock), so a marked process whose daemon is not this one is an orphan.
#[cfg(target_os = "linux")]
pub fn end_left_behind(data_dir: &Path) -> usize {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;

    let own_pid = std::process::id();
    let ours = mark(own_pid, data_dir);
    let Some((_, ours_dir)) = ours.split_once(' ') else {
        return 0;
    };
    let mut found = 0;
    for pid in crate::util::process_ids() {
        if u32::try_from(pid).is_ok_and(|pid| pid == own_pid) {
            continue;
        }
        let Some(owner) = marked_by(pid) else {
            continue;
        };
        let Some((owner_pid, owner_dir)) = owner.split_once(' ') else {
            continue;
        };
        if owner_dir != ours_dir || owner_pid == own_pid.to_string() {
            continue;
        }
        found += 1;
        if process_group(pid) == Some(pid) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    if found > 0 {
        tracing::warn!(
            processes = found,
            "ended commands an earlier daemon left running"
        );
    }
    found
}

#[cfg(not(target_os = "linux"))]
pub fn end_left_behind(_data_dir: &Path) -> usize {
    0
}

/// The value of process `pid`'s mark, if it carries one. Unreadable
/// environments (another user's processes, ones that just ended) have none.
#[cfg(target_os = "linux")]
fn marked_by(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{MARK_VAR}=");
    environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// Process `pid`'s process group, from `/proc/<pid>/stat` (the fields after
/// the command name, which may itself hold spaces and parentheses, are
/// state, parent pid, process group).
#[cfg(target_os = "linux")]
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_mark_names_an_absolute_data_directory() {
        let mark = mark(42, Path::new("relative/data"));
        let (pid, dir) = mark.split_once(' ').unwrap();
        assert_eq!(pid, "42");
        assert!(Path::new(dir).is_absolute(), "{dir}");
        assert!(dir.ends_with("relative/data"), "{dir}");
    }

    #[test]
    fn a_process_group_is_read_past_a_strange_command_name() {
        assert_eq!(
            process_group(std::process::id() as i32),
            Some(nix::unistd::getpgrp().as_raw())
        );
    }

    #[test]
    fn only_marked_processes_of_this_data_directory_are_ended() {
        let dir = tempfile::tempdir().unwrap();
        let spawn = |mark: String| {
            let mut command = std::process::Command::new("sleep");
            command.arg("30").env(MARK_VAR, mark);
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            command.spawn().unwrap()
        };
        let mut orphan = spawn(mark(1, dir.path()));
        let mut other_dir = spawn(mark(1, &dir.path().join("other")));
        let mut current = spawn(mark(std::process::id(), dir.path()));

        assert_eq!(end_left_behind(dir.path()), 1);
        assert!(orphan.wait().is_ok_and(|status| !status.success()));
        for child in [&mut other_dir, &mut current] {
            assert!(child.try_wait().unwrap().is_none(), "left alone");
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
