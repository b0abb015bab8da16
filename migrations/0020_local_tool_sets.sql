-- The client-side tools a local run was offered, stored once per distinct
-- set: a conversation offers the same tens of kilobytes turn after turn,
-- and SQLite rewrote them with every update of the run's row.
CREATE TABLE local_tool_sets (
    -- SHA-256 of `tools`, hex (`stored-<rowid>` for sets moved here from
    -- older runs).
    digest TEXT PRIMARY KEY,
    -- JSON array of the tools: name, description, parameters.
    tools  TEXT NOT NULL
);

INSERT INTO local_tool_sets (digest, tools)
    SELECT 'stored-' || MIN(rowid), client_tools FROM local_runs GROUP BY client_tools;

ALTER TABLE local_runs ADD COLUMN tool_set TEXT NOT NULL DEFAULT '';
UPDATE local_runs SET tool_set =
    (SELECT digest FROM local_tool_sets WHERE tools = local_runs.client_tools);
ALTER TABLE local_runs DROP COLUMN client_tools;
CREATE INDEX local_runs_by_tool_set ON local_runs (tool_set);

-- A set no run refers to any more goes with its last run.
CREATE TRIGGER local_tool_sets_unused AFTER DELETE ON local_runs
BEGIN
    DELETE FROM local_tool_sets WHERE digest = OLD.tool_set
        AND NOT EXISTS (SELECT 1 FROM local_runs WHERE tool_set = OLD.tool_set);
END;
