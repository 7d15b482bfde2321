#!/usr/bin/python3
"""fsync-rate.py - how many durable small files a second this disk takes.

Usage: fsync-rate.py DIR COUNT SIZE.  Writes COUNT files of SIZE bytes the
way a maildir spool does (write tmp/N, fsync it, rename to new/N, fsync
new/) inside DIR and prints the rate in files per second.  The files stay:
the caller removes DIR after the runs it measures (see discard in lib.sh).
SPDX-License-Identifier: MIT
"""
import os
import sys
import time


def main():
    top, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tmp, new = os.path.join(top, "tmp"), os.path.join(top, "new")
    os.makedirs(tmp)
    os.makedirs(new)
    data = (b"x" * 77 + b"\r\n") * (size // 79 + 1)
    data = data[:size]
    dfd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
    start = time.monotonic()
    for i in range(count):
        name = "%d.bench" % i
        path = os.path.join(tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(path, os.path.join(new, name))
        os.fsync(dfd)
    elapsed = time.monotonic() - start
    os.close(dfd)
    print("%.0f" % (count / elapsed))


main()
