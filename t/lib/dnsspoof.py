#!/usr/bin/python3
"""dnsspoof.py - DNS test peers for t/lib/dns.sh (Python standard library).

  dnsspoof.py proxy --port P --upstream U --log FILE [--ready FILE]
      A UDP proxy on 127.0.0.1:P.  For each query it first sends back forged
      replies, each claiming NXDOMAIN:
        wrong-id        another query ID
        wrong-name      the right ID, one letter of the name changed
        wrong-type      the right ID, another query type
        not-response    the right ID and question, QR bit clear
        garbage         the right ID, then bytes that are no DNS message
        other-port      the right ID and question, from another port
      then forwards the query to the real server on 127.0.0.1:U and relays
      its answer ("relay").  One log line per datagram sent, in order:
      "N KIND QNAME rcode=R", N counting the queries.
  dnsspoof.py sink --silent P1 --refuse P2 --half P3 [--referral P4]
                   [--ready FILE]
      Three upstreams for unbound's stub zones: on 127.0.0.1:P1 queries are
      read and never answered; on 127.0.0.1:P2 each is answered REFUSED; on
      127.0.0.1:P3 an A query for a name whose first label is an address
      with dashes ("127-0-0-20.x.test.") gets that address, an AAAA query
      for "v6only.x.test." gets ::1, and any other query no answer (a
      server whose AAAA, or A, lookups time out).  And, for clients, on
      127.0.0.1:P4 a server that is not a resolver: each query gets the
      upward referral that an authoritative-only server gives for a name
      it does not serve (NOERROR, no answer, RA and AA clear, the root's
      NS record in the authority section).
  dnsspoof.py probe --port P --name NAME [--type N] [--first] [--timeout S]
      Send one query and print "rcode=R ancount=N" of the first datagram
      that arrives, from any sender (--first: a naive client, as ldns's
      resolver is) or only a matching reply from 127.0.0.1:P.  Exit 1 on
      time-out.

Forged packets are made by editing the bytes of the query.

SPDX-License-Identifier: MIT
"""

import argparse
import os
import random
import select
import socket
import struct
import sys
import threading
import time

NXDOMAIN = 3
REFUSED = 5


def qname_end(msg):
    """Offset just after the question's name (no compression in queries)."""
    i = 12
    while i < len(msg) and msg[i] != 0:
        i += 1 + msg[i]
    return i + 1


def qname_text(msg):
    labels, i = [], 12
    while i < len(msg) and msg[i] != 0:
        labels.append(msg[i + 1:i + 1 + msg[i]].decode("ascii", "replace"))
        i += 1 + msg[i]
    return ".".join(labels) + "."


def same_question(q, r):
    """Whether r's question is q's: the name in any case, type and class."""
    qe, re_ = qname_end(q), qname_end(r)
    return (r[12:re_].lower() == q[12:qe].lower()
            and r[re_:re_ + 4] == q[qe:qe + 4])


def as_reply(query, rcode, qr=True):
    """The query turned into an empty reply with rcode (and QR, RA)."""
    r = bytearray(query[:qname_end(query) + 4])  # header and question only
    r[2] = (r[2] | 0x80) if qr else (r[2] & 0x7F)
    r[3] = 0x80 | rcode
    r[4:12] = struct.pack(">HHHH", 1, 0, 0, 0)
    return r


def forgeries(query):
    """(kind, bytes) of the forged replies to one query."""
    out = []
    r = as_reply(query, NXDOMAIN)
    r[0] ^= 0x5A
    out.append(("wrong-id", bytes(r)))

    r = as_reply(query, NXDOMAIN)
    if r[12] > 0:  # change the first letter of the first label
        r[13] = ord("q") if r[13] not in (ord("q"), ord("Q")) else ord("z")
    out.append(("wrong-name", bytes(r)))

    r = as_reply(query, NXDOMAIN)
    t = qname_end(r)
    qtype = struct.unpack(">H", r[t:t + 2])[0]
    r[t:t + 2] = struct.pack(">H", 16 if qtype != 16 else 1)
    out.append(("wrong-type", bytes(r)))

    out.append(("not-response", bytes(as_reply(query, NXDOMAIN, qr=False))))

    # a header that promises one question, then a label cut short
    out.append(("garbage", bytes(query[:2])
                + b"\x81\x83\x00\x01\x00\x05\x00\x00\x00\x00\x3f"
                + os.urandom(6)))
    return out


def log_line(logf, lock, text):
    with lock:
        logf.write(text + "\n")
        logf.flush()


def proxy(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    logf = open(args.log, "a", encoding="ascii")
    lock = threading.Lock()
    counter = [0]
    ready(args)

    def serve(query, client, n):
        name = qname_text(query)
        for kind, pkt in forgeries(query):
            sock.sendto(pkt, client)
            log_line(logf, lock,
                     "%d %s %s rcode=%d" % (n, kind, name, NXDOMAIN))
        # right ID and question, but from another port of 127.0.0.1: only
        # a socket that is not connect()ed to the server would take it
        pkt = bytes(as_reply(query, NXDOMAIN))
        other.sendto(pkt, client)
        log_line(logf, lock, "%d other-port %s rcode=%d" % (n, name, NXDOMAIN))
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.settimeout(10)
        try:
            up.connect(("127.0.0.1", args.upstream))
            up.send(query)
            answer = up.recv(65535)
        except OSError as e:
            log_line(logf, lock, "%d upstream-failed %s %s" % (n, name, e))
            return
        finally:
            up.close()
        sock.sendto(answer, client)
        log_line(logf, lock,
                 "%d relay %s rcode=%d" % (n, name, answer[3] & 0x0F))

    while True:
        query, client = sock.recvfrom(65535)
        if len(query) < 17:
            continue
        counter[0] += 1
        threading.Thread(target=serve, args=(query, client, counter[0]),
                         daemon=True).start()


def a_answer(query):
    """An authoritative reply to an A query for "1-2-3-4.rest." with
    1.2.3.4, or to an AAAA query for "v6only.rest." with ::1; None for
    anything else."""
    end = qname_end(query)
    if len(query) < end + 4:
        return None
    qtype, qclass = struct.unpack(">HH", query[end:end + 4])
    first = qname_text(query).split(".")[0].lower()
    if qclass != 1:
        return None
    if qtype == 1:
        try:
            addr = socket.inet_aton(first.replace("-", "."))
        except OSError:
            return None
    elif qtype == 28 and first == "v6only":
        addr = socket.inet_pton(socket.AF_INET6, "::1")
    else:
        return None
    r = as_reply(query, 0)
    r[2] |= 0x04  # AA
    r[6:8] = struct.pack(">H", 1)
    r += struct.pack(">HHHIH", 0xC00C, qtype, 1, 60, len(addr)) + addr
    return r


def referral(query):
    """An upward referral to the root: NOERROR, RA and AA clear, no answer,
    ". NS a.root-servers.net." in the authority section."""
    r = as_reply(query, 0)
    r[3] &= 0x7F  # RA clear: no recursion here
    r[8:10] = struct.pack(">H", 1)
    ns = b"\x01a\x0croot-servers\x03net\x00"
    r += b"\x00" + struct.pack(">HHIH", 2, 1, 518400, len(ns)) + ns
    return r


def sink(args):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", args.silent))
    refuse = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    refuse.bind(("127.0.0.1", args.refuse))
    half = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    half.bind(("127.0.0.1", args.half))
    socks = [silent, refuse, half]
    refer = None
    if args.referral:
        refer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        refer.bind(("127.0.0.1", args.referral))
        socks.append(refer)
    ready(args)
    while True:
        rd, _, _ = select.select(socks, [], [])
        for s in rd:
            query, peer = s.recvfrom(65535)
            if s is refuse and len(query) >= 17:
                s.sendto(bytes(as_reply(query, REFUSED)), peer)
            elif s is refer and len(query) >= 17:
                s.sendto(bytes(referral(query)), peer)
            elif s is half and len(query) >= 17:
                r = a_answer(query)
                if r is not None:
                    s.sendto(bytes(r), peer)


def probe(args):
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in args.name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", args.type, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    server = ("127.0.0.1", args.port)
    s.sendto(q, server)
    deadline = time.monotonic() + args.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("timeout")
            return 1
        s.settimeout(left)
        try:
            r, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        if len(r) < 12:
            if args.first:
                print("garbage")
                return 0
            continue
        if not args.first and (peer != server or r[:2] != q[:2]
                               or not r[2] & 0x80 or not same_question(q, r)):
            continue
        print("rcode=%d ancount=%d" % (r[3] & 0x0F,
                                       struct.unpack(">H", r[6:8])[0]))
        return 0


def ready(args):
    if args.ready:
        with open(args.ready, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())


def main():
    ap = argparse.ArgumentParser(description="DNS test peers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ready")
    p = sub.add_parser("sink")
    p.add_argument("--silent", type=int, required=True)
    p.add_argument("--refuse", type=int, required=True)
    p.add_argument("--half", type=int, required=True)
    p.add_argument("--referral", type=int)
    p.add_argument("--ready")
    p = sub.add_parser("probe")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--type", type=int, default=1)
    p.add_argument("--first", action="store_true")
    p.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    if args.cmd == "proxy":
        proxy(args)
    elif args.cmd == "sink":
        sink(args)
    else:
        sys.exit(probe(args))


if __name__ == "__main__":
    main()
