-- A conversation's plan (task list and steps) as JSON, one row per runtime.
-- Written in the same transaction as the result of the tool call that
-- changed it.
CREATE TABLE plans (
    runtime_id INTEGER PRIMARY KEY REFERENCES runtimes (id),
    plan       TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
