#!/bin/bash
# 9040-doc-drift.t - the man pages against the code (t/lib/docdrift.py):
# every smg.conf key of lib/config.c's table is in smg.conf(5) with the
# table's default and range, and nothing else is; every option of each
# program (bin/smg-*.c) is in the OPTIONS of its page, and every option
# there is one the built program takes.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"

$PY3 "$srcdir/t/lib/docdrift.py" "$srcdir" "$SMG_BIN" >"$T/out" 2>&1
rc=$?
cat "$T/out"
checks=$(grep -c -E '^(not )?ok ' "$T/out")
TAP_N=$checks
TAP_FAILED=$(grep -c '^not ok ' "$T/out")
is "docdrift.py exits 0" 0 "$rc"
ok "docdrift.py ran its checks ($checks)" test "$checks" -gt 50
done_testing
