#!/usr/bin/python3
# sign-bench.py - helpers of `scripts/bench sign`.
#
#   sign-bench.py messages DIR COUNT SIZE   spool files (SMG-* envelope and a
#                                           message of about SIZE bytes, LF)
#                                           for each of rsa/ed/dual.bench:
#                                           DIR/<kind>/<ID>
#   sign-bench.py milter SOCKET DIR         send every file of DIR (envelope
#                                           fields dropped, CRLF) through the
#                                           milter on unix socket SOCKET, one
#                                           connection, one message after the
#                                           other; print "messages seconds
#                                           signatures" (DKIM-Signature fields
#                                           the milter added)
#   sign-bench.py speed                     `openssl speed` sign/s for
#                                           rsa2048 and ed25519: "RSA ED"
#   sign-bench.py run CMD...                run CMD; print "SECONDS CPU" (wall
#                                           time, and user+system time of CMD
#                                           and its children) on stderr's last
#                                           line; exit with CMD's status
#
# The milter client speaks the milter protocol version 6 and offers no
# protocol flags, so the milter must reply to every command.
# SPDX-License-Identifier: MIT
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

WORDS = ("the gateway signs every message for its sender domain so that "
         "receivers can check it came from here and was not changed on the "
         "way quarterly report invoice shipment attached regards").split()


def messages(outdir, count, size):
    rnd = random.Random(4)
    for kind in ("rsa", "ed", "dual"):
        d = os.path.join(outdir, kind)
        os.makedirs(d, exist_ok=True)
        for i in range(count):
            qid = "B%s%06d" % (kind.upper(), i)
            head = ("SMG-Queue-ID: %s\nSMG-Sender: <app@%s.bench>\n"
                    "SMG-Recipient: <user%d@example.net>\n"
                    "Received: from app1.%s.bench by out.bench (smg) with ESMTP id %s\n"
                    "From: Application <app@%s.bench>\nTo: user%d@example.net\n"
                    "Subject: message %d of the benchmark\n"
                    "Date: Sun, 22 Nov 2026 05:00:00 +0000\n"
                    "Message-ID: <%s@%s.bench>\nMIME-Version: 1.0\n"
                    "Content-Type: text/plain; charset=us-ascii\n\n"
                    % (qid, kind, i, kind, qid, kind, i, i, qid, kind))
            body, line = [], []
            n = len(head)
            while n < size:
                w = rnd.choice(WORDS)
                line.append(w)
                if sum(len(x) + 1 for x in line) > 70:
                    body.append(" ".join(line))
                    n += len(body[-1]) + 1
                    line = []
            with open(os.path.join(d, qid), "w") as f:
                f.write(head + "\n".join(body) + "\n")


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def read_packet(sock, buf):
    while True:
        if len(buf) >= 4:
            n = struct.unpack(">I", bytes(buf[:4]))[0]
            if len(buf) >= 4 + n:
                cmd, data = bytes(buf[4:5]), bytes(buf[5:4 + n])
                del buf[:4 + n]
                return cmd, data
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("milter closed the connection")
        buf.extend(chunk)


def expect(sock, buf, ok=(b"c",)):
    cmd, data = read_packet(sock, buf)
    if cmd not in ok:
        raise RuntimeError("milter replied %r %r" % (cmd, data[:80]))
    return cmd, data


def milter(path, folder):
    files = sorted(os.listdir(folder))
    msgs = []
    for name in files:
        raw = open(os.path.join(folder, name), "rb").read()
        raw = re.sub(rb"\A(?:SMG-[A-Za-z-]+:[^\n]*\n)+", b"", raw)
        head, body = raw.split(b"\n\n", 1)
        fields = []
        for line in head.split(b"\n"):
            if line[:1] in (b" ", b"\t"):
                fields[-1][1] += b"\r\n" + line
            else:
                k, v = line.split(b":", 1)
                fields.append([k, v.lstrip(b" ")])
        sender = re.search(rb"^From: .*<([^>]*)>", head, re.M).group(1)
        msgs.append((sender, fields, body.replace(b"\n", b"\r\n")))
    # a unix socket, as Postfix usually talks to opendkim: on TCP the
    # milter's two-packet replies would wait for delayed ACKs (Nagle)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    buf = bytearray()
    sock.sendall(packet(b"O", struct.pack(">III", 6, 0x1FF, 0)))
    expect(sock, buf, (b"O",))
    sock.sendall(packet(b"D", b"C" + b"j\0out.bench\0{daemon_name}\0bench\0"))
    sock.sendall(packet(b"C", b"localhost\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0"))
    expect(sock, buf)
    sock.sendall(packet(b"H", b"out.bench\0"))
    expect(sock, buf)
    sigs = 0
    t0 = time.monotonic()
    for i, (sender, fields, body) in enumerate(msgs):
        sock.sendall(packet(b"D", b"M" + b"i\0Q%d\0" % i))
        sock.sendall(packet(b"M", b"<" + sender + b">\0"))
        expect(sock, buf)
        sock.sendall(packet(b"R", b"<user@example.net>\0"))
        expect(sock, buf)
        for k, v in fields:
            sock.sendall(packet(b"L", k + b"\0" + v + b"\0"))
            expect(sock, buf)
        sock.sendall(packet(b"N"))
        expect(sock, buf)
        for j in range(0, len(body), 65535):
            sock.sendall(packet(b"B", body[j:j + 65535]))
            expect(sock, buf)
        sock.sendall(packet(b"E"))
        while True:
            cmd, data = read_packet(sock, buf)
            if cmd in (b"h", b"i"):
                if b"DKIM-Signature\0" in data:
                    sigs += 1
                continue
            if cmd in (b"c", b"a"):
                break
            if cmd in (b"m", b"b", b"+", b"-", b"e", b"q"):
                continue
            raise RuntimeError("milter replied %r at end of message" % cmd)
    t1 = time.monotonic()
    sock.sendall(packet(b"Q"))
    sock.close()
    print("%d %.3f %d" % (len(msgs), t1 - t0, sigs))


def speed():
    out = {}
    for alg, key in (("rsa2048", "rsa"), ("ed25519", "ed")):
        text = subprocess.run(["openssl", "speed", "-seconds", "3", alg],
                              capture_output=True, text=True).stdout
        if key == "rsa":
            m = re.search(r"^rsa 2048 bits\s+\S+s\s+\S+s\s+([\d.]+)", text, re.M)
        else:
            m = re.search(r"\(Ed25519\)\s+\S+s\s+\S+s\s+([\d.]+)", text)
        out[key] = m.group(1) if m else "0"
    print(out["rsa"], out["ed"])


def run(argv):
    import resource
    t0 = time.monotonic()
    rc = subprocess.call(argv)
    t1 = time.monotonic()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write("%.3f %.3f\n" % (t1 - t0, ru.ru_utime + ru.ru_stime))
    return rc


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "messages":
        messages(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "milter":
        milter(sys.argv[2], sys.argv[3])
    elif cmd == "speed":
        speed()
    elif cmd == "run":
        sys.exit(run(sys.argv[2:]))
    else:
        sys.exit("usage: sign-bench.py messages DIR COUNT SIZE | milter SOCKET DIR | speed | run CMD...")


main()
