#!/usr/bin/env python3
"""The policy conformance model's probe worker (tests/e2e/policy-conformance.sh).

Runs inside one source's network namespace and probes every given destination at once from a
single process, with non-blocking sockets: one process per source instead of three per cell (a
subshell, timeout and socat), so that a 400-cell round costs the machine little and a loaded
machine does not turn slow probes into blocked cells.

  probe_worker.py <timeout scale> <out dir> <source> [<destination> <address> <tcp|udp>/<port>]...

writes <out dir>/<source>,<destination>,<proto>-<port>: 1 when the destination answered with its
name, 0 otherwise (refused, dropped, timed out, someone else answered). Timeouts: TCP connect 1 s,
TCP answer 3 s, UDP answer 1.5 s, each times the scale (retry rounds use a larger one).
"""

import errno
import os
import selectors
import socket
import sys
import time

TCP_CONNECT_S = 1.0
TCP_ANSWER_S = 3.0
UDP_ANSWER_S = 1.5


class Probe:
    def __init__(self, selector, destination, address, proto_port, scale, now):
        self.selector = selector
        self.destination = destination
        self.proto, port = proto_port.split("/")
        self.name = f"{destination},{self.proto}-{port}"
        self.answer = b""
        self.connected = False
        self.done = False
        self.ok = False
        if self.proto == "tcp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            self.connect_deadline = now + TCP_CONNECT_S * scale
            self.deadline = now + TCP_ANSWER_S * scale
            err = self.sock.connect_ex((address, int(port)))
            if err not in (0, errno.EINPROGRESS):
                self.finish()
                return
            selector.register(self.sock, selectors.EVENT_WRITE, self)
        elif self.proto == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.setblocking(False)
            self.connect_deadline = self.deadline = now + UDP_ANSWER_S * scale
            try:
                self.sock.connect((address, int(port)))
                self.sock.send(b"probe\n")
                self.connected = True
            except OSError:
                self.finish()
                return
            selector.register(self.sock, selectors.EVENT_READ, self)
        else:
            raise SystemExit(f"probe_worker: unknown protocol in {proto_port!r}")

    def on_ready(self):
        if not self.connected:  # TCP connect finished, one way or the other
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                self.finish()
            else:
                self.connected = True
                self.selector.modify(self.sock, selectors.EVENT_READ, self)
            return
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:  # refused (ICMP unreachable on UDP, RST on TCP)
            self.finish()
            return
        self.answer += data
        if self.proto == "udp" or not data:  # one datagram, or the end of the TCP answer
            self.finish()

    def due(self):
        """When this probe gives up: at the connect deadline until connected, then the answer's."""
        return self.deadline if self.connected else self.connect_deadline

    def finish(self):
        # The answer counts only when it is the destination's name (as bash's $(...) strips it).
        self.ok = self.answer.decode(errors="replace").rstrip("\n") == self.destination
        self.done = True
        if self.sock.fileno() in self.selector.get_map():
            self.selector.unregister(self.sock)
        self.sock.close()


def main(argv):
    if len(argv) < 4 or (len(argv) - 4) % 3:
        raise SystemExit(__doc__)
    scale, out, source = float(argv[1]), argv[2], argv[3]
    now = time.monotonic()
    selector = selectors.DefaultSelector()
    probes = [Probe(selector, argv[i], argv[i + 1], argv[i + 2], scale, now)
              for i in range(4, len(argv), 3)]
    while True:
        pending = [p for p in probes if not p.done]
        if not pending:
            break
        wake = min(p.due() for p in pending)
        for key, _ in selector.select(max(0.0, wake - time.monotonic())):
            if not key.data.done:
                key.data.on_ready()
        now = time.monotonic()
        for p in pending:
            if not p.done and now >= p.due():
                p.finish()
    for p in probes:
        with open(os.path.join(out, f"{source},{p.name}"), "w") as f:
            f.write("1\n" if p.ok else "0\n")


if __name__ == "__main__":
    main(sys.argv)
