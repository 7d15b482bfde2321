#!/bin/bash
# 1060-recv-durability.t - nothing acknowledged is ever lost: kill -9 of
# smg-recv in the middle of DATA leaves no file in new/ or tmp/, kill -9 at
# random moments under load never loses a message that got its 250, the
# commit's system calls come in a durable order (strace; on ext4 with and
# without a journal), and a full spool answers 452 4.3.1, never 250.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

make_tls
write_conf <<'EOF2'
recv.auth = off
EOF2
start_recv

# kill -9 of the session process in the middle of DATA
$PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<a@b.test>\r\n' read 'send:RCPT TO:<c@d.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: half\r\n\r\nfirst half\r\n' sleep:5 \
    >"$T/half.out" 2>&1 &
client=$!
# a new message is an unnamed file in tmp/ (O_TMPFILE) until it is whole,
# where the file system has them; a named one in tmp/ elsewhere
tmpdir=$(realpath "$SPOOL/check/tmp")
if $PY3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600))' \
    "$tmpdir" 2>/dev/null; then
    named=0
else
    named=1
fi
child="" unnamed=""
for i in $(seq 50); do
    for pid in $(pgrep -P "$RECV_PID"); do
        unnamed=$(find "/proc/$pid/fd" -lname "$tmpdir/*" 2>/dev/null)
        [ -n "$unnamed" ] && child=$pid && break 2
    done
    sleep 0.1
done
ok "found the session process" test -n "$child"
if ((named)); then
    ok "no O_TMPFILE here: the message is being written to a named file in tmp/" test -n "$unnamed"
    is "one named file in tmp/ meanwhile" 1 "$(count_files "$SPOOL/check/tmp")"
else
    like "the message is being written to an unnamed file in tmp/" "^$tmpdir/#[0-9]* \\(deleted\\)\$" \
        "$(readlink "$unnamed")"
    is "no named file in tmp/ meanwhile" 0 "$(count_files "$SPOOL/check/tmp")"
fi
kill -9 "$child"
wait "$client"
is "no file in new/ after kill -9 in DATA" 0 "$(queued)"
if ((named)); then
    is "the named file stays in tmp/ for recovery after kill -9 in DATA" 1 \
        "$(count_files "$SPOOL/check/tmp")"
else
    is "nothing left in tmp/ after kill -9 in DATA" 0 "$(count_files "$SPOOL/check/tmp")"
fi
unlike "no 250 for the message" '^S: 250 2.0.0 Ok: queued' "$(cat "$T/half.out")"

# a listener that survives its children: the next session works
out=$(swaks_to --from a@sender.test --to b@rcpt.test)
like "the listener still accepts" '250 2.0.0 Ok: queued as' "$out"

# commit_check WHAT WANT - the commit's order, seen from the system calls
# of one traced session: the data synced before the file has its name in
# new/, the name synced, then the 250; commit_order.py's verdict must match
# the regex WANT
commit_check() {
    local out
    if trace_recv "$T/commit.trace" \
        'openat,write,fdatasync,?sync_file_range,?sync_file_range2,fsync,linkat,?rename,?renameat,renameat2'; then
        out=$(swaks_to --from a@sender.test --to b@rcpt.test)
        untrace_recv
        like "$1: a traced session's message is queued" '250 2.0.0 Ok: queued as' "$out"
        like "$1: commit order" "$2" "$($PY3 "$srcdir/t/lib/commit_order.py" "$T/commit.trace")"
    else
        skip "$1: a traced session's message is queued" "$TRACE_WHY"
        skip "$1: commit order" "$TRACE_WHY"
    fi
}
if ((named)); then
    commit_check "write, fdatasync, rename into new/, fsync of new/, 250" '^ok named fdatasync$'
else
    commit_check "write, data sync, linkat into new/, fsync of the file, 250" \
        '^ok unnamed (fdatasync|sync_file_range)$'
fi

# deny_run CALL - whether seccomp_deny.py can filter CALL here (else
# DENY_WHY says why not)
DENY="$srcdir/t/lib/seccomp_deny.py"
deny_run() {
    DENY_WHY=$($PY3 "$DENY" "$1" true 2>&1)
}

# A system-call filter that refuses linkat (a service manager's
# SystemCallFilter=): the first message's probe finds it, says so once,
# and the spool writes named files instead; the message is still queued,
# durably, with a 250.
if ((named)); then
    for what in "a traced session's message is queued" "commit order" "the log says so"; do
        skip "linkat refused by a filter: $what" "this file system has no unnamed files"
    done
elif ! deny_run linkat; then
    for what in "a traced session's message is queued" "commit order" "the log says so"; do
        skip "linkat refused by a filter: $what" "$DENY_WHY"
    done
else
    stop_recv
    RECV_WRAP=("$PY3" "$DENY" linkat)
    start_recv
    commit_check "linkat refused by a filter: named files" '^ok named fdatasync$'
    like "linkat refused by a filter: the log says so" \
        'cannot link an unnamed file in .*: Operation not permitted; using named files' \
        "$(cat "$T/recv.log")"
    stop_recv
    RECV_WRAP=()
    start_recv
fi

# kill -9 at random moments under load: every 250 is on disk, whole
cat >"$T/load.py" <<'PY'
import smtplib, sys, random
import os
port, n, tag, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
acked = []
i = 0
while i < n and not os.path.exists(stop):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=10)
        s.ehlo("load.test")
        while i < n and not os.path.exists(stop):
            body = "Subject: %s-%d\r\n\r\n" % (tag, i) + ("payload line\r\n" * random.randint(1, 400)) + "END-%s-%d\r\n" % (tag, i)
            s.mail("a@b.test")
            s.rcpt("c@d.test")
            code, msg = s.data(body)
            if code == 250:
                acked.append(msg.decode().split()[-1])
            i += 1
    except Exception:
        i += 1  # this message's fate is unknown to the client: not acked
for a in acked:
    print(a)
PY
for c in 1 2 3; do
    $PY3 "$T/load.py" "$RECV_PORT" 5000 "c$c" "$T/stop" >"$T/acked.$c" 2>/dev/null &
    eval "load$c=\$!"
done
kills=0
for i in $(seq 40); do
    sleep 0.$((RANDOM % 3 + 1))
    victim=$(ps -o pid=,stat= --ppid "$RECV_PID" | awk '$2 !~ /Z/ {print $1}' | shuf -n 1)
    if [ -n "$victim" ]; then
        kill -9 "$victim" 2>/dev/null && kills=$((kills + 1))
    fi
done
touch "$T/stop"
wait "$load1" "$load2" "$load3"
diag "killed $kills sessions"
ok "some sessions were killed" test "$kills" -gt 5
cat "$T"/acked.* >"$T/acked"
acked=$(wc -l <"$T/acked" | tr -d ' ')
ok "some messages were acknowledged ($acked)" test "$acked" -gt 10
missing=0
for id in $(cat "$T/acked"); do
    [ -f "$SPOOL/check/new/$id" ] || missing=$((missing + 1))
done
is "every acknowledged message is in new/" 0 "$missing"
partial=0
for f in $(grep -l '^Subject: c[0-9]-' "$SPOOL"/check/new/*); do
    tail -1 "$f" | grep -q '^END-c[0-9]-' || partial=$((partial + 1))
done
is "no partial file in new/" 0 "$partial"

# The data sync before the link: on ext4 with its journal in data=ordered
# mode sync_file_range (the journal's commit flushes the data before it
# names the file: one flush a message), without a journal or with
# data=journal fdatasync.  Each on a small ext4 of its own, loop-mounted.
# (A kernel before 5.2, or one that does not show data=ordered in
# /proc/fs/ext4/DEV/options, gets fdatasync too.)
stop_recv
main_conf=$(cat "$T/smg.conf")
uname_r=$(uname -r)
for fs in journal nojournal datajournal; do
    img=$T/$fs.img mnt=$T/$fs features=has_journal opts=loop want=fdatasync
    case $fs in
        nojournal) features=^has_journal ;;
        datajournal) opts=loop,data=journal ;;
    esac
    mkdir -p "$mnt"
    if truncate -s 64M "$img" && mkfs.ext4 -q -F -O "$features" "$img" >/dev/null 2>&1 \
        && mount -o "$opts" "$img" "$mnt" 2>/dev/null; then
        at_exit "umount -l '$mnt'"
        dev=$(basename "$(findmnt -n -o SOURCE "$mnt")")
        if [ $fs = journal ] && grep -qx 'data=ordered' "/proc/fs/ext4/$dev/options" \
            && awk -v r="$uname_r" 'BEGIN { split(r, v, "."); exit !(v[1] > 5 || (v[1] == 5 && v[2] >= 2)) }'; then
            want=sync_file_range
        fi
        sed -i "s|^dir = .*|dir = $mnt/spool|" "$T/smg.conf"
        start_recv
        commit_check "ext4 ($fs): $want before the link" "^ok unnamed $want\$"
        stop_recv
        # where a filter refuses sync_file_range: fdatasync, from then on
        if [ $fs = journal ] && [ $want = sync_file_range ] && deny_run sync_file_range; then
            RECV_WRAP=("$PY3" "$DENY" sync_file_range)
            start_recv
            commit_check "ext4 ($fs), sync_file_range refused by a filter: fdatasync" \
                '^ok unnamed fdatasync after a refused sync_file_range$'
            stop_recv
            RECV_WRAP=()
        elif [ $fs = journal ]; then
            why=${DENY_WHY:-"this ext4 does not take sync_file_range (see above)"}
            skip "ext4 ($fs), sync_file_range refused: a traced session's message is queued" "$why"
            skip "ext4 ($fs), sync_file_range refused: commit order" "$why"
        fi
        umount "$mnt"
    else
        skip "ext4 ($fs): commit order" \
            "cannot make and mount an ext4 image (needs root, loop devices, mkfs.ext4)"
    fi
done
printf '%s\n' "$main_conf" >"$T/smg.conf"

# a full spool: 452 4.3.1, never 250
mkdir -p "$T/full"
if mount -t tmpfs -o size=256k tmpfs "$T/full"; then
    at_exit "umount '$T/full'"
    sed -i "s|^dir = .*|dir = $T/full/spool|" "$T/smg.conf"
    start_recv
    $PY3 -c 'print("Subject: fill\n\n" + ("f" * 76 + "\n") * 800)' >"$T/fill.txt"
    res=""
    for i in $(seq 8); do
        res="$res
$(swaks_to -n --from a@sender.test --to b@rcpt.test --data "$T/fill.txt" | grep -E '^<(-|\*\*) +(250 2.0.0|45[0-9])')"
    done
    like "a full spool answers 452 4.3.1" '452 4.3.1' "$res"
    ok "some messages fitted before" test "$(count_files "$T/full/spool/check/new")" -gt 0
    n250=$(printf '%s\n' "$res" | grep -c '250 2.0.0 Ok: queued')
    is "every 250 is a file in new/" "$n250" "$(count_files "$T/full/spool/check/new")"
    is "no temporary file left" 0 "$(count_files "$T/full/spool/check/tmp")"
else
    ok "mount a tiny tmpfs for the full-spool test (needs root)" false
fi
done_testing
