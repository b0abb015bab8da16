#!/usr/bin/env python3
"""A scripted, OpenAI-compatible chat model for driving a real Letta server in tests.

Standard library only; listens on loopback only. The Letta server is pointed at it with
OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 and agents use the handle `openai-proxy/fake-model`.

What it answers is decided by the last user message, so a test writes its script there:

  [[call:Tool {"json": "args"}]]   call these tools in order, one per model response (the number of
                                   tool results since the user message says which is next), then
                                   answer in text. The tool need not be among the offered ones.
  [[parallel]]                     make every scripted call in one response
  [[repeat=N]]                     repeat the text answer N times (long streams)
  [[delay=S]]                      seconds between streamed chunks
  [[notool]]                       never call a tool
  [[http=CODE]]                    fail with that HTTP status and an OpenAI-style error body

Without a script: a tool whose name appears in the user's text is called with placeholder
arguments; after a tool result the answer is "The tool said: <result>"; otherwise
"Echo: <user text>".

GET /requests returns every request body received, for assertions.
"""
import argparse
import hashlib
import json
import math
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ID = "fake-model"
DEFAULT_DELAY = 0.05
AFTER_TOOL = "The tool said:"

DIRECTIVE = re.compile(r"\[\[(\w+)(?:=([^\]]*))?\]\]")
SCRIPTED_CALL = re.compile(r"\[\[call:(\w+)\s*(\{.*?\})?\]\]", re.S)

received = []
received_lock = threading.Lock()


REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>\s*", re.S)


def text_of(content):
    """The plain text of a chat message's content (a string or a list of parts), without
    system reminders: like a real model, the script reads what the user wrote."""
    if isinstance(content, str):
        return REMINDER.sub("", content)
    if isinstance(content, list):
        return " ".join(
            text
            for text in (
                REMINDER.sub("", str(part.get("text") or part.get("content") or "")) if isinstance(part, dict) else str(part)
                for part in content
            )
            if text
        )
    return "" if content is None else str(content)


def last_user_index(messages):
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def placeholder_arguments(schema):
    samples = {"string": "test", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}
    properties = (schema or {}).get("properties") or {}
    arguments = {}
    for name in (schema or {}).get("required", list(properties)) or []:
        kind = (properties.get(name) or {}).get("type", "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        arguments[name] = samples.get(kind, "test")
    return arguments


class Plan:
    """What one chat request is answered with: a list of tool calls, or text."""

    def __init__(self, body):
        messages = body.get("messages") or []
        user_at = last_user_index(messages)
        user_text = text_of(messages[user_at].get("content")) if user_at is not None else ""
        self.directives = {key: value or "1" for key, value in DIRECTIVE.findall(user_text)}
        self.calls = []
        self.text = ""
        last = messages[-1] if messages else {}
        after_tool = f"{AFTER_TOOL} {text_of(last.get('content'))}".strip()

        # A model calls only tools it is offered: a request with none (a
        # summary asked for) is answered in text, whatever the script says.
        script = [(name, json.loads(args or "{}")) for name, args in SCRIPTED_CALL.findall(user_text)]
        if not body.get("tools"):
            script = []
        if script:
            done = sum(1 for m in messages[(user_at or 0) + 1:] if m.get("role") == "tool")
            if done >= len(script):
                self.text = after_tool
            elif "parallel" in self.directives:
                self.calls = script[done:]
            else:
                self.calls = [script[done]]
            return
        if last.get("role") == "tool":
            self.text = after_tool
            return
        offered = [] if "notool" in self.directives else body.get("tools") or []
        for tool in offered:
            function = tool.get("function", {}) if isinstance(tool, dict) else {}
            if function.get("name") and function["name"] in user_text:
                self.calls = [(function["name"], placeholder_arguments(function.get("parameters")))]
                return
        self.text = "Echo: " + user_text.strip().replace("\n", " ")[:200]

    @property
    def answer_text(self):
        return " ".join([self.text] * int(self.directives.get("repeat", "1"))) if self.text else ""

    def usage(self, body):
        prompt = sum(len(text_of(m.get("content"))) for m in body.get("messages") or []) // 4 + 1
        completion = max(1, len(self.answer_text or json.dumps(self.calls)) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def reply_json(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        return self.path.split("?")[0].rstrip("/").removeprefix("/v1")

    def do_GET(self):
        route = self.route()
        if route == "/models":
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests", "context_length": 32000}
            return self.reply_json(200, {"object": "list", "data": [model]})
        if route == "/health":
            return self.reply_json(200, {"ok": True})
        if self.path.rstrip("/") == "/requests":
            with received_lock:
                return self.reply_json(200, list(received))
        return self.reply_json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
        route = self.route()
        with received_lock:
            received.append({"t": time.time(), "path": self.path, "body": body})
        if route == "/chat/completions":
            return self.chat(body)
        if route == "/embeddings":
            return self.embeddings(body)
        return self.reply_json(404, {"error": {"message": f"not served: {route}", "type": "invalid_request_error"}})

    def embeddings(self, body):
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        size = int(body.get("dimensions") or 1536)
        data = []
        for index, item in enumerate(inputs):
            digest = hashlib.sha256(json.dumps(item).encode()).digest()
            vector = [((digest[i % 32] + i) % 97) / 97.0 - 0.5 for i in range(size)]
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            data.append({"object": "embedding", "index": index, "embedding": [v / norm for v in vector]})
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return self.reply_json(200, {"object": "list", "data": data, "model": body.get("model", MODEL_ID), "usage": usage})

    def chat(self, body):
        plan = Plan(body)
        if "http" in plan.directives:
            status = int(plan.directives["http"])
            kind = "server_error" if status >= 500 else "invalid_request_error"
            return self.reply_json(status, {"error": {"message": f"scripted failure {status}", "type": kind, "code": str(status)}})
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        model = body.get("model", MODEL_ID)
        calls = [
            {"id": "call_" + uuid.uuid4().hex[:20], "type": "function",
             "function": {"name": name, "arguments": json.dumps(arguments)}}
            for name, arguments in plan.calls
        ]
        if not body.get("stream"):
            message = {"role": "assistant", "content": plan.answer_text or None}
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            return self.reply_json(200, {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                                         "model": model, "choices": [choice], "usage": plan.usage(body)})
        self.stream(body, plan, calls, completion_id, model)

    def stream(self, body, plan, calls, completion_id, model):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        delay = float(plan.directives.get("delay", DEFAULT_DELAY))

        def send(payload):
            self.wfile.write(b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n")
            self.wfile.flush()

        def chunk(delta, finish=None, usage=None):
            value = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                     "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage:
                value["usage"] = usage
            return value

        try:
            send(chunk({"role": "assistant", "content": ""}))
            for index, call in enumerate(calls):
                opening = {"index": index, "id": call["id"], "type": "function",
                           "function": {"name": call["function"]["name"], "arguments": ""}}
                send(chunk({"tool_calls": [opening]}))
                arguments = call["function"]["arguments"]
                # Arguments arrive in three pieces, as real models split them.
                step = max(1, len(arguments) // 3)
                for start in range(0, len(arguments), step):
                    time.sleep(delay)
                    send(chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[start:start + step]}}]}))
            if calls:
                send(chunk({}, "tool_calls"))
            else:
                for index, word in enumerate(plan.answer_text.split(" ")):
                    time.sleep(delay)
                    send(chunk({"content": word if index == 0 else " " + word}))
                send(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                send(chunk(None, usage=plan.usage(body)))
            send(b"[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8399)
    port = parser.parse_args().port
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"scripted model on http://127.0.0.1:{port}/v1 as {MODEL_ID}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
