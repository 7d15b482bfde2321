#!/bin/bash
# 8020-queue-busy.t - smg-queue follows the claim protocol: a message
# that another process holds locked (a Python helper that opens the file,
# flock()s it and sleeps, as a worker does) is reported busy (exit 75) and
# left exactly as it was, in new/ and in cur/; once the lock is gone, a
# file left in cur/ by a dead worker is taken over.  Then smg-queue runs
# hold and release over a queue while a real smg-route --watch worker
# drains it: every command ends 0, 75 or 64 (it moved on), and at the end
# every message is in exactly one place, none in cur/, none lost.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/send.sh"

Q="$SMG_BIN/smg-queue"
gw_conf </dev/null

places() {
    (cd "$SPOOL" && ls -d */new/"$1" */cur/"$1" 2>/dev/null | sed 's|/[^/]*$||' | sort | tr '\n' ' ' | sed 's/ $//')
}

cat >"$T/locker.py" <<'PY'
# locker.py FILE READY - open FILE, flock it, create READY, sleep
import fcntl, sys, time
f = open(sys.argv[1], "rb")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(300)
PY

# lock FILE - start the locker on FILE; sets LOCKER to its pid
lock() {
    rm -f "$T/ready"
    $PY3 "$T/locker.py" "$1" "$T/ready" &
    LOCKER=$!
    at_exit "kill $LOCKER"
    eventually 100 test -e "$T/ready"
    test -e "$T/ready" || bail "the locker did not lock $1"
}

unlock() {
    kill "$LOCKER"
    wait "$LOCKER" 2>/dev/null
}

# a worker between flock and rename: locked in new/
spool_msg scan B1 a@cust.test x@rcpt.test
cp "$SPOOL/scan/new/B1" "$T/B1.orig"
touch -d @1795323600 "$SPOOL/scan/new/B1"
lock "$SPOOL/scan/new/B1"
for cmd in hold delete; do
    out=$("$Q" -c "$T/smg.conf" --log stderr "$cmd" B1 2>&1)
    is "$cmd of a locked message in new/: 75" 75 $?
    like "  says busy" "B1: action=$cmd, from=scan, status=busy" "$out"
    like "  on stderr" '^smg-queue: fatal: B1: 4.2.0 busy' "$out"
done
is "  left in new/ only" "scan/new" "$(places B1)"
ok "  content unchanged" cmp -s "$T/B1.orig" "$SPOOL/scan/new/B1"
is "  mtime unchanged" 1795323600 "$(stat -c %Y "$SPOOL/scan/new/B1")"
"$Q" -c "$T/smg.conf" show B1 >"$T/show.out"
is "show of a locked message works (reads only)" 0 $?
ok "  the file" cmp -s "$T/show.out" "$T/B1.orig"
unlock
is "hold once the lock is gone: 0" 0 "$("$Q" -c "$T/smg.conf" --log stderr hold B1 >/dev/null 2>&1; echo $?)"
is "  held" "hold/new" "$(places B1)"

# a worker at work: the file in cur/, locked
spool_msg sign B2 a@cust.test x@rcpt.test
mv "$SPOOL/sign/new/B2" "$SPOOL/sign/cur/B2"
cp "$SPOOL/sign/cur/B2" "$T/B2.orig"
lock "$SPOOL/sign/cur/B2"
out=$("$Q" -c "$T/smg.conf" list sign)
like "list shows the claimed message as active" '^      active: claimed by a worker$' "$out"
for cmd in hold delete; do
    out=$("$Q" -c "$T/smg.conf" --log stderr "$cmd" B2 2>&1)
    is "$cmd of a message a worker holds in cur/: 75" 75 $?
    like "  says busy" "B2: action=$cmd, from=sign, status=busy" "$out"
done
is "  left in cur/" "sign/cur" "$(places B2)"
ok "  content unchanged" cmp -s "$T/B2.orig" "$SPOOL/sign/cur/B2"
unlock
# its worker died: the lock is gone, the file stays in cur/
out=$("$Q" -c "$T/smg.conf" --log stderr hold B2 2>&1)
is "hold of a file a dead worker left in cur/: 0" 0 $?
like "  from sign" 'B2: action=hold, from=sign, to=hold, status=done' "$out"
is "  held, nothing left in cur/" "hold/new" "$(places B2)"

# smg-queue beside a real worker: hold and release while smg-route drains
N=60
for i in $(seq 1 $N); do
    spool_msg route "W$i" a@cust.test x@rcpt.test "Spam: verdict=ham score=0"
done
"$SMG_BIN/smg-route" -c "$T/smg.conf" --watch --log stderr 2>"$T/route.log" &
route_pid=$!
at_exit "kill $route_pid"
: >"$T/codes"
for i in $(seq 1 $N); do
    "$Q" -c "$T/smg.conf" --log stderr hold "W$i" >/dev/null 2>>"$T/q.log"
    echo "hold $?" >>"$T/codes"
    if [ $((i % 2)) -eq 0 ]; then
        "$Q" -c "$T/smg.conf" --log stderr release "W$i" >/dev/null 2>>"$T/q.log"
        echo "release $?" >>"$T/codes"
    fi
done
# let the worker finish what is left in route, then stop it
route_drained() { [ "$(count_files "$SPOOL/route/new")" -eq 0 ]; }
eventually 100 route_drained
kill "$route_pid"
wait "$route_pid" 2>/dev/null
is "every command ended 0, 75 or 64" "" "$(grep -Ev ' (0|75|64)$' "$T/codes")"
ok "some holds succeeded" grep -q '^hold 0$' "$T/codes"
bad=""
for i in $(seq 1 $N); do
    p=$(places "W$i")
    case "$p" in
        hold/new | route/new | send.mta01/new | send.mta02/new) ;;
        *) bad="$bad W$i:[$p]" ;;
    esac
done
is "every message in exactly one place, none lost" "" "$bad"
is "route queue drained" 0 "$(count_files "$SPOOL/route/new")"
is "no file in any cur/" "" "$(cd "$SPOOL" && ls */cur/ 2>/dev/null | grep -v ':$' | grep -v '^$')"
held=$(ls "$SPOOL/hold/new" | grep -c '^W')
sent=$(ls "$SPOOL/send.mta01/new" "$SPOOL/send.mta02/new" | grep -c '^W')
is "held + routed = all" "$N" $((held + sent))
diag "held $held, routed $sent; $(grep -c ' 75$' "$T/codes") busy, $(grep -c ' 64$' "$T/codes") refused"

done_testing
