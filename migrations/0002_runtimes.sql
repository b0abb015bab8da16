-- Agent sessions and everything needed to continue them after a crash.

-- One row per (agent, conversation) the daemon has run.
CREATE TABLE runtimes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- '' for agent-free conversations, so the pair stays unique.
    agent_id        TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    cwd             TEXT    NOT NULL,
    permission_mode TEXT    NOT NULL,
    queue_paused    INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    UNIQUE (agent_id, conversation_id)
);

-- Every event a runtime emitted, numbered per runtime when written.
CREATE TABLE events (
    runtime_id INTEGER NOT NULL REFERENCES runtimes (id),
    event_seq  INTEGER NOT NULL,
    frame      TEXT    NOT NULL,
    PRIMARY KEY (runtime_id, event_seq)
) WITHOUT ROWID;

-- Accepted inputs, in queue order (id). status: queued, running, finished,
-- cancelled, failed.
CREATE TABLE inputs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    runtime_id        INTEGER NOT NULL REFERENCES runtimes (id),
    client_message_id TEXT    NOT NULL,
    turn_id           TEXT    NOT NULL,
    disposition       TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    -- The create_message payload as accepted.
    payload           TEXT    NOT NULL,
    accepted_at       TEXT    NOT NULL,
    UNIQUE (runtime_id, client_message_id)
);

-- Run cursors: the last seq_id whose chunk (and events) are committed.
-- status: streaming, completed, failed, cancelled.
CREATE TABLE runs (
    run_id      TEXT    PRIMARY KEY,
    runtime_id  INTEGER NOT NULL REFERENCES runtimes (id),
    turn_id     TEXT    NOT NULL,
    last_seq_id INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL,
    stop_reason TEXT
);

-- Calls of frontend-executed tools. status: pending, answered.
CREATE TABLE external_tool_calls (
    request_id   TEXT    PRIMARY KEY,
    runtime_id   INTEGER NOT NULL REFERENCES runtimes (id),
    turn_id      TEXT    NOT NULL,
    tool_call_id TEXT    NOT NULL,
    tool_name    TEXT    NOT NULL,
    input        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    result       TEXT
);
