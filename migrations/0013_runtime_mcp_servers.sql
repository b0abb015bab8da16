-- MCP servers given to one runtime (by an editor's session), besides those
-- configured for its agent: a JSON list in Letta Code's `mcpServers` format.
ALTER TABLE runtimes ADD COLUMN mcp_servers TEXT NOT NULL DEFAULT '[]';
