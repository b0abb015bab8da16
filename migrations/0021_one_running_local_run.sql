-- A conversation runs one run at a time. The daemon checked before
-- starting one; the database now refuses a second, which also closes the
-- gap between that check and the insert.
UPDATE local_runs
SET status = 'failed', stop_reason = 'error',
    error = 'a newer run of the conversation was running'
WHERE status = 'running'
  AND rowid NOT IN (
      SELECT MAX(rowid) FROM local_runs WHERE status = 'running' GROUP BY conversation_id);
CREATE UNIQUE INDEX local_runs_one_running ON local_runs (conversation_id)
    WHERE status = 'running';
