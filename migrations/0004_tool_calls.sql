-- The tool-call journal: every built-in tool call from request to the
-- agent having its result. state: requested -> decided -> executing ->
-- stored -> delivered. A call waiting for a human is `requested` with its
-- `approval` (the can_use_tool request) set.
CREATE TABLE tool_calls (
    tool_call_id    TEXT    PRIMARY KEY,
    runtime_id      INTEGER NOT NULL REFERENCES runtimes (id),
    turn_id         TEXT    NOT NULL,
    tool_name       TEXT    NOT NULL,
    -- Arguments as the agent sent them (JSON object).
    input           TEXT    NOT NULL,
    -- Running it again cannot change anything.
    read_only       INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    approval        TEXT,
    -- Rules offered with the approval (JSON), applied when one is chosen.
    suggestions     TEXT,
    -- allow or deny, with who or what decided and the message for the agent.
    decision        TEXT,
    decision_reason TEXT,
    -- Arguments a human changed when allowing (JSON object).
    updated_input   TEXT,
    result          TEXT,
    result_status   TEXT,
    updated_at      TEXT    NOT NULL
);

CREATE INDEX tool_calls_by_runtime_state ON tool_calls (runtime_id, state);

-- Rules a human saved for the rest of a runtime's session (JSON list).
ALTER TABLE runtimes ADD COLUMN session_rules TEXT NOT NULL DEFAULT '[]';
