#!/usr/bin/python3
"""peers.py - receiving MTAs for the smg-send tests.

  peers.py mta --addr A --port P --out DIR [--tls CERT KEY] --ready FILE
      a real MTA (python3-aiosmtpd), with STARTTLS when --tls is given;
      every message is stored as DIR/NNNN.eml, preceded by the fields
      X-Peer (the client address it saw), X-TLS (protocol or "none"),
      X-Helo, X-Mail-From (with parameters), X-Rcpt-To (one per
      recipient); each session appends "peer=ADDR helo=NAME tls=..." to
      DIR/sessions.log, and each TLS handshake the server name the client
      sent (or "-") to DIR/sni.log.

  peers.py script --addr A --port P --out DIR --mode MODE [--size N]
          [--tls CERT KEY] --ready FILE
      a scripted ESMTP peer (PIPELINING, SIZE N, 8BITMIME, DSN, and
      STARTTLS with --tls) for faults that a real MTA does not produce on
      demand.  Recipients decide their
      own fate by their local part: perm* gets 550 5.1.1, temp* gets
      451 4.3.0, full* gets 552 5.2.2, vrfy* gets 252 2.1.5 (accepted),
      anything else 250.  MODE:
        normal      as above; accepted messages stored as with mta
        hang-data   after the final dot, never reply
        hang-second the same at the second message of a session
        idle-421    421 to the second MAIL of a session, then close (a
                    server that ended an idle connection)
        drop-data   close the connection in the middle of the message
        drop-rcpt   close the connection at the first RCPT
        slow-data   read the message at at most 3 MB/s (a slow server)
        greet-554   greet with 554 5.7.1 and close
        temp-all    451 4.7.1 to every RCPT
        data-250    250 to DATA instead of 354 (a broken server)
        rcpt-limit  452 4.5.3 to every RCPT after the first two of a message
        tls-421     421 4.3.2 to the EHLO after STARTTLS, then close (a
                    server that took TLS and then turned the client away)
      Each session appends "peer=ADDR helo=NAME" to DIR/sessions.log and
      every command line to DIR/commands.log.

SPDX-License-Identifier: MIT
"""
import argparse
import asyncio
import os
import socket
import ssl
import sys
import threading
import time


class Store:
    """Numbered message files and a session log in one folder."""

    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        os.makedirs(out, exist_ok=True)

    def log(self, name, line):
        with self.lock, open(os.path.join(self.out, name), "a") as f:
            f.write(line + "\n")

    def save(self, fields, data):
        with self.lock:
            n = len([x for x in os.listdir(self.out) if x.endswith(".eml")])
            tmp = os.path.join(self.out, ".tmp-%d" % n)
            with open(tmp, "wb") as f:
                for k, v in fields:
                    f.write(("%s: %s\n" % (k, v)).encode())
                f.write(data)
            os.rename(tmp, os.path.join(self.out, "%04d.eml" % (n + 1)))


def run_mta(a):
    from aiosmtpd.controller import Controller

    store = Store(a.out)

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            tls = "none"
            if session.ssl is not None:
                obj = session.ssl.get("ssl_object") if isinstance(session.ssl, dict) else None
                tls = obj.version() if obj is not None else "yes"
            store.log("sessions.log", "peer=%s helo=%s tls=%s" % (session.peer[0], hostname, tls))
            return responses

        async def handle_DATA(self, server, session, envelope):
            tls = "none"
            if session.ssl is not None:
                obj = session.ssl.get("ssl_object") if isinstance(session.ssl, dict) else None
                tls = obj.version() if obj is not None else "yes"
            fields = [("X-Peer", session.peer[0]), ("X-TLS", tls),
                      ("X-Helo", session.host_name),
                      ("X-Mail-From", " ".join([envelope.mail_from] + envelope.mail_options))]
            for r in envelope.rcpt_tos:
                fields.append(("X-Rcpt-To", r))
            store.save(fields, envelope.original_content or envelope.content)
            return "250 2.0.0 Ok: queued"

    kw = {}
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        # the server name each client sent (SNI), one line a handshake
        ctx.sni_callback = lambda obj, name, c: store.log("sni.log", name or "-")
        kw["tls_context"] = ctx
    ctl = Controller(Handler(), hostname=a.addr, port=a.port, decode_data=False,
                     data_size_limit=0, ident="peers.py mta", **kw)
    ctl.start()
    with open(a.ready, "w") as f:
        f.write("ready\n")
    try:
        while True:
            time.sleep(3600)
    finally:
        ctl.stop()


def serve_script(conn, peer, a, store):
    """One session of the scripted peer."""
    f = conn.makefile("rb")
    tls = None

    def send(line):
        conn.sendall(line.encode() + b"\r\n")

    if a.mode == "greet-554":
        send("554 5.7.1 no service for you")
        conn.close()
        return
    send("220 script.test ESMTP peers.py")
    helo = "?"
    mail = None
    rcpts = []
    messages = 0
    while True:
        raw = f.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        store.log("commands.log", line)
        cmd = line[:4].upper()
        if cmd == "EHLO" and a.mode == "tls-421" and tls is not None:
            send("421 4.3.2 script.test Service shutting down")
            conn.close()
            return
        elif cmd == "EHLO":
            helo = line[5:]
            store.log("sessions.log", "peer=%s helo=%s" % (peer, helo))
            send("250-script.test")
            send("250-PIPELINING")
            send("250-SIZE %d" % a.size)
            send("250-8BITMIME")
            if a.tls and tls is None:
                send("250-STARTTLS")
            send("250 DSN")
        elif cmd == "STAR" and a.tls and tls is None:
            send("220 2.0.0 Ready to start TLS")
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(a.tls[0], a.tls[1])
            conn = tls.wrap_socket(conn, server_side=True)
            f = conn.makefile("rb")
            helo = "?"
            mail = None
            rcpts = []
        elif cmd == "HELO":
            helo = line[5:]
            send("250 script.test")
        elif cmd == "MAIL" and a.mode == "idle-421" and messages >= 1:
            send("421 4.4.2 script.test Error: timeout exceeded")
            conn.close()
            return
        elif cmd == "MAIL":
            mail = line[10:]
            rcpts = []
            send("250 2.1.0 Ok")
        elif cmd == "RCPT":
            addr = line[8:].split(">")[0].lstrip("<")
            local = addr.split("@")[0]
            if a.mode == "drop-rcpt":
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                return
            if a.mode == "temp-all":
                send("451 4.7.1 try again later")
            elif a.mode == "rcpt-limit" and len(rcpts) >= 2:
                send("452 4.5.3 Error: too many recipients")
            elif local.startswith("perm"):
                send("550 5.1.1 <%s>: Recipient address rejected: no such user" % addr)
            elif local.startswith("temp"):
                send("451 4.3.0 <%s>: mailbox busy, try again" % addr)
            elif local.startswith("full"):
                send("552 5.2.2 <%s>: mailbox full" % addr)
            elif local.startswith("vrfy"):
                rcpts.append(line[8:])
                send("252 2.1.5 <%s>: cannot verify, but will accept" % addr)
            else:
                rcpts.append(line[8:])
                send("250 2.1.5 Ok")
        elif cmd == "DATA":
            if mail is None or not rcpts:
                send("554 5.5.1 Error: no valid recipients")
                continue
            if a.mode == "data-250":
                send("250 2.0.0 Ok")
                continue
            send("354 End data with <CR><LF>.<CR><LF>")
            parts = []  # joined at the end: += of bytes is quadratic
            got = 0
            while True:
                chunk = f.readline()
                if not chunk:
                    return
                if a.mode == "slow-data" and got // 65536 != (got + len(chunk)) // 65536:
                    time.sleep(0.02)
                got += len(chunk)
                if a.mode == "drop-data" and got > 20:
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                    return
                if chunk == b".\r\n":
                    break
                if chunk.startswith(b".."):
                    chunk = chunk[1:]
                parts.append(chunk)
            data = b"".join(parts)
            messages += 1
            if a.mode == "hang-data" or (a.mode == "hang-second" and messages == 2):
                time.sleep(3600)
                return
            fields = [("X-Peer", peer), ("X-TLS", conn.version() if tls else "none"),
                      ("X-Helo", helo),
                      ("X-Mail-From", mail)]
            fields += [("X-Rcpt-To", r) for r in rcpts]
            store.save(fields, data)
            mail = None
            rcpts = []
            send("250 2.0.0 Ok: queued as SCRIPT")
        elif cmd == "RSET":
            mail = None
            rcpts = []
            send("250 2.0.0 Ok")
        elif cmd == "NOOP":
            send("250 2.0.0 Ok")
        elif cmd == "QUIT":
            send("221 2.0.0 Bye")
            conn.close()
            return
        else:
            send("502 5.5.2 Error: command not recognized")


def run_script(a):
    store = Store(a.out)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.mode == "slow-data":
        # a small window, inherited by each connection: the client's
        # writes wait for this reader, not for the kernel's buffers
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.bind((a.addr, a.port))
    s.listen(64)
    with open(a.ready, "w") as f:
        f.write("ready\n")
    while True:
        conn, addr = s.accept()

        def session(c=conn, p=addr[0]):
            try:
                serve_script(c, p, a, store)
            except OSError:
                pass
            finally:
                try:
                    c.close()
                except OSError:
                    pass

        threading.Thread(target=session, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["mta", "script"])
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--size", type=int, default=10240000,
                   help="the SIZE the scripted peer announces")
    p.add_argument("--mode", default="normal",
                   choices=["normal", "hang-data", "drop-data", "greet-554", "temp-all",
                            "data-250", "rcpt-limit", "slow-data", "drop-rcpt",
                            "hang-second", "idle-421", "tls-421"])
    a = p.parse_args()
    if a.kind == "mta":
        run_mta(a)
    else:
        run_script(a)


if __name__ == "__main__":
    sys.exit(main())
