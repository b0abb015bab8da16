-- Session context (a system reminder telling the agent where it works):
-- whether the runtime sends it, and the working directory it last
-- described (NULL: not yet sent), so a restart does not send it again.
ALTER TABLE runtimes ADD COLUMN session_context INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runtimes ADD COLUMN context_cwd TEXT;
