-- The client-side tool calls a run stopped for (requires_approval), so a
-- restarted daemon can finish answering them.
ALTER TABLE runs ADD COLUMN approval_calls TEXT;
