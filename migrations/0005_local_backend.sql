-- Agents that live in the daemon itself (the `local` backend): their memory,
-- conversations, messages and runs, in Letta's model.

CREATE TABLE local_agents (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- A `provider/model` handle.
    model       TEXT NOT NULL,
    -- The base instructions the system prompt is compiled from.
    system      TEXT NOT NULL,
    -- JSON arrays / objects kept as given, for the Agent File.
    tool_rules  TEXT NOT NULL DEFAULT '[]',
    tags        TEXT NOT NULL DEFAULT '[]',
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Memory blocks; one block may be attached to several agents.
CREATE TABLE local_blocks (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    value       TEXT NOT NULL,
    char_limit  INTEGER NOT NULL,
    read_only   INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);

CREATE TABLE local_agent_blocks (
    agent_id TEXT NOT NULL REFERENCES local_agents (id) ON DELETE CASCADE,
    block_id TEXT NOT NULL REFERENCES local_blocks (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (agent_id, block_id)
) WITHOUT ROWID;

-- An agent's default conversation has the id `default` on the wire and is
-- stored under `default:<agent id>`.
CREATE TABLE local_conversations (
    id            TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL REFERENCES local_agents (id) ON DELETE CASCADE,
    summary       TEXT NOT NULL DEFAULT '',
    -- Messages with a lower seq were summarised out of the prompt (they stay
    -- stored and searchable).
    context_start INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX local_conversations_by_agent ON local_conversations (agent_id);

-- Messages in Letta's model. role: user, assistant, tool, summary.
CREATE TABLE local_messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES local_conversations (id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL,
    run_id          TEXT,
    role            TEXT NOT NULL,
    otid            TEXT,
    content         TEXT NOT NULL DEFAULT '',
    reasoning       TEXT,
    -- assistant: JSON array of {id, name, arguments, client}.
    tool_calls      TEXT,
    -- tool: which call this answers, and how it went (success, error).
    tool_call_id    TEXT,
    tool_status     TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX local_messages_by_conversation ON local_messages (conversation_id, seq);
CREATE UNIQUE INDEX local_messages_by_otid ON local_messages (conversation_id, otid)
    WHERE otid IS NOT NULL;

-- conversation_search: full text over every message, compacted ones too.
CREATE VIRTUAL TABLE local_messages_fts USING fts5 (
    content, content = 'local_messages', content_rowid = 'seq'
);
CREATE TRIGGER local_messages_fts_insert AFTER INSERT ON local_messages BEGIN
    INSERT INTO local_messages_fts (rowid, content) VALUES (new.seq, new.content);
END;
CREATE TRIGGER local_messages_fts_delete AFTER DELETE ON local_messages BEGIN
    INSERT INTO local_messages_fts (local_messages_fts, rowid, content)
        VALUES ('delete', old.seq, old.content);
END;

-- Runs: status running, completed, failed, cancelled.
CREATE TABLE local_runs (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES local_conversations (id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL,
    status          TEXT NOT NULL,
    stop_reason     TEXT,
    -- JSON array of the client-side tools offered with the request.
    client_tools    TEXT NOT NULL DEFAULT '[]',
    steps           INTEGER NOT NULL DEFAULT 0,
    usage           TEXT,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX local_runs_by_conversation ON local_runs (conversation_id, created_at);

-- Every chunk a run streamed, committed before anyone reads it.
CREATE TABLE local_run_chunks (
    run_id TEXT NOT NULL REFERENCES local_runs (id) ON DELETE CASCADE,
    seq_id INTEGER NOT NULL,
    chunk  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq_id)
) WITHOUT ROWID;
