-- Session context (a system reminder telling the agent where it works):
-- whether the runtime sends it, the working directory it last described
-- (NULL: not yet sent) and the skills it last listed (JSON), so a restart
-- does not send them again.
ALTER TABLE runtimes ADD COLUMN session_context INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runtimes ADD COLUMN context_cwd TEXT;
ALTER TABLE runtimes ADD COLUMN context_skills TEXT;
