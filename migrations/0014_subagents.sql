-- Subagents: conversations an agent handed a task to with its `Agent` tool.
-- One row per launching tool call, so running the call again after a crash
-- finds the subagent it already launched. `assignment` is the
-- client_message_id of the task's input in the subagent's runtime; the
-- parent is told of the end exactly once (`notified`).
CREATE TABLE subagents (
    id                TEXT    PRIMARY KEY,
    parent_runtime_id INTEGER NOT NULL REFERENCES runtimes (id),
    tool_call_id      TEXT    NOT NULL UNIQUE,
    subagent_type     TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    prompt            TEXT    NOT NULL,
    agent_id          TEXT,
    conversation_id   TEXT,
    assignment        TEXT    NOT NULL,
    -- launching, running, completed, error
    status            TEXT    NOT NULL,
    result            TEXT,
    error             TEXT,
    -- 0 when the frontend that launched it takes the report (notify: caller).
    tell_parent       INTEGER NOT NULL DEFAULT 1,
    notified          INTEGER NOT NULL DEFAULT 0,
    started_at_ms     INTEGER NOT NULL,
    finished_at_ms    INTEGER
);
CREATE INDEX subagents_by_parent ON subagents (parent_runtime_id);
