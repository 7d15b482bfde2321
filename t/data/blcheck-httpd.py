#!/usr/bin/python3
# blcheck-httpd.py - the removal-request endpoint of the smg-blcheck tests.
#
# usage: blcheck-httpd.py PORTFILE LOGFILE FAILFILE
#
# A real HTTP/1.1 server (http.server) on 127.0.0.1 and a free port, which
# it writes to PORTFILE when it is ready.  Every request (any method) is
# logged to LOGFILE as one JSON object a line: method, path (with the
# query), headers, body (invalid UTF-8 replaced) and body_utf8 (whether
# the body was valid UTF-8 as sent).  The answer is 200 "ok", or 500 while
# FAILFILE exists, so a test can make the provider fail on demand.
# SPDX-License-Identifier: MIT
import http.server
import json
import os
import sys

PORTFILE, LOGFILE, FAILFILE = sys.argv[1:4]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            raw.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("utf-8", "replace"),
            "body_utf8": utf8,
        }
        with open(LOGFILE, "a") as f:
            f.write(json.dumps(rec) + "\n")
        status = 500 if os.path.exists(FAILFILE) else 200
        text = b"failed\n" if status == 500 else b"ok\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PUT = handle_any

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
