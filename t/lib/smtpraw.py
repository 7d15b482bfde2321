#!/usr/bin/python3
# smtpraw.py - send raw bytes to an SMTP server and print every reply line.
#
# usage: smtpraw.py PORT STEP...
#   a STEP is "send:TEXT" (Python escapes: \r \n \x00), "read" (read one
#   reply, multi-line aware), "tls" (start TLS now), "sleep:SECONDS",
#   "readall" (read until the server closes), "auth:USER:PASS" (AUTH PLAIN),
#   "trickle:SECONDS:TEXT" (TEXT a byte at a time, SECONDS apart; it stops,
#   saying "closed while sending", when the server has closed)
# Prints "S: <reply line>" for what the server said, "closed" when it closed.
# SPDX-License-Identifier: MIT
import base64
import codecs
import socket
import ssl
import sys
import time

port = int(sys.argv[1])
sock = socket.create_connection(("127.0.0.1", port), timeout=20)
buf = b""


def read_reply():
    global buf
    lines = []
    while True:
        while b"\n" not in buf:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                print("closed")
                sys.stdout.flush()
                return lines
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        text = line.decode("utf-8", "replace").rstrip("\r")
        print("S: " + text)
        lines.append(text)
        if len(text) < 4 or text[3] != "-":
            sys.stdout.flush()
            return lines


for step in sys.argv[2:]:
    if step.startswith("send:"):
        # escapes (\r \n \x00) processed, other text sent as UTF-8
        data = codecs.escape_decode(step[5:].encode("utf-8"))[0]
        sock.sendall(data)
    elif step == "read":
        read_reply()
    elif step == "readall":
        while True:
            if not read_reply() and not buf:
                break
    elif step == "tls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="out.test")
        buf = b""
        print("tls " + sock.version())
    elif step.startswith("trickle:"):
        _, pause, text = step.split(":", 2)
        data = codecs.escape_decode(text.encode("utf-8"))[0]
        try:
            for i in range(len(data)):
                if i > 0:
                    time.sleep(float(pause))
                sock.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            print("closed while sending")
    elif step.startswith("sleep:"):
        time.sleep(float(step[6:]))
    elif step.startswith("auth:"):
        _, user, pw = step.split(":", 2)
        tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        sock.sendall(("AUTH PLAIN " + tok + "\r\n").encode())
        read_reply()
    else:
        sys.exit("bad step " + step)
sys.stdout.flush()
