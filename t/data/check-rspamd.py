#!/usr/bin/python3
"""check-rspamd.py - a peer on 127.0.0.1 for the smg-check rspamd tests.

usage: check-rspamd.py silent PORTFILE
       check-rspamd.py answer PORTFILE SCORE LOG

silent: listen, accept every connection and never answer (rspamd hung or
overloaded): the client must time out.  answer: reply to each POST as
rspamd's /checkv2 does, with the given score, and append the request's
first line and rspamd headers to LOG.  The port (free, chosen by the
kernel) is written to PORTFILE once listening.  Runs until killed.
SPDX-License-Identifier: MIT
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def silent(portfile):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # keep it open, say nothing


def answer(portfile, score, log):
    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(n)
            with open(log, "a") as f:
                f.write("%s from=%s rcpt=%s ip=%s helo=%s queue=%s user=%s size=%d\n" % (
                    self.requestline, self.headers.get("From"),
                    ",".join(self.headers.get_all("Rcpt") or []), self.headers.get("IP"),
                    self.headers.get("Helo"), self.headers.get("Queue-Id"),
                    self.headers.get("User"), len(body)))
            reply = json.dumps({"is_skipped": False, "score": score,
                                "required_score": 15.0, "action": "add header",
                                "symbols": {"FAKE_RSPAMD": {"score": score}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if sys.argv[1] == "silent":
    silent(sys.argv[2])
else:
    answer(sys.argv[2], float(sys.argv[3]), sys.argv[4])
