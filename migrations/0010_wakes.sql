-- Wakes: turns of a conversation the agent scheduled for later (`Wake`).
-- status: scheduled, fired, cancelled. A wake fires by recording an input
-- whose client_message_id is `wake-<id>`, so firing again after a crash
-- starts nothing new.
CREATE TABLE wakes (
    id         TEXT    PRIMARY KEY,
    runtime_id INTEGER NOT NULL REFERENCES runtimes (id),
    name       TEXT    NOT NULL,
    prompt     TEXT    NOT NULL,
    -- Unix milliseconds.
    due_at     INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    fired_at   TEXT
);
CREATE INDEX wakes_due ON wakes (status, due_at);
