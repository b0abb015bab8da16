-- Monitors: background scripts whose output lines reach the agent
-- (`Monitor`). A running monitor is started again when the daemon restarts
-- within its timeout; one whose timeout passed while the daemon was down is
-- reported as ended. A row lives while its monitor is meant to run.
CREATE TABLE monitors (
    id            TEXT    PRIMARY KEY,
    runtime_id    INTEGER NOT NULL REFERENCES runtimes (id),
    description   TEXT    NOT NULL,
    command       TEXT    NOT NULL,
    cwd           TEXT    NOT NULL,
    -- Unix milliseconds; the timeout counts from the first start.
    started_at    INTEGER NOT NULL,
    -- NULL: persistent, runs until stopped.
    timeout_ms    INTEGER
);
CREATE INDEX monitors_of_runtime ON monitors (runtime_id);
