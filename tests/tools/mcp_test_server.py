"""A small MCP server for the daemon's tests, on the official Python SDK.

    mcp_test_server.py                 speaks MCP on stdio
    mcp_test_server.py --http PORT     speaks streamable HTTP on 127.0.0.1:PORT/mcp

Tools:
    echo(text)              returns text; marked read-only
    write_note(path, text)  writes text to path (a change: asks in standard mode)
    crash()                 the process exits in the middle of the call
    grow(name)              adds a tool `name` and tells the client its tools changed
Every call is appended to $MCP_TEST_CALL_LOG (one JSON line), if set, so a
test can count how often a tool really ran.
"""

import json
import os
import sys

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations

server = FastMCP("daemon-test")


def record(tool, **arguments):
    log = os.environ.get("MCP_TEST_CALL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"tool": tool, "pid": os.getpid(), **arguments}) + "\n")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def echo(text: str) -> str:
    """Returns the text it is given."""
    record("echo", text=text)
    return f"echo: {text}"


@server.tool()
def write_note(path: str, text: str) -> str:
    """Writes a note to a file."""
    record("write_note", path=path)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
    return f"wrote {len(text)} characters to {path}"


@server.tool()
def crash() -> str:
    """Stops the server in the middle of the call."""
    record("crash")
    sys.stdout.flush()
    os._exit(3)


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool with this name."""
    record("grow", name=name)

    def added() -> str:
        return f"{name} ran"

    server.add_tool(added, name=name, description=f"A tool added at run time: {name}")
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.settings.host = "127.0.0.1"
        server.settings.port = int(sys.argv[2])
        server.run(transport="streamable-http")
    else:
        server.run(transport="stdio")
