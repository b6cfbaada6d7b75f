#!/usr/bin/env python3
# A local stand-in for the Anthropic Messages API, for the Claude Code round
# trip of tests/test-real-programs.c: it answers every POST .../messages
# with one assistant message whose text is MOCK_REPLY (streamed as
# server-sent events when the request asks for a stream), and every other
# request with an empty JSON object. It listens on 127.0.0.1 on a free
# port, writes that port to the file named by its first argument once it
# listens, and logs each request's method and path to stderr.
#
# With MOCK_TOOL_COMMAND set, the first request that offers the Bash tool
# gets a tool_use block instead, asking Claude Code to run that command;
# the tool_result Claude Code sends back is appended, as JSON on one line,
# to the file MOCK_TOOL_RESULTS, and the final reply is MOCK_REPLY again.
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MOCK_REPLY = "cbox-mock-reply-7f3a"


def message(model, tool_command=None):
    if tool_command is None:
        content = [{"type": "text", "text": MOCK_REPLY}]
    else:
        content = [{"type": "tool_use", "id": "toolu_cbox_mock", "name": "Bash",
                    "input": {"command": tool_command, "description": "cbox probe"}}]
    return {
        "id": "msg_cbox_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "end_turn" if tool_command is None else "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def tool_results(request):
    return [block for m in request.get("messages", [])
            if isinstance(m.get("content"), list)
            for block in m["content"] if block.get("type") == "tool_result"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("mock: " + (fmt % args) + "\n")

    def send_json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send_json({})

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b"{}"
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        path = self.path.split("?")[0]
        if not path.endswith("/messages"):
            if path.endswith("/count_tokens"):
                self.send_json({"input_tokens": 10})
            else:
                self.send_json({})
            return
        model = request.get("model", "claude-mock")
        tool_command = os.environ.get("MOCK_TOOL_COMMAND")
        results = tool_results(request)
        if results and os.environ.get("MOCK_TOOL_RESULTS"):
            with open(os.environ["MOCK_TOOL_RESULTS"], "a") as f:
                for result in results:
                    f.write(json.dumps(result) + "\n")
        offers_bash = any(t.get("name") == "Bash" for t in request.get("tools", []))
        if not tool_command or results or not offers_bash:
            tool_command = None
        full = message(model, tool_command)
        if not request.get("stream"):
            self.send_json(full)
            return
        start = dict(full, content=[], stop_reason=None,
                     usage={"input_tokens": 10, "output_tokens": 0})
        if tool_command is None:
            block = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": MOCK_REPLY}
        else:
            block = dict(full["content"][0], input={})
            delta = {"type": "input_json_delta",
                     "partial_json": json.dumps(full["content"][0]["input"])}
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": block}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": full["stop_reason"],
                                         "stop_sequence": None},
                               "usage": {"output_tokens": 5}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        body = b"".join(
            ("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode()
            for name, data in events)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
