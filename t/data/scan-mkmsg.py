#!/usr/bin/python3
# scan-mkmsg.py - test messages and a signature database for smg-scan.
#
# The EICAR test file is put together here at run time from two halves, so
# that no file of the repository holds it (and no scanner flags the tree).
#
#   scan-mkmsg.py sigs DIR [all|hdb|ndb|body]
#       write a ClamAV database into DIR with ClamAV's sigtool: test.hdb
#       (MD5 of the EICAR file, from `sigtool --md5`), test.ndb (EICAR as
#       a hex body signature, from `sigtool --hex-dump`) and body.ndb (a
#       body signature of our own, Smg-Test-Body, for BODY_MARKER)
#   scan-mkmsg.py olddaily DIR DAYS
#       write DIR/daily.cud: an unsigned database built by `sigtool --build`
#       (the EICAR MD5 as daily.hdb), then dated DAYS days back (its header
#       and its daily.info, whose first line libclamav compares with it),
#       as a daily database that freshclam stopped updating
#   scan-mkmsg.py KIND [ARG]
#       print a message on stdout; KIND is one of
#       clean            text/plain only
#       clean-attach     text, a binary attachment, a zip of text files
#                        and a forwarded clean message
#       eicar-plain      EICAR as a 7bit text/plain attachment
#       eicar-b64        EICAR as a base64 application/octet-stream part
#       eicar-zip        EICAR in a zip, base64 attachment
#       eicar-nested     EICAR (base64) inside a forwarded message/rfc822
#       body-sig         the body signature in the text
#       bigzip N         a zip holding N random (incompressible) bytes
#       zeros-eicar N    a zip of N zero bytes (small when zipped, N when
#                        unpacked) and EICAR as a second attachment
#       eicar-deep N     EICAR in N nested zips
#       utf8             clean, with UTF-8 headers (8-bit)
#   scan-mkmsg.py bench-sigs DIR N
#       add N random body signatures (bench.ndb, 12 to 24 bytes each) and N
#       random MD5 signatures (bench.hdb) to DIR, so that the matcher of a
#       benchmark has real work; they match nothing
#   scan-mkmsg.py bench DIR N
#       write N spool files DIR/B000001... (with SMG-* envelope), a mix of
#       plain mail, attachments and archives; one in 50 carries EICAR
#
# SPDX-License-Identifier: MIT
import io
import os
import random
import subprocess
import sys
import zipfile
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8

EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*").encode()
BODY_MARKER = b"smg-test-malware-marker: 5b1d0c7e 93aa4f21"


def sigs(d, which="all"):
    os.makedirs(d, exist_ok=True)
    ef = os.path.join(d, "eicar.tmp")
    with open(ef, "wb") as f:
        f.write(EICAR)
    try:
        if which in ("all", "hdb"):
            md5 = subprocess.run(["sigtool", "--md5", ef], check=True,
                                 capture_output=True, text=True).stdout.strip()
            # "hash:size:file" -> "hash:size:name"
            h, size, _ = md5.split(":", 2)
            with open(os.path.join(d, "test.hdb"), "w") as f:
                f.write("%s:%s:Smg-Test-Eicar.MD5\n" % (h, size))
        if which in ("all", "ndb"):
            hx = subprocess.run(["sigtool", "--hex-dump"], input=EICAR, check=True,
                                capture_output=True).stdout.decode().strip()
            with open(os.path.join(d, "test.ndb"), "w") as f:
                f.write("Smg-Test-Eicar.Hex:0:*:%s\n" % hx)
        if which in ("all", "body", "ndb"):
            hx = subprocess.run(["sigtool", "--hex-dump"], input=BODY_MARKER, check=True,
                                capture_output=True).stdout.decode().strip()
            with open(os.path.join(d, "body.ndb"), "w") as f:
                f.write("Smg-Test-Body:0:*:%s\n" % hx)
    finally:
        os.unlink(ef)


def olddaily(d, days):
    import gzip
    import hashlib
    import shutil
    import tarfile
    import tempfile
    import time
    os.makedirs(d, exist_ok=True)
    w = tempfile.mkdtemp(dir=d)
    try:
        sigs(w, "hdb")
        os.rename(os.path.join(w, "test.hdb"), os.path.join(w, "daily.hdb"))
        with open(os.path.join(w, "COPYING"), "w") as f:
            f.write("test database\n")
        # sigtool asks for a builder name on standard input
        subprocess.run(["sigtool", "--build=daily.cud", "--unsigned", "--cvd-version=27000",
                        "--datadir=."], cwd=w, input=b"smg\n", check=True,
                       capture_output=True)
        with open(os.path.join(w, "daily.cud"), "rb") as f:
            cud = f.read()
    finally:
        shutil.rmtree(w)
    # header "ClamAV-VDB:date:version:sigs:flevel:md5:dsig:builder:stime"
    head = cud[:512].rstrip(b" ").decode().split(":")
    t = int(time.time()) - days * 86400
    date = time.strftime("%d %b %Y %H-%M +0000", time.gmtime(t))
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(cud[512:]))) as tin, \
            tarfile.open(fileobj=out, mode="w:gz", format=tarfile.GNU_FORMAT) as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            if m.name == "daily.info":
                lines = data.split(b"\n")
                info = lines[0].decode().split(":")
                info[1], info[-1] = date, str(t)
                lines[0] = ":".join(info).encode()
                data = b"\n".join(lines)
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))
    body = out.getvalue()
    head[1], head[5], head[-1] = date, hashlib.md5(body).hexdigest(), str(t)
    with open(os.path.join(d, "daily.cud"), "wb") as f:
        f.write(":".join(head).encode().ljust(512, b" ") + body)


def base(subject, sender="user@sender.test", to="rcpt@rcpt.test", policy=SMTP):
    m = EmailMessage(policy=policy.clone(linesep="\n"))
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = "<%s.%d@sender.test>" % (subject.replace(" ", "-"), random.randrange(1 << 30))
    return m


def zipped(files):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return b.getvalue()


def message(kind, arg=None, rnd=random):
    if kind == "clean":
        m = base("clean")
        m.set_content("Hello,\n\nthe figures are attached next week.\n\nRegards\n")
    elif kind == "clean-attach":
        m = base("clean attach")
        m.set_content("See the attached files.\n")
        m.add_attachment(rnd.randbytes(3000),
                         maintype="application", subtype="octet-stream", filename="data.bin")
        m.add_attachment(zipped([("a.txt", "alpha\n" * 200), ("b.txt", "beta\n" * 300)]),
                         maintype="application", subtype="zip", filename="texts.zip")
        inner = base("inner clean")
        inner.set_content("a forwarded clean message\n")
        m.add_attachment(inner)
    elif kind == "eicar-plain":
        m = base("eicar plain")
        m.set_content("See the attached test file.\n")
        m.add_attachment(EICAR.decode(), subtype="plain", filename="eicar.txt", cte="7bit")
    elif kind == "eicar-b64":
        m = base("eicar b64")
        m.set_content("See the attached program.\n")
        m.add_attachment(EICAR, maintype="application", subtype="octet-stream",
                         filename="eicar.com")
    elif kind == "eicar-zip":
        m = base("eicar zip")
        m.set_content("See the attached archive.\n")
        m.add_attachment(zipped([("readme.txt", "read me\n"), ("eicar.com", EICAR)]),
                         maintype="application", subtype="zip", filename="eicar.zip")
    elif kind == "eicar-nested":
        inner = base("inner infected")
        inner.set_content("the original message\n")
        inner.add_attachment(EICAR, maintype="application", subtype="octet-stream",
                             filename="eicar.com")
        m = base("eicar nested")
        m.set_content("Forwarding the message below.\n")
        m.add_attachment(inner)
    elif kind == "body-sig":
        m = base("body signature")
        m.set_content("Some text\n%s\nmore text\n" % BODY_MARKER.decode())
    elif kind == "bigzip":
        n = int(arg)
        m = base("big zip")
        m.set_content("A big archive.\n")
        m.add_attachment(zipped([("random.bin", rnd.randbytes(n))]),
                         maintype="application", subtype="zip", filename="big.zip")
    elif kind == "zeros-eicar":
        m = base("zeros and eicar")
        m.set_content("An archive and a program.\n")
        m.add_attachment(zipped([("zeros.bin", bytes(int(arg)))]),
                         maintype="application", subtype="zip", filename="zeros.zip")
        m.add_attachment(EICAR, maintype="application", subtype="octet-stream",
                         filename="eicar.com")
    elif kind == "eicar-deep":
        data = zipped([("eicar.com", EICAR)])
        for i in range(int(arg) - 1):
            data = zipped([("level%d.zip" % i, data)])
        m = base("eicar deep")
        m.set_content("Deeply nested.\n")
        m.add_attachment(data, maintype="application", subtype="zip", filename="deep.zip")
    elif kind == "utf8":
        m = base("Gr\u00fc\u00dfe aus K\u00f6ln", policy=SMTPUTF8)
        m.set_content("Gr\u00fc\u00dfe\n", cte="8bit")
    else:
        raise SystemExit("unknown kind " + kind)
    return m.as_bytes()


def bench_sigs(d, n):
    rnd = random.Random(7)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "bench.ndb"), "w") as f:
        for i in range(n):
            f.write("Smg-Bench-Body-%d:0:*:%s\n" % (i, rnd.randbytes(rnd.randint(12, 24)).hex()))
    with open(os.path.join(d, "bench.hdb"), "w") as f:
        for i in range(n):
            f.write("%s:%d:Smg-Bench-Hash-%d\n" % (rnd.randbytes(16).hex(), rnd.randint(100, 10 ** 6), i))


def bench(d, n):
    rnd = random.Random(42)
    os.makedirs(d, exist_ok=True)
    kinds = ["clean"] * 10 + ["clean-attach"] * 6 + ["bigzip"] * 3 + ["pdf-like"] * 2
    for i in range(1, n + 1):
        if i % 50 == 0:
            kind = ["eicar-b64", "eicar-zip", "eicar-nested"][i // 50 % 3]
            msg = message(kind, rnd=rnd)
        else:
            kind = rnd.choice(kinds)
            if kind == "bigzip":
                msg = message("bigzip", rnd.choice([20000, 60000, 150000]), rnd=rnd)
            elif kind == "pdf-like":
                m = base("report")
                m.set_content("The report.\n" + "Lorem ipsum dolor sit amet. " * 40)
                m.add_attachment(rnd.randbytes(rnd.choice([40000, 200000])),
                                 maintype="application", subtype="pdf", filename="report.pdf")
                msg = m.as_bytes()
            else:
                msg = message(kind, rnd=rnd)
        qid = "B%06d" % i
        with open(os.path.join(d, qid), "wb") as f:
            f.write(b"SMG-Queue-ID: %s\nSMG-Sender: <user@sender.test>\n"
                    b"SMG-Recipient: <rcpt@rcpt.test>\nSMG-Customer: customer1\n"
                    b"SMG-Arrival: 2026-11-22T05:00:00Z\n" % qid.encode())
            f.write(msg)


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    if a[0] == "sigs":
        sigs(a[1], a[2] if len(a) > 2 else "all")
    elif a[0] == "olddaily":
        olddaily(a[1], int(a[2]))
    elif a[0] == "bench-sigs":
        bench_sigs(a[1], int(a[2]))
    elif a[0] == "bench":
        bench(a[1], int(a[2]))
    else:
        sys.stdout.buffer.write(message(a[0], a[1] if len(a) > 1 else None))


if __name__ == "__main__":
    main()
