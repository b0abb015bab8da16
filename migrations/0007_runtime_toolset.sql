-- The runtime's toolset preference (`update_toolset`): auto, default, codex,
-- letta or none. A turn's client_toolset.base wins over it.
ALTER TABLE runtimes ADD COLUMN toolset TEXT NOT NULL DEFAULT 'auto';
