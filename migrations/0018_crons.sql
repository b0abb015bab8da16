-- Schedules frontends set (`cron_add`): a prompt for an agent's
-- conversation on a cron pattern or once. Times are Unix milliseconds.
-- status: active, paused, fired, missed. `next_run_at` is the due time the
-- scheduler waits for; a run records an input whose client_message_id
-- names the schedule and that due time, so running it again after a crash
-- starts nothing new. `firing_at`/`firing_conversation` keep the
-- conversation a `new`-conversation run created until the run is recorded.
CREATE TABLE crons (
    id                  TEXT    PRIMARY KEY,
    agent_id            TEXT    NOT NULL,
    conversation_id     TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL,
    cron                TEXT    NOT NULL,
    timezone            TEXT    NOT NULL,
    recurring           INTEGER NOT NULL,
    prompt              TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    scheduled_for       INTEGER,
    next_run_at         INTEGER,
    last_fired_at       INTEGER,
    fire_count          INTEGER NOT NULL DEFAULT 0,
    last_run_at         INTEGER,
    last_run_outcome    TEXT,
    last_run_reason     TEXT,
    last_run_error      TEXT,
    last_missed_at      INTEGER,
    missed_count        INTEGER NOT NULL DEFAULT 0,
    failed_count        INTEGER NOT NULL DEFAULT 0,
    fired_at            INTEGER,
    missed_at           INTEGER,
    firing_at           INTEGER,
    firing_conversation TEXT
);
CREATE INDEX crons_due ON crons (status, next_run_at);
CREATE INDEX crons_agent ON crons (agent_id);

-- Each schedule's run history, newest kept (the store trims it).
CREATE TABLE cron_runs (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id         TEXT    NOT NULL,
    ts              INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    error           TEXT,
    summary         TEXT,
    agent_id        TEXT    NOT NULL,
    conversation_id TEXT,
    queue_item_id   TEXT,
    scheduled_for   INTEGER,
    fired_at        INTEGER,
    missed_count    INTEGER
);
CREATE INDEX cron_runs_task ON cron_runs (task_id, seq);
