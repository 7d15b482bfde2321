#!/bin/bash
# 1000-recv-basic.t - smg-recv accepts a message, stores it durably with its
# envelope and a Received: field, and answers as RFC 5321 and 2920 say.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

make_tls
write_conf <<'EOF2'
recv.auth = off
EOF2
start_recv

out=$(swaks_to --from a@sender.test --to b@rcpt.test --ehlo client.test \
    --header "Subject: basic" --header "SMG-Route: pool=good gateway=evil" \
    --body $'line one\n.leading dot\nlast')
like "session ends with 221" '^<-  221 2.0.0' "$out"
like "EHLO offers PIPELINING" '250-PIPELINING' "$out"
like "EHLO offers SIZE with the limit" '250-SIZE 52428800' "$out"
like "EHLO offers STARTTLS" '250-STARTTLS' "$out"
like "EHLO offers ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8" \
    '8BITMIME' "$out"
unlike "no AUTH without TLS" '250.AUTH' "$out"
like "queued with an ID" '250 2.0.0 Ok: queued as [0-9A-Z]+' "$out"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
is "exactly one file in check/new" 1 "$(queued)"
f="$SPOOL/check/new/$id"
ok "the file is named by the queue ID" test -f "$f"
is "nothing left in tmp" 0 "$(count_files "$SPOOL/check/tmp")"
is "first field is SMG-Queue-ID" "SMG-Queue-ID: $id" "$(head -1 "$f")"
like "SMG-Sender" '^SMG-Sender: <a@sender.test>' "$(cat "$f")"
like "SMG-Recipient" '^SMG-Recipient: <b@rcpt.test>' "$(cat "$f")"
like "SMG-Client has address and helo" '^SMG-Client: addr=127.0.0.1 helo=client.test tls=none auth=none' "$(cat "$f")"
like "SMG-Arrival in UTC" '^SMG-Arrival: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z' "$(cat "$f")"
unlike "the client's SMG-Route field is gone" 'gateway=evil' "$(cat "$f")"
like "Received: field with the queue ID" 'by out.test \(smg\) with ESMTP id '"$id" "$(cat "$f")"
like "dot-stuffing undone" '^\.leading dot$' "$(cat "$f")"
unlike "no CR in the spool file" $'\r' "$(cat "$f")"
like "log line with the queue ID" "$id: client=127.0.0.1, .*from=<a@sender.test>, nrcpt=1, size=[0-9]+, status=queued" "$(cat "$T/recv.log")"

# a message whose first line starts with a blank would continue our
# Received: field: its body starts there instead (as in Postfix's smtpd);
# an SMG-* field's continuation is still removed with it
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO x\r\n' read \
    'send:MAIL FROM:<a@sender.test>\r\n' read 'send:RCPT TO:<b@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:\t(authenticated as admin)\r\nSubject: w\r\n\r\nbody\r\n.\r\n' read \
    'send:MAIL FROM:<a@sender.test>\r\n' read 'send:RCPT TO:<b@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:SMG-Route: pool=good\r\n gateway=evil\r\nSubject: c\r\n\r\nbody\r\n.\r\n' read \
    'send:QUIT\r\n' read)
wid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' | head -1)
cid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' | sed -n 2p)
is "first line with a blank: our Received: field ends at its date, an empty line follows" \
    "" "$(sed -n '/^Received:/,$p' "$SPOOL/check/new/$wid" | sed -n '5p')"
is "  ... and the client's line is the body's first" $'\t(authenticated as admin)' \
    "$(sed -n '/^Received:/,$p' "$SPOOL/check/new/$wid" | sed -n '6p')"
is "an SMG-* field and its continuation removed, the header goes on" "Subject: c" \
    "$(sed -n '/^Received:/,$p' "$SPOOL/check/new/$cid" | sed -n '5p')"
rm -f "$SPOOL/check/new/$wid" "$SPOOL/check/new/$cid"

# a first line that starts "SMG-" but has no colon is no field: it is the
# body's first line and kept (it was dropped as an SMG-* field, with the
# lines after it that started with a blank)
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO x\r\n' read \
    'send:MAIL FROM:<a@sender.test>\r\n' read 'send:RCPT TO:<b@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:SMG-report follows\r\n  indented line\r\nend\r\n.\r\n' read \
    'send:QUIT\r\n' read)
nid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' | head -1)
is "a colon-less first line \"SMG-...\" starts the body, kept with what follows" \
    $'\nSMG-report follows\n  indented line\nend' \
    "$(sed -n '/^Received:/,$p' "$SPOOL/check/new/$nid" | sed -n '5,$p')"
rm -f "$SPOOL/check/new/$nid"

# quoted local parts (RFC 5321 4.1.2) with a space and a ">" are stored
# so that the next programs read them back
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO x\r\n' read \
    'send:MAIL FROM:<"john doe"@sender.test>\r\n' read 'send:RCPT TO:<"x>y"@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: q\r\n\r\nbody\r\n.\r\n' read 'send:QUIT\r\n' read)
like "quoted local parts: queued" '^S: 250 2.0.0 Ok: queued as' "$out"
qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
RC=0
show=$("$SMG_BIN/smg-queue" -c "$T/smg.conf" show --json "$qid" 2>&1) || RC=$?
is "quoted local parts: the envelope reads back (smg-queue show)" 0 "$RC"
like "quoted local parts: the sender as sent" '"sender": *"\\"john doe\\"@sender.test"' "$show"
like "quoted local parts: the recipient as sent" '"\\"x>y\\"@rcpt.test"' "$show"
rm -f "$SPOOL/check/new/$qid"

# RCPT TO:<Postmaster>, any case, without a domain (RFC 5321 4.5.1) goes to
# recv.postmaster, by default postmaster@ the host name
out=$(swaks_to --from a@sender.test --to Postmaster --header "Subject: to the postmaster")
like "<Postmaster>: queued" '250 2.0.0 Ok: queued as' "$out"
pid_=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
like "<Postmaster>: the recipient is postmaster@out.test" '^SMG-Recipient: <postmaster@out\.test>' \
    "$(cat "$SPOOL/check/new/$pid_")"
out=$(swaks_to --from a@sender.test --to nobody)
like "another address without a domain: 501 5.1.3" "501 5.1.3" "$out"
rm -f "$SPOOL/check/new/$pid_"

# pipelining after EHLO works: all of MAIL, RCPT, DATA in one write
out=$(swaks_to --pipeline --from a@sender.test --to b@rcpt.test,c@rcpt.test)
like "pipelined transaction queued" '250 2.0.0 Ok: queued as' "$out"
is "two messages queued" 2 "$(queued)"

# pipelining before the EHLO reply is refused
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO x\r\nMAIL FROM:<a@b.test>\r\n' readall)
like "pipelining before EHLO reply: 554" '^S: 554 5.5.0' "$out"

# data sent before the 354 is refused
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO x\r\n' read \
    'send:MAIL FROM:<a@b.test>\r\n' read 'send:RCPT TO:<c@d.test>\r\n' read \
    'send:DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n' readall)
like "data before 354: 554" '^S: 554 5.5.0' "$out"
is "still two messages" 2 "$(queued)"

# inetd mode: one session on stdin/stdout
out=$(swaks --pipe "$SMG_RECV -c $T/smg.conf --log stderr --client 192.0.2.7" \
    --from a@sender.test --to b@rcpt.test 2>&1)
like "inetd mode queues" '250 2.0.0 Ok: queued as' "$out"
is "inetd session's client address recorded" 1 \
    "$(grep -l 'addr=192.0.2.7' "$SPOOL"/check/new/* | wc -l | tr -d ' ')"
is "three messages" 3 "$(queued)"
# an IPv6 client is an IPv6 address literal in Received: (RFC 5321 4.4)
out=$(swaks --pipe "$SMG_RECV -c $T/smg.conf --log stderr --client 2001:db8::7" \
    --from a@sender.test --to b@rcpt.test --ehlo v6.test 2>&1)
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
like "IPv6 client in Received: as [IPv6:...]" '^Received: from v6\.test \(\[IPv6:2001:db8::7\]\)$' \
    "$(cat "$SPOOL/check/new/$id")"
like "  ... and as the address alone in SMG-Client" '^SMG-Client: addr=2001:db8::7 helo=v6\.test' \
    "$(cat "$SPOOL/check/new/$id")"
rm -f "$SPOOL/check/new/$id"
# a link-local client's zone index (fe80::1%eth0) is no part of an address
# literal: Received: and SMG-Client carry the address without it
out=$(swaks --pipe "$SMG_RECV -c $T/smg.conf --log stderr --client fe80::7%eth0" \
    --from a@sender.test --to b@rcpt.test --ehlo ll.test 2>&1)
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
like "link-local client in Received: without its zone" '^Received: from ll\.test \(\[IPv6:fe80::7\]\)$' \
    "$(cat "$SPOOL/check/new/$id")"
like "  ... and in SMG-Client" '^SMG-Client: addr=fe80::7 helo=ll\.test' \
    "$(cat "$SPOOL/check/new/$id")"
rm -f "$SPOOL/check/new/$id"

# DSN and SMTPUTF8 parameters travel into the envelope
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<a@sender.test> RET=HDRS ENVID=QQ+2B1 BODY=8BITMIME SIZE=100\r\n' read \
    'send:RCPT TO:<b@rcpt.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@rcpt.test\r\n' read \
    'send:DATA\r\n' read 'send:Subject: dsn\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
f="$SPOOL/check/new/$id"
like "SMG-Sender carries BODY, RET and ENVID" '^SMG-Sender: <a@sender.test> BODY=8BITMIME RET=HDRS ENVID=QQ\+2B1$' "$(cat "$f")"
like "SMG-Recipient carries NOTIFY and ORCPT" '^SMG-Recipient: <b@rcpt.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@rcpt.test$' "$(cat "$f")"
# a recipient given twice (the domain in another case) is stored once, with
# its first parameters; another local part's case is another recipient
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<a@sender.test>\r\n' read \
    'send:RCPT TO:<b@Rcpt.test> NOTIFY=NEVER\r\n' read 'send:RCPT TO:<b@rcpt.TEST>\r\n' read \
    'send:RCPT TO:<b@Rcpt.test>\r\n' read 'send:RCPT TO:<B@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: dup\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
is "every RCPT of a duplicate gets 250" 4 "$(printf '%s\n' "$out" | grep -c '^S: 250 2.1.5')"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
is "duplicate recipients stored once" $'SMG-Recipient: <b@Rcpt.test> NOTIFY=NEVER\nSMG-Recipient: <B@rcpt.test>' \
    "$(grep '^SMG-Recipient:' "$SPOOL/check/new/$id")"
like "the log counts distinct recipients" "$id: client=.*nrcpt=2, " "$(cat "$T/recv.log")"
rm -f "$SPOOL/check/new/$id"
# ... and so is one whose domain is written in U-labels, in A-labels, in
# upper case or with an ideographic full stop: IDNA makes them one domain
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<a@sender.test> SMTPUTF8\r\n' read \
    'send:RCPT TO:<x@bücher.test>\r\n' read 'send:RCPT TO:<x@xn--bcher-kva.test>\r\n' read \
    'send:RCPT TO:<x@BÜCHER.test>\r\n' read 'send:RCPT TO:<x@bücher。test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: idn dup\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
is "an IDN recipient in four spellings: 250 each" 4 "$(printf '%s\n' "$out" | grep -c '^S: 250 2.1.5')"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
is "  ... stored once, as first written" 'SMG-Recipient: <x@bücher.test>' \
    "$(grep '^SMG-Recipient:' "$SPOOL/check/new/$id")"
rm -f "$SPOOL/check/new/$id"
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<ü@sender.test> SMTPUTF8\r\n' read \
    'send:RCPT TO:<ö@rcpt.test>\r\n' read 'send:DATA\r\n' read \
    'send:Subject: utf8\r\n\r\nx\r\n.\r\n' read \
    'send:MAIL FROM:<a@sender.test>\r\n' read 'send:RCPT TO:<b@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: ascii\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
like "SMTPUTF8 addresses accepted with the parameter" '^S: 250 2.1.5' "$out"
# RFC 6531 3.7.3: a message sent with SMTPUTF8 says UTF8SMTP in Received:
# (UTF8SMTPS over TLS), the next one without it ESMTP again
uid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' | sed -n 1p)
aid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' | sed -n 2p)
like "SMTPUTF8 message: Received: with UTF8SMTP" "by out\\.test \\(smg\\) with UTF8SMTP id $uid" \
    "$(cat "$SPOOL/check/new/$uid")"
like "  ... the next one without SMTPUTF8: with ESMTP" "by out\\.test \\(smg\\) with ESMTP id $aid" \
    "$(cat "$SPOOL/check/new/$aid")"
rm -f "$SPOOL/check/new/$uid" "$SPOOL/check/new/$aid"
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:STARTTLS\r\n' read tls 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<ü@sender.test> SMTPUTF8\r\n' read \
    'send:RCPT TO:<ö@rcpt.test>\r\n' read 'send:DATA\r\n' read \
    'send:Subject: utf8\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
uid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
like "SMTPUTF8 message over TLS: Received: with UTF8SMTPS" "with UTF8SMTPS id $uid" \
    "$(cat "$SPOOL/check/new/$uid")"
rm -f "$SPOOL/check/new/$uid"
out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
    'send:MAIL FROM:<ü@sender.test>\r\n' read 'send:QUIT\r\n' read)
like "UTF-8 without SMTPUTF8 refused" '^S: 553 5.6.7' "$out"

# systemd socket activation: a listening socket on fd 3
stop_recv
SA_PORT=$(free_port)
$PY3 - "$SMG_RECV" "$T/smg.conf" "$SA_PORT" 2>>"$T/recv.log" <<'PY' &
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[3])))
s.listen(8)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execve(sys.argv[1], [sys.argv[1], "-c", sys.argv[2], "--log", "stderr"], env)
PY
sa_pid=$!
at_exit "kill $sa_pid 2>/dev/null"
wait_port "$SA_PORT"
out=$(swaks --server 127.0.0.1 --port "$SA_PORT" --from a@sender.test --to b@rcpt.test 2>&1)
like "socket activation (LISTEN_FDS): queued" '250 2.0.0 Ok: queued as' "$out"
kill "$sa_pid"
done_testing
