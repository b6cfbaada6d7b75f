#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The far side of test-outbound.sh, run inside the peer network namespace:
an HTTP server on ADDRESS:80 whose body is "cbox-outbound-ok", and a DNS
server on ADDRESS:53 (UDP) that answers NAME with ADDRESS (type A) and
everything else with NXDOMAIN. Prints "ready" once both listen."""
import http.server
import socket
import struct
import sys
import threading

address, name = sys.argv[1], sys.argv[2].lower().rstrip(".")
BODY = b"cbox-outbound-ok\n"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


def qname(packet):
    labels, i = [], 12
    while packet[i]:
        n = packet[i]
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels).lower(), i + 5  # past the zero, type and class


def dns(sock):
    while True:
        packet, peer = sock.recvfrom(512)
        try:
            asked, end = qname(packet)
            qtype = struct.unpack("!H", packet[end - 4 : end - 2])[0]
        except (IndexError, struct.error):
            continue
        question = packet[12:end]
        found = asked == name and qtype == 1
        flags = 0x8180 if found else 0x8183
        header = packet[:2] + struct.pack("!HHHHH", flags, 1, 1 if found else 0, 0, 0)
        answer = b""
        if found:
            answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
        sock.sendto(header + question + answer, peer)


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((address, 53))
web = http.server.ThreadingHTTPServer((address, 80), Handler)
threading.Thread(target=dns, args=(udp,), daemon=True).start()
threading.Thread(target=web.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
