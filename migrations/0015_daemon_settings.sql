-- Settings the daemon keeps across restarts that frontends change at run
-- time (today: the boot working directory, `set_boot_working_directory`).
CREATE TABLE daemon_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
