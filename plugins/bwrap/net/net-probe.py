#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Run inside a sandbox by test-bwrap-network.c: tries each target given
as an argument and prints one line per target, "NAME reached" or
"NAME unreachable: WHY". Targets:
  http:NAME:HOST:PORT    GET / and expect the body of net-services.py
  udp:NAME:HOST:PORT     a datagram to the UDP echo, and its echo back
  abstract:NAME:PATH     connect to the abstract unix socket @PATH
  own:NAME:PATH          listen on the abstract socket @PATH here, and
                         connect to it from a child process (the sandbox's
                         own abstract sockets must keep working)
"""
import os
import socket
import subprocess
import sys

BODY = b"cbox-host-service\n"


def http(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, int(port)))
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    if not reply.endswith(BODY):
        raise OSError("not the test's server: %r" % reply[:80])


def udp(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # A bound for a datagram that never comes back (dropped on the
        # way); a closed port answers at once with ECONNREFUSED.
        s.settimeout(3)
        s.connect((host, int(port)))
        s.send(b"cbox-ping")
        if s.recv(64) != b"cbox-ping":
            raise OSError("wrong echo")


def abstract(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect("\0" + path)


def own(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("\0" + path)
        server.listen(1)
        child = subprocess.run(
            [sys.executable, "-c",
             "import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
             "s.connect('\\0' + sys.argv[1])\n", path],
            stderr=subprocess.PIPE)
        if child.returncode != 0:
            raise OSError(child.stderr.decode().strip().splitlines()[-1])


for target in sys.argv[1:]:
    kind, name, rest = target.split(":", 2)
    try:
        if kind == "http":
            host, port = rest.rsplit(":", 1)
            http(host, port)
        elif kind == "udp":
            host, port = rest.rsplit(":", 1)
            udp(host, port)
        elif kind == "own":
            own(rest)
        else:
            abstract(rest)
        print(name, "reached", flush=True)
    except OSError as e:
        print(name, "unreachable:", e, flush=True)
