-- One row per daemon start. A row without stopped_at that is not the
-- current run means that run ended without a clean shutdown (a crash or a
-- kill -9), which the next start reports.
CREATE TABLE daemon_runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    pid        INTEGER NOT NULL,
    version    TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    stopped_at TEXT
);
