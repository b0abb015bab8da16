-- A tool result that is more than text (an image the agent looked at):
-- the content parts sent as the tool return, as a JSON array. `result`
-- keeps the text shown to people.
ALTER TABLE tool_calls ADD COLUMN result_content TEXT;
