//! `daemon install-service|uninstall-service`: the daemon as a user service
//! that starts at login and restarts on failure — a systemd `--user` unit
//! on Linux, a launchd agent on macOS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon_cmd::{LOG_FILE, daemon_binary};
use crate::error::CtlError;
use crate::render::say;
use crate::target::Context;

const SYSTEMD_UNIT: &str = "letta-daemon.service";
const LAUNCHD_LABEL: &str = "ai.letta.daemon";

/// Settings copied into the service from the installing environment. The
/// API key is not among them: it goes in `~/.letta/daemon.env` (systemd)
/// or `~/.letta/daemon.toml`, not in a world-readable unit.
const PASSED_ENV: &[&str] = &["LETTA_BASE_URL", "LETTA_DAEMON_LISTEN", "LETTA_DAEMON_LOG"];

pub fn install(
    context: &Context,
    print: bool,
    no_start: bool,
    daemon_bin: Option<PathBuf>,
) -> Result<u8, CtlError> {
    let binary = daemon_binary(daemon_bin)?;
    let binary = std::fs::canonicalize(&binary).unwrap_or(binary);
    let environment: Vec<(String, String)> = PASSED_ENV
        .iter()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .map(|value| ((*name).to_owned(), value))
        })
        .collect();
    let (path, text) = if cfg!(target_os = "macos") {
        (
            launchd_path()?,
            launchd_plist(&binary, &context.data_dir, &environment),
        )
    } else {
        (
            systemd_path()?,
            systemd_unit(&binary, &context.data_dir, &environment),
        )
    };
    if print {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .map_err(CtlError::io("writing the service file"))?;
        return Ok(0);
    }
    std::fs::create_dir_all(&context.data_dir).map_err(CtlError::io(format!(
        "creating {}",
        context.data_dir.display()
    )))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(CtlError::io(format!("creating {}", dir.display())))?;
    }
    std::fs::write(&path, text).map_err(CtlError::io(format!("writing {}", path.display())))?;
    say(&format!("wrote {}", path.display()));
    if no_start {
        return Ok(0);
    }
    if cfg!(target_os = "macos") {
        let uid = nix::unistd::getuid();
        let domain = format!("gui/{uid}");
        let _ = Command::new("launchctl")
            .args(["bootout", &domain])
            .arg(&path)
            .status();
        tool(
            "launchctl",
            &["bootstrap", &domain, &path.display().to_string()],
        )?;
    } else {
        tool("systemctl", &["--user", "daemon-reload"])?;
        tool("systemctl", &["--user", "enable", "--now", SYSTEMD_UNIT])?;
    }
    say("letta-daemon runs as a service; letta-ctl daemon status shows it");
    Ok(0)
}

pub fn uninstall() -> Result<u8, CtlError> {
    let path = if cfg!(target_os = "macos") {
        launchd_path()?
    } else {
        systemd_path()?
    };
    if !path.exists() {
        say(&format!(
            "no service installed ({} does not exist)",
            path.display()
        ));
        return Ok(0);
    }
    // Stopping may fail where no service manager runs; the file goes anyway.
    if cfg!(target_os = "macos") {
        let domain = format!("gui/{}", nix::unistd::getuid());
        let _ = Command::new("launchctl")
            .args(["bootout", &domain])
            .arg(&path)
            .status();
    } else {
        let _ = Command::new("systemctl")
            .args(["--user", "disable", "--now", SYSTEMD_UNIT])
            .status();
    }
    std::fs::remove_file(&path).map_err(CtlError::io(format!("removing {}", path.display())))?;
    if !cfg!(target_os = "macos") {
        let _ = Command::new("systemctl")
            .args(["--user", "daemon-reload"])
            .status();
    }
    say(&format!("removed {}", path.display()));
    Ok(0)
}

fn systemd_path() -> Result<PathBuf, CtlError> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::home_dir().map(|home| home.join(".config")))
        .ok_or_else(|| CtlError::Failed("cannot tell the home directory".to_owned()))?;
    Ok(config.join("systemd/user").join(SYSTEMD_UNIT))
}

fn launchd_path() -> Result<PathBuf, CtlError> {
    let home = std::env::home_dir()
        .ok_or_else(|| CtlError::Failed("cannot tell the home directory".to_owned()))?;
    Ok(home
        .join("Library/LaunchAgents")
        .join(format!("{LAUNCHD_LABEL}.plist")))
}

/// The systemd unit. Paths are quoted the way systemd reads them.
pub fn systemd_unit(binary: &Path, data_dir: &Path, environment: &[(String, String)]) -> String {
    let mut unit = format!(
        "[Unit]\n\
         Description=letta-daemon: local runtime for Letta agents\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} --data-dir {}\n\
         EnvironmentFile=-%h/.letta/daemon.env\n",
        systemd_quote(&binary.display().to_string()),
        systemd_quote(&data_dir.display().to_string()),
    );
    for (name, value) in environment {
        unit.push_str(&format!(
            "Environment={}\n",
            systemd_quote(&format!("{name}={value}"))
        ));
    }
    unit.push_str(&format!(
        "StandardOutput=append:{log}\n\
         StandardError=append:{log}\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         # A stop waits for in-flight replies; turns resume at the next start.\n\
         TimeoutStopSec=30\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        log = data_dir.join(LOG_FILE).display()
    ));
    unit
}

fn systemd_quote(text: &str) -> String {
    if text
        .chars()
        .any(|ch| ch.is_whitespace() || ch == '"' || ch == '\\' || ch == '%')
    {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%");
        format!("\"{escaped}\"")
    } else {
        text.to_owned()
    }
}

/// The launchd agent.
pub fn launchd_plist(binary: &Path, data_dir: &Path, environment: &[(String, String)]) -> String {
    let log = xml_escape(&data_dir.join(LOG_FILE).display().to_string());
    let variables: String = environment
        .iter()
        .map(|(name, value)| {
            format!(
                "      <key>{}</key><string>{}</string>\n",
                xml_escape(name),
                xml_escape(value)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
  <dict>
    <key>Label</key><string>{LAUNCHD_LABEL}</string>
    <key>ProgramArguments</key>
    <array>
      <string>{}</string>
      <string>--data-dir</string>
      <string>{}</string>
    </array>
    <key>EnvironmentVariables</key>
    <dict>
{variables}    </dict>
    <key>RunAtLoad</key><true/>
    <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
    <key>StandardOutPath</key><string>{log}</string>
    <key>StandardErrorPath</key><string>{log}</string>
  </dict>
</plist>
"#,
        xml_escape(&binary.display().to_string()),
        xml_escape(&data_dir.display().to_string()),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn tool(program: &str, args: &[&str]) -> Result<(), CtlError> {
    let status = Command::new(program).args(args).status().map_err(|err| {
        CtlError::Failed(format!(
            "cannot run {program}: {err} (the service file is written; start it by hand)"
        ))
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(CtlError::Failed(format!(
            "{program} {} failed ({status}); the service file is written",
            args.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_quotes_paths_and_restarts_on_failure() {
        let unit = systemd_unit(
            Path::new("/opt/my tools/letta-daemon"),
            Path::new("/home/u/.letta/daemon"),
            &[(
                "LETTA_BASE_URL".to_owned(),
                "http://127.0.0.1:8283".to_owned(),
            )],
        );
        assert!(unit.contains(
            "ExecStart=\"/opt/my tools/letta-daemon\" --data-dir /home/u/.letta/daemon\n"
        ));
        assert!(unit.contains("Environment=LETTA_BASE_URL=http://127.0.0.1:8283\n"));
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains("StandardError=append:/home/u/.letta/daemon/daemon.log\n"));
        assert!(unit.contains("WantedBy=default.target\n"));
    }

    #[test]
    fn plist_escapes_what_xml_needs() {
        let plist = launchd_plist(Path::new("/a&b/letta-daemon"), Path::new("/d"), &[]);
        assert!(plist.contains("<string>/a&amp;b/letta-daemon</string>"));
        assert!(plist.contains("<key>SuccessfulExit</key><false/>"));
    }
}
