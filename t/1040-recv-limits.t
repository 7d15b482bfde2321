#!/bin/bash
# 1040-recv-limits.t - every limit of smg-recv with its reply: message size
# (declared and real), recipients, command and data line length, header
# size, command, DATA and TLS handshake time-outs (also of a line sent a
# byte at a time, or replies read slowly), error and junk-command counters, messages per
# session, and a 20 MB message that fits.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

make_tls
write_conf <<'EOF2'
recv.auth = off
recv.max_message_size = 21M
recv.max_recipients = 3
recv.max_header_size = 2k
recv.max_hops = 5
recv.max_line_length = 512
recv.max_data_line_length = 1000
recv.command_timeout = 2
recv.data_timeout = 2
recv.max_errors = 5
recv.max_junk_commands = 10
EOF2
start_recv
raw() { $PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" "$@"; }
hello="read send:EHLO\x20c.test\r\n read"

# a 20 MB message is accepted whole
$PY3 -c '
import sys
sys.stdout.write("Subject: big\n\n")
line = "x" * 76 + "\n"
for i in range(20 * 1024 * 1024 // 77):
    sys.stdout.write(line)
' >"$T/big.txt"
out=$(swaks_to --suppress-data --from a@sender.test --to b@rcpt.test --data "$T/big.txt")
like "20 MB message queued" '250 2.0.0 Ok: queued as' "$out"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
ok "its file holds the whole body" test "$(grep -c '^x\{76\}$' "$SPOOL/check/new/$id")" -eq $((20 * 1024 * 1024 / 77))

# declared size over the limit
out=$(raw $hello 'send:MAIL FROM:<a@b.test> SIZE=30000000\r\n' read 'send:QUIT\r\n' read)
like "SIZE over the limit: 552 5.3.4" '^S: 552 5.3.4 Message size exceeds fixed limit' "$out"

# real size over the limit (no SIZE declared)
$PY3 -c '
import sys
sys.stdout.write("Subject: too big\n\n")
for i in range(23 * 1024 * 1024 // 77):
    sys.stdout.write("y" * 76 + "\n")
' >"$T/toobig.txt"
before=$(queued)
out=$(swaks_to --suppress-data --from a@sender.test --to b@rcpt.test --data "$T/toobig.txt")
like "oversized message: 552 5.3.4" '552 5.3.4 Message size exceeds fixed limit' "$out"
is "not queued" "$before" "$(queued)"
is "no temporary file left" 0 "$(count_files "$SPOOL/check/tmp")"

# recipients
out=$(swaks_to --from a@sender.test --to r1@x.test,r2@x.test,r3@x.test,r4@x.test)
like "fourth recipient: 452 4.5.3" '452 4.5.3' "$out"
like "the three others are delivered" '250 2.0.0 Ok: queued' "$out"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
is "three SMG-Recipient fields" 3 "$(grep -c '^SMG-Recipient:' "$SPOOL/check/new/$id")"

# command line too long
long=$(head -c 600 /dev/zero | tr '\0' a)
out=$(raw $hello "send:NOOP $long\r\n" read 'send:QUIT\r\n' read)
like "command line too long: 500 5.5.2" '^S: 500 5.5.2 Error: line too long' "$out"
like "session continues" '^S: 221' "$out"

# data line too long
$PY3 -c 'print("Subject: long line\n\n" + "z" * 1200)' >"$T/longline.txt"
out=$(swaks_to --from a@sender.test --to b@rcpt.test --data "$T/longline.txt")
like "data line too long: 552 5.3.4" '552 5.3.4 Message line too long' "$out"

# header too big
$PY3 -c '
for i in range(60):
    print("X-Filler-%d: %s" % (i, "h" * 60))
print()
print("body")' >"$T/bighead.txt"
out=$(swaks_to --from a@sender.test --to b@rcpt.test --data "$T/bighead.txt")
like "header too big: 552 5.3.4" '552 5.3.4 Message header size exceeds limit' "$out"

# a mail loop: four Received: fields and ours are max_hops (5), five are
# one too many, however the field name is written
hops() { for i in $(seq "$1"); do printf 'Received: from hop%d.test by x.test; Mon, 23 Nov 2026 05:00:00 +0000\n' "$i"; done; printf 'RECEIVED : from last.test\nSubject: loop\n\nbody\n'; }
hops 3 >"$T/hops4.txt"
out=$(swaks_to --from a@sender.test --to b@rcpt.test --data "$T/hops4.txt")
like "four Received: fields and ours: queued" '250 2.0.0 Ok: queued' "$out"
hops 4 >"$T/hops5.txt"
before=$(queued)
out=$(swaks_to --from a@sender.test --to b@rcpt.test --data "$T/hops5.txt")
like "five Received: fields: 554 5.4.6" '554 5.4.6 Too many hops' "$out"
is "the looping message is not queued" "$before" "$(queued)"
printf 'Subject: x\nX-Received: a\nX-Received: b\nX-Received: c\nX-Received: d\nX-Received: e\n\nReceived: in the body\nReceived: x\nReceived: x\nReceived: x\nReceived: x\n' >"$T/xhops.txt"
out=$(swaks_to --from a@sender.test --to b@rcpt.test --data "$T/xhops.txt")
like "X-Received: and the body's lines are no hops" '250 2.0.0 Ok: queued' "$out"

# command time-out
out=$(raw $hello sleep:3 readall)
like "idle client: 421 4.4.2" '^S: 421 4.4.2 .*timeout' "$out"

# a command trickled a byte a second: each read is within command_timeout
# (2 s), the line is not (slow loris)
out=$(raw $hello 'trickle:1:NOOP\r\n' readall)
like "trickled command: 421 4.4.2" '^S: 421 4.4.2 .*timeout' "$out"
unlike "trickled command: no reply to it" '^S: 250 2.0.0' "$out"

# replies read slowly: each read is progress, the flush of the replies
# must still end within command_timeout (standard input mode; a pipe frees
# room a page at a time, and 1000 replies are some nine pages)
out=$($PY3 - "$SMG_RECV" "$T/smg.conf" <<'PY'
import fcntl, os, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "-c", sys.argv[2], "--log", "stderr",
                      "--client", "192.0.2.9"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
fcntl.fcntl(p.stdout.fileno(), 1031, 4096)  # F_SETPIPE_SZ: one page
p.stdout.readline()
p.stdin.write(b"EHLO c.test\r\n")
while not p.stdout.readline().startswith(b"250 "):
    pass
p.stdin.write(b"MAIL FROM:<a@b.test>\r\n"
              + b"".join(b"RCPT TO:<r%d@x.test>\r\n" % i for i in range(1000)))
got = b""
for i in range(8):  # a page every half second: 4 s, twice the time-out
    time.sleep(0.5)
    got += os.read(p.stdout.fileno(), 4096)
try:
    p.stdin.write(b"QUIT\r\n")
except BrokenPipeError:
    pass
got += p.stdout.read()
print("exit %d, %s" % (p.wait(), "221 at the end" if got.endswith(b"221 2.0.0 Bye\r\n")
                       else "no 221"))
PY
)
is "replies read slowly: the session ends (75), no 221" "exit 75, no 221" "$out"

# the same inside DATA (data_timeout 2 s)
before=$(queued)
out=$(raw $hello 'send:MAIL FROM:<a@b.test>\r\n' read 'send:RCPT TO:<c@d.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: slow\r\n\r\n' 'trickle:1:abcd\r\n.\r\n' readall)
like "trickled data line: 421 4.4.2" '^S: 421 4.4.2' "$out"
is "trickled data line: nothing queued" "$before" "$(queued)"

# DATA time-out, and no file left behind
before=$(queued)
out=$(raw $hello 'send:MAIL FROM:<a@b.test>\r\n' read 'send:RCPT TO:<c@d.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: slow\r\n\r\nhalf a mess' sleep:3 readall)
like "stalled DATA: 421 4.4.2" '^S: 421 4.4.2' "$out"
is "nothing queued" "$before" "$(queued)"
is "no temporary file" 0 "$(count_files "$SPOOL/check/tmp")"

# a time-out in DATA ends a standard-input session with 75 (smg-recv(8)),
# as one between commands does
( printf 'EHLO c.test\r\n'; sleep 0.3; printf 'MAIL FROM:<a@b.test>\r\n'; sleep 0.3
  printf 'RCPT TO:<c@d.test>\r\n'; sleep 0.3; printf 'DATA\r\n'; sleep 0.3
  printf 'Subject: stalled\r\n'; sleep 3 ) |
    "$SMG_RECV" -c "$T/smg.conf" --log stderr --client 192.0.2.9 >"$T/stalled.out" 2>/dev/null
is "time-out in DATA, standard input: exit 75" 75 "$?"
like "  ... after 421 4.4.2" '^421 4.4.2' "$(cat "$T/stalled.out")"

# and so does one in the TLS handshake: STARTTLS, then half a ClientHello
# (a record header promising 512 bytes, 5 of them sent) and silence
( printf 'EHLO c.test\r\n'; sleep 0.3; printf 'STARTTLS\r\n'; sleep 0.3
  printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03'; sleep 3 ) |
    "$SMG_RECV" -c "$T/smg.conf" --log stderr --client 192.0.2.9 >"$T/stalled.out" 2>"$T/stalled.err"
is "time-out in the TLS handshake, standard input: exit 75" 75 "$?"
like "  ... logged as a time-out" 'tls=failed, reason=4\.4\.2 TLS handshake failed: timeout' \
    "$(cat "$T/stalled.err")"

# but a client that sends STARTTLS and is gone before our 220 reaches it
# is no time-out: the session ends with 0 (smg-recv(8) EXIT STATUS), as
# for any client that leaves.  A socketpair whose client end reads no
# more (SHUT_RD) makes the write of the 220 fail every time.
out=$($PY3 - "$SMG_RECV" "$T/smg.conf" <<'PY'
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.argv[1], "-c", sys.argv[2], "--log", "stderr",
                      "--client", "192.0.2.9"], stdin=b, stdout=b,
                     stderr=subprocess.PIPE)
b.close()
greeting = b""
while not greeting.endswith(b"\r\n"):
    greeting += a.recv(1)
a.shutdown(socket.SHUT_RD)
a.sendall(b"STARTTLS\r\n")
err = p.stderr.read().decode()
print("exit %d" % p.wait())
print(err)
PY
)
like "client gone before the STARTTLS 220: exit 0" '^exit 0$' "$out"
like "  ... logged as a lost connection" 'client=192\.0\.2\.9, tls=failed, reason=.*lost connection' "$out"
unlike "  ... not as a time-out" 'reason=.*timeout' "$out"

# too many errors
out=$(raw $hello 'send:FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\n' readall)
like "unknown command: 502 5.5.2" '^S: 502 5.5.2' "$out"
like "fifth error: 421 4.7.0" '^S: 421 4.7.0 .*too many errors' "$out"

# too many junk commands
out=$(raw $hello "send:$(printf 'NOOP\\r\\n%.0s' $(seq 12))" readall)
like "eleventh NOOP: 421 4.7.0" '^S: 421 4.7.0 .*too many junk commands' "$out"

# recipients over the limit are no errors (RFC 5321 4.5.3.1.10: the client
# sends them again later): twelve, pipelined, with max_errors 5
rcpts=$(printf 'RCPT TO:<r%d@x.test>\\r\\n' $(seq 12))
out=$(raw $hello "send:MAIL FROM:<a@b.test>\r\n${rcpts}DATA\r\n" read read read read read read read \
    read read read read read read read 'send:Subject: many\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
is "twelve recipients, limit 3: nine 452 4.5.3" 9 "$(printf '%s\n' "$out" | grep -c '^S: 452 4.5.3')"
unlike "twelve recipients: no 421" '^S: 421' "$out"
like "twelve recipients: the first three queued" '^S: 250 2.0.0 Ok: queued' "$out"

# both counters start again after a message is queued
msg='send:MAIL\x20FROM:<a@b.test>\r\n read send:RCPT\x20TO:<c@d.test>\r\n read send:DATA\r\n read send:Subject:\x20x\r\n\r\nx\r\n.\r\n read'
out=$(raw $hello 'send:FOO\r\nFOO\r\nFOO\r\nFOO\r\n' read read read read $msg \
    'send:FOO\r\nFOO\r\nFOO\r\nFOO\r\n' read read read read 'send:QUIT\r\n' read)
unlike "four errors, a message, four errors: no 421" '^S: 421' "$out"
like "and the session ends normally" '^S: 221' "$out"
noops="send:$(printf 'NOOP\\r\\n%.0s' $(seq 8))"
out=$(raw $hello "$noops" read read read read read read read read $msg \
    "$noops" read read read read read read read read 'send:QUIT\r\n' read)
unlike "eight NOOPs, a message, eight NOOPs: no 421" '^S: 421' "$out"
like "and the session ends normally (junk)" '^S: 221' "$out"

# BODY=BINARYMIME needs CHUNKING, which is not offered (RFC 3030)
out=$(raw $hello 'send:MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n' read \
    'send:MAIL FROM:<a@b.test> BODY=8BITMIME\r\n' read 'send:QUIT\r\n' read)
like "BODY=BINARYMIME: 555 5.5.4" '^S: 555 5.5.4 .*BINARYMIME' "$out"
like "BODY=8BITMIME: 250" '^S: 250 2.1.0' "$out"

# AUTH= with auth = off, where AUTH is never offered: 555 (RFC 5321 4.1.1.11)
out=$(raw $hello 'send:MAIL FROM:<a@b.test> AUTH=a+40b.test\r\n' read \
    'send:MAIL FROM:<a@b.test> AUTH=<>\r\n' read 'send:QUIT\r\n' read)
is "MAIL AUTH= without AUTH offered: 555 5.5.4 (both)" 2 "$(printf '%s\n' "$out" | grep -c '^S: 555 5.5.4 .*AUTH')"

# command order
out=$(raw read 'send:MAIL FROM:<a@b.test>\r\n' read 'send:QUIT\r\n' read)
like "MAIL before EHLO: 503 5.5.1" '^S: 503 5.5.1' "$out"
out=$(raw $hello 'send:RCPT TO:<a@b.test>\r\n' read 'send:DATA\r\n' read \
    'send:MAIL FROM:<a@b.test>\r\n' read 'send:MAIL FROM:<a@b.test>\r\n' read \
    'send:DATA\r\n' read 'send:VRFY root\r\n' read 'send:QUIT\r\n' read)
like "RCPT before MAIL: 503 5.5.1" '^S: 503 5.5.1 Error: need MAIL' "$out"
like "nested MAIL: 503 5.5.1" '^S: 503 5.5.1 Error: nested MAIL' "$out"
like "DATA without RCPT: 554 5.5.1" '^S: 554 5.5.1' "$out"
like "VRFY disabled: 502 5.5.1" '^S: 502 5.5.1' "$out"
out=$(raw $hello 'send:MAIL FROM:<a@b.test> FOO=BAR\r\n' read 'send:MAIL FROM:a@b.test\r\n' read \
    'send:QUIT\r\n' read)
like "unknown parameter: 555 5.5.4" '^S: 555 5.5.4' "$out"
like "missing brackets: 501" '^S: 501 5.1.7' "$out"

# a HELO/EHLO name longer than a domain (255 octets) would make a Received:
# line past RFC 5322's 998 octets: 501, and the session goes on
long=$(printf 'h%.0s' $(seq 1 300))
d255="$(printf 'a%.0s' $(seq 1 63)).$(printf 'b%.0s' $(seq 1 63)).$(printf 'c%.0s' $(seq 1 63)).$(printf 'd%.0s' $(seq 1 63))"
out=$(raw read "send:EHLO $long.test\r\n" read "send:HELO $long.test\r\n" read \
    "send:EHLO $d255\r\n" read 'send:QUIT\r\n' read)
is "EHLO and HELO of 305 octets (under max_line_length): 501 5.5.2" 2 "$(printf '%s\n' "$out" | grep -c '^S: 501 5.5.2')"
like "  ... then EHLO of 255 octets: 250" '^S: 250-PIPELINING' "$out"

# max_messages: the message over the limit gets 421 at MAIL and the session
# ends, so that the client sends it again on a new connection
stop_recv
write_conf <<'EOF2'
recv.auth = off
recv.max_messages = 2
EOF2
start_recv
before=$(queued)
out=$(raw $hello $msg $msg 'send:MAIL FROM:<a@b.test>\r\n' read 'send:RCPT TO:<c@d.test>\r\n' read)
is "max_messages 2: two messages queued" $((before + 2)) "$(queued)"
like "  ... the third MAIL gets 421 4.7.0" '^S: 421 4.7.0 out\.test Error: too many messages in one session' "$out"
unlike "  ... and nothing after it (the session is over)" '^S: 250 2\.1\.5' \
    "$(printf '%s\n' "$out" | sed -n '/^S: 421/,$p')"
done_testing
