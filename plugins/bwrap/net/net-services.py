#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Host services for cbox's network isolation tests (test-bwrap-network.c):
an HTTP server on 127.0.0.1 and one on ::1, a UDP echo on 127.0.0.1, each
on a port the kernel picks. Prints "http4 PORT", "http6 PORT", "udp PORT"
and "ready", then serves until its stdin closes (the test ended)."""
import http.server
import socket
import sys
import threading

BODY = b"cbox-host-service\n"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


http4 = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
http6 = Server6(("::1", 0), Handler)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))


def echo():
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(data, peer)


for target in (http4.serve_forever, http6.serve_forever, echo):
    threading.Thread(target=target, daemon=True).start()
print("http4", http4.server_address[1])
print("http6", http6.server_address[1])
print("udp", udp.getsockname()[1])
print("ready", flush=True)
sys.stdin.read()
