-- A subagent launched in the foreground: the launching `Agent` call waits
-- for its report and returns it, so no <task-notification> is sent (a
-- later message to it makes it a background one).
ALTER TABLE subagents ADD COLUMN foreground INTEGER NOT NULL DEFAULT 0;
