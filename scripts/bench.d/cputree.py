#!/usr/bin/python3
"""cputree.py - CPU time of a process tree, for hosts without cgroups.

Usage: cputree.py PID.  Prints, in nanoseconds, utime+stime+cutime+cstime
of PID and of each live descendant.  cutime/cstime hold the times of the
children a process has waited for, so the sum grows monotonically as long
as every parent reaps its children (children of a parent that ignores
SIGCHLD are lost).  Prints 0 when PID is gone.
SPDX-License-Identifier: MIT
"""
import os
import sys


def stat(pid):
    """Return (ppid, ticks) of pid from /proc/PID/stat, or None."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def main():
    root = int(sys.argv[1])
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(name)
            if st is not None:
                procs[int(name)] = st
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root] if root in procs else []
    while todo:
        pid = todo.pop()
        total += procs[pid][1]
        todo.extend(children.get(pid, []))
    print(total * 1000000000 // os.sysconf("SC_CLK_TCK"))


main()
