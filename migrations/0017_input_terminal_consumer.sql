-- The frontend that asked to be named in an input's `turn_finished`
-- (`input.terminal_consumer_id`), kept with the input so the event says so
-- even when the turn ends after a restart.
ALTER TABLE inputs ADD COLUMN terminal_consumer_id TEXT;
