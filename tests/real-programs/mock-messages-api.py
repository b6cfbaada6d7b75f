#!/usr/bin/env python3
# A local stand-in for the Anthropic Messages API, for the Claude Code round
# trip of tests/test-real-programs.c: it answers every POST .../messages
# with one assistant message whose text is MOCK_REPLY (streamed as
# server-sent events when the request asks for a stream), and every other
# request with an empty JSON object. It listens on 127.0.0.1 on a free
# port, writes that port to the file named by its first argument once it
# listens, and logs each request's method and path to stderr.
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MOCK_REPLY = "cbox-mock-reply-7f3a"


def message(model):
    return {
        "id": "msg_cbox_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": MOCK_REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


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
        if not request.get("stream"):
            self.send_json(message(model))
            return
        full = message(model)
        start = dict(full, content=[], stop_reason=None,
                     usage={"input_tokens": 10, "output_tokens": 0})
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": MOCK_REPLY}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
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
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
