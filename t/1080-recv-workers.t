#!/bin/bash
# 1080-recv-workers.t - the listener's worker pool: a worker serves
# worker_sessions connections and is then replaced, max_sessions caps the
# sessions at once (more wait in the listen queue), a worker that dies is
# replaced, a stop ends idle workers at once and a busy one only after
# its session, whose message is still accepted, and a connection wakes one
# idle worker, not all of them.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

plan 12

# start_pool MAX_SESSIONS WORKER_SESSIONS [SPARE] - a listener with SPARE
# (1) spare workers
start_pool() {
    write_conf <<EOF2
recv.auth = off
recv.tls = no
recv.max_sessions = $1
recv.spare_workers = ${3:-1}
recv.worker_sessions = $2
EOF2
    start_recv
}

make_tls
# one worker at a time first, so that the sessions' order is known
start_pool 1 3

# session - one whole session with one message; prints the replies
session() {
    $PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read "send:EHLO c.test\r\n" read \
        "send:MAIL FROM:<a@sender.test>\r\n" read "send:RCPT TO:<b@rcpt.test>\r\n" read \
        "send:DATA\r\n" read "send:Subject: w\r\n\r\nbody\r\n.\r\n" read \
        "send:QUIT\r\n" read
}

# session_pids - the worker pid of each session so far, in order, from the
# log's "connect from" lines (start_recv's port probe is the first)
session_pids() {
    sed -n 's/^smg-recv\[\([0-9]*\)\]: connect from .*/\1/p' "$T/recv.log"
}

# gone PID - the process has exited (a zombie counts as exited)
gone() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
    [ "${st:0:1}" = Z ]
}

for i in 1 2 3 4 5; do
    session >"$T/s$i.out" 2>&1
done
is "five sessions, five messages queued" 5 "$(cat "$T"/s[1-5].out | grep -c '250 2.0.0 Ok: queued')"
runs=$(session_pids | uniq -c | awk '{ printf "%s ", $1 }')
is "worker_sessions = 3: each worker serves three sessions, then a new one takes over" \
    "3 3 " "$runs"
first=$(session_pids | head -n 1)
ok "the worker that served three has exited" gone "$first"
stop_recv

start_pool 2 100

# max_sessions = 2: two open sessions, a third gets no greeting until one ends
$PY3 - "$RECV_PORT" >"$T/cap.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
def greet(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(512).decode().strip()
    except socket.timeout:
        return "none"
a = socket.create_connection(("127.0.0.1", port)); print("a:", greet(a, 10), flush=True)
b = socket.create_connection(("127.0.0.1", port)); print("b:", greet(b, 10), flush=True)
c = socket.create_connection(("127.0.0.1", port)); print("c early:", greet(c, 1.5), flush=True)
a.sendall(b"QUIT\r\n"); a.recv(512); a.close()
print("c late:", greet(c, 10), flush=True)
b.close(); c.close()
PY
wait $!
is "two sessions at once are served" 2 "$(grep -c '^[ab]: 220 ' "$T/cap.out")"
like "max_sessions = 2: a third connection waits for a free worker" '^c early: none$' "$(cat "$T/cap.out")"
like "and is served when one ends" '^c late: 220 ' "$(cat "$T/cap.out")"

# a worker killed in a session is replaced
$PY3 - "$RECV_PORT" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.recv(512); time.sleep(30)
PY
holder=$!
sleep 1
victim=$(session_pids | tail -n 1)
kill -9 "$victim"
sleep 0.5
session >"$T/after-kill.out" 2>&1
like "after a worker is killed, the next session is served" '250 2.0.0 Ok: queued' "$(cat "$T/after-kill.out")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# a stop: the busy worker finishes its session, the idle ones exit at once
n0=$(queued)
$PY3 - "$RECV_PORT" >"$T/stop.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
def cmd(line):
    if line is not None:
        s.sendall(line)
    r = f.readline().decode().strip()
    while r[3:4] == "-":
        r = f.readline().decode().strip()
    print(r, flush=True)
cmd(None); cmd(b"HELO c.test\r\n"); cmd(b"MAIL FROM:<a@sender.test>\r\n")
time.sleep(2)   # the listener is told to stop here
cmd(b"RCPT TO:<b@rcpt.test>\r\n"); cmd(b"DATA\r\n"); cmd(b"Subject: stop\r\n\r\nx\r\n.\r\n"); cmd(b"QUIT\r\n")
PY
client=$!
sleep 1
mapfile -t before < <(pgrep -P "$RECV_PID")
kill -TERM "$RECV_PID"
wait "$RECV_PID" 2>/dev/null
wait "$client"
like "a session in progress at the stop still gets its message accepted" '250 2.0.0 Ok: queued' "$(cat "$T/stop.out")"
is "and the message is in the spool" $((n0 + 1)) "$(queued)"
sleep 0.5
left=0
for p in "${before[@]}"; do gone "$p" || left=$((left + 1)); done
is "no worker is left after the stop (had ${#before[@]})" 0 "$left"

# a connection wakes one idle worker: with four idle, all four woke for
# each connection and three found nothing to accept (EAGAIN)
start_pool 8 100 4
for i in $(seq 50); do
    (($(pgrep -c -P "$RECV_PID") >= 4)) && break
    sleep 0.1
done
if trace_recv "$T/accept.trace" accept4; then
    for i in $(seq 10); do
        session >"$T/wake$i.out" 2>&1
    done
    untrace_recv
    is "ten sessions with four idle workers, ten messages queued" 10 \
        "$(cat "$T"/wake*.out | grep -c '250 2.0.0 Ok: queued')"
    eagain=$(grep -c '= -1 EAGAIN' "$T/accept.trace") # accept4 only
    ok "a connection wakes one idle worker: $eagain accept4 calls found nothing in ten connections" \
        test "$eagain" -lt 5
else
    skip "ten sessions with four idle workers" "$TRACE_WHY"
    skip "a connection wakes one idle worker" "$TRACE_WHY"
fi
stop_recv
