#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The far side of test-allowlist.sh, run inside the peer network namespace:
the servers the sandbox's proxy connects to, with no internet.

  10.203.1.2:80   HTTP, body "cbox-allowed-ok" (/big?bytes=N: N bytes, for
                  the benchmark)
  10.203.1.2:443  HTTPS (CERT, KEY), body "cbox-tls-ok"
  10.203.1.2:22   a TCP banner "SSH-2.0-cbox-allowlist-test", then closes
  10.203.1.3:80   HTTP, body "cbox-denied-LEAK" (reached: the test fails)
  10.203.1.3:443  HTTPS, the same
  10.203.1.2:53   DNS (UDP): allowed.test -> 10.203.1.2, denied.test ->
                  10.203.1.3, rebind.test -> 127.0.0.1, self.test ->
                  10.203.1.1 (the proxy's own side), others NXDOMAIN

Prints "ready" once all listen; ends when stdin closes."""
import http.server
import socket
import socketserver
import ssl
import struct
import sys
import threading
from urllib.parse import parse_qs, urlparse

cert, key = sys.argv[1], sys.argv[2]
NAMES = {
    "allowed.test": "10.203.1.2",
    "denied.test": "10.203.1.3",
    "rebind.test": "127.0.0.1",
    "self.test": "10.203.1.1",
}


def handler(body):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/big":
                size = int(parse_qs(url.query).get("bytes", ["0"])[0])
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b"x" * 65536
                while size > 0:
                    n = min(size, len(chunk))
                    self.wfile.write(chunk[:n])
                    size -= n
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def tls_server(address, body):
    server = Server((address, 443), handler(body))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


class Banner(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"SSH-2.0-cbox-allowlist-test\r\n")


class BannerServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def qname(packet):
    labels, i = [], 12
    while packet[i]:
        n = packet[i]
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels).lower(), i + 5


def dns(sock):
    while True:
        packet, peer = sock.recvfrom(512)
        try:
            asked, end = qname(packet)
            qtype = struct.unpack("!H", packet[end - 4 : end - 2])[0]
        except (IndexError, struct.error):
            continue
        question = packet[12:end]
        address = NAMES.get(asked)
        found = address is not None and qtype == 1
        # NOERROR without answers for other types of a known name.
        flags = 0x8180 if address is not None else 0x8183
        header = packet[:2] + struct.pack("!HHHHH", flags, 1, 1 if found else 0, 0, 0)
        answer = b""
        if found:
            answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
        sock.sendto(header + question + answer, peer)


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("10.203.1.2", 53))
servers = [
    Server(("10.203.1.2", 80), handler(b"cbox-allowed-ok\n")),
    Server(("10.203.1.3", 80), handler(b"cbox-denied-LEAK\n")),
    tls_server("10.203.1.2", b"cbox-tls-ok\n"),
    tls_server("10.203.1.3", b"cbox-denied-LEAK\n"),
    BannerServer(("10.203.1.2", 22), Banner),
]
threading.Thread(target=dns, args=(udp,), daemon=True).start()
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
