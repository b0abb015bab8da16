-- Terminals frontends opened: one row per terminal_id, so a frontend that
-- comes back after the daemon restarted learns how its terminal ended.
CREATE TABLE terminals (
    id         TEXT    PRIMARY KEY,
    pid        INTEGER NOT NULL,
    cwd        TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    ended_at   TEXT,
    exit_code  INTEGER,
    end_reason TEXT
);
