#!/usr/bin/python3
# dkim-verify.py - verify every DKIM signature of a message with dkimpy
# (python3-dkim), the keys looked up in the test's DNS server.
#
# usage: dkim-verify.py PORT FILE...
# The leading SMG-* envelope fields are removed and line ends made CRLF,
# as smg-send transmits the message.  Prints for each FILE a line
# "== FILE", then one line per signature, "pass|fail a=ALG d=DOMAIN
# s=SELECTOR", or "none" for no signature ("# reason" lines may come first).
# SPDX-License-Identifier: MIT
import re
import sys

import dkim
import dns.resolver


def main():
    port = int(sys.argv[1])
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port

    def dnsfunc(name, timeout=5):
        qname = name.decode() if isinstance(name, bytes) else name
        try:
            ans = res.resolve(qname, "TXT", lifetime=timeout)
        except Exception:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None

    for path in sys.argv[2:]:
        print("== %s" % path)
        check(path, dnsfunc)


def check(path, dnsfunc):
    msg = open(path, "rb").read()
    lines = msg.split(b"\n")
    while lines and re.match(rb"^SMG-[A-Za-z-]+:", lines[0]):
        lines.pop(0)
    msg = b"\n".join(lines)
    msg = re.sub(rb"\r?\n", b"\r\n", msg)
    d = dkim.DKIM(msg)
    header = msg.split(b"\r\n\r\n", 1)[0]
    n = len(re.findall(rb"(?im)^DKIM-Signature:", header))
    if n == 0:
        print("none")
    for i in range(n):
        try:
            good = d.verify(idx=i, dnsfunc=dnsfunc)
        except Exception as e:  # a malformed signature is a failure too
            good = False
            print("# %s" % e)
        f = d.signature_fields or {}
        print("%s a=%s d=%s s=%s" % ("pass" if good else "fail",
                                     f.get(b"a", b"?").decode(),
                                     f.get(b"d", b"?").decode(),
                                     f.get(b"s", b"?").decode()))


main()
