"""commit_order.py TRACE - check, in an strace -f log of smg-recv, the
order of the system calls that commit the message of the session that got
"250 2.0.0 Ok: queued": its data written and synced (fdatasync, or for an
unnamed file sync_file_range) before the file gets its name in new/, that
name made durable, and only then the 250.  Prints "ok", the file's kind
and the data sync's call (and the call refused before it, where a
system-call filter made the writer fall back), or what is out of order.
SPDX-License-Identifier: MIT
"""
import re
import sys


def calls(path):
    """(pid, name, args, result) of every finished call, in order"""
    pending, out = {}, []
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^(\d+)\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        pid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        r = re.match(r"^<\.\.\. \w+ resumed>\s*(.*)$", rest)
        if r:
            rest = pending.pop(pid, "") + r.group(1)
        c = re.match(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)", rest)
        if c:
            out.append((pid, c.group(1), c.group(2), int(c.group(3))))
    return out


def main():
    all_calls = calls(sys.argv[1])
    acks = [(i, c) for i, c in enumerate(all_calls)
            if c[1] == "write" and '"250 2.0.0 Ok: queued as ' in c[2]]
    if len(acks) != 1:
        print("expected one 250 for a message, found %d" % len(acks))
        return
    pid = acks[0][1][0]
    qid = re.search(r"queued as (\w+)", acks[0][1][2]).group(1)
    mine = [c for c in all_calls if c[0] == pid]
    ack = next(i for i, c in enumerate(mine) if '"250 2.0.0 Ok: queued as ' in c[2])
    fd, kind = None, None
    for i, (_, name, args, res) in enumerate(mine):
        if name == "openat" and res >= 0 and "O_TMPFILE" in args and "/check/tmp" in args:
            fd, kind = res, "unnamed"
        elif name == "openat" and res >= 0 and "/check/tmp/" + qid in args:
            fd, kind = res, "named"
    if fd is None:
        print("no file opened in check/tmp for " + qid)
        return

    def where(pred, start=0):
        for i in range(start, len(mine)):
            if pred(mine[i]):
                return i
        return None

    def first_arg(c):
        return c[2].split(",")[0].strip()

    opened = where(lambda c: c[1] == "openat" and c[3] == fd
                   and ("O_TMPFILE" in c[2] or qid in c[2]))
    def data_sync(c):
        return c[1] in ("fdatasync", "sync_file_range", "sync_file_range2") \
            and first_arg(c) == str(fd)
    sync = where(lambda c: data_sync(c) and c[3] == 0, opened)
    if sync is None:
        print("the file's data is never synced")
        return
    how = mine[sync][1].rstrip("2")
    # a call refused before it (a system-call filter): the fallback
    refused = where(lambda c: data_sync(c) and c[3] != 0, opened)
    if refused is not None and refused < sync:
        how += " after a refused " + mine[refused][1].rstrip("2")
    flags = ("SYNC_FILE_RANGE_WAIT_BEFORE", "SYNC_FILE_RANGE_WRITE",
             "SYNC_FILE_RANGE_WAIT_AFTER")
    if how.startswith("sync_file_range") and (not all(f in mine[sync][2] for f in flags)
                                     or kind != "unnamed"):
        print("sync_file_range without all of WAIT_BEFORE, WRITE and WAIT_AFTER, "
              "or for a named file")
        return
    late = where(lambda c: c[1] == "write" and first_arg(c) == str(fd), sync)
    if late is not None and late < ack:
        print("the file is written after its fdatasync")
        return
    if kind == "unnamed":
        link = where(lambda c: c[1] == "linkat" and "/proc/self/fd/%d\"" % fd in c[2]
                     and "/check/new/" + qid in c[2], opened)
        if link is None:
            print("the unnamed file is never linked as new/" + qid)
            return
        durable = where(lambda c: c[1] == "fsync" and first_arg(c) == str(fd), link)
        order = [(mine[sync][1], sync), ("linkat into new/", link),
                 ("fsync after the link", durable), ("the 250", ack)]
    else:
        move = where(lambda c: c[1] in ("rename", "renameat", "renameat2")
                     and "/check/new/" + qid in c[2], opened)
        dirs = {c[3] for c in mine if c[1] == "openat" and c[3] >= 0
                and re.search(r'/check/new"', c[2])}
        durable = where(lambda c: c[1] == "fsync" and first_arg(c) in map(str, dirs),
                        move or 0)
        order = [(mine[sync][1], sync), ("rename into new/", move),
                 ("fsync of new/", durable), ("the 250", ack)]
    for (a, i), (b, j) in zip(order, order[1:]):
        if i is None or j is None or i >= j:
            print("%s (call %s) does not come before %s (call %s)" % (a, i, b, j))
            return
    print("ok %s %s" % (kind, how))


main()
