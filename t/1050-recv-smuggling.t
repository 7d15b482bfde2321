#!/bin/bash
# 1050-recv-smuggling.t - only CRLF.CRLF ends DATA; bare LF and bare CR are
# refused (SMTP smuggling, CVE-2023-51764), so no second message can be
# smuggled inside the first.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

make_tls
write_conf <<'EOF2'
recv.auth = off
EOF2
start_recv
raw() { $PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" "$@"; }
tx='read send:EHLO\x20c.test\r\n read send:MAIL\x20FROM:<a@b.test>\r\n read send:RCPT\x20TO:<c@d.test>\r\n read send:DATA\r\n read'
smuggle='MAIL FROM:<admin@victim.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n'

for variant in '\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r' '\r\n.\r\r\n' '\r.\r\n'; do
    out=$(raw $tx "send:Subject: first\r\n\r\nbody${variant}${smuggle}.\r\n" read 'send:QUIT\r\n' read)
    like "end marker ${variant}: refused with 550 5.5.2" '^S: 550 5.5.2 .*bare CR or LF' "$out"
    unlike "end marker ${variant}: no smuggled transaction" 'S: 250 2.1.0' "$(printf '%s\n' "$out" | sed -n '/354/,$p')"
done
# a line too long for the limit, ended by a bare LF, is no CRLF either: the
# "." after it is data, not the end (the smuggled part comes after a pause,
# so that it does not arrive before its 354)
long=$(printf 'a%.0s' $(seq 70000))
out=$(raw $tx "send:Subject: first\r\n\r\n${long}\n.\r\nMAIL FROM:<admin@victim.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n" \
    sleep:1 'send:Subject: smuggled\r\n\r\nevil\r\n.\r\n' read 'send:QUIT\r\n' read)
like "too-long line, bare LF, then \".\": one refusal, 552 5.3.4" '^S: 552 5.3.4' "$out"
unlike "too-long line, bare LF: no smuggled transaction" 'S: 250 2.1.0' \
    "$(printf '%s\n' "$out" | sed -n '/354/,$p')"
is "nothing queued" 0 "$(queued)"
like "logged" 'status=rejected, reason=bare CR or LF' "$(cat "$T/recv.log")"

# a lone CR inside a line is refused too
out=$(raw $tx 'send:Subject: cr\r\n\r\nbad\rline\r\n.\r\n' read 'send:QUIT\r\n' read)
like "bare CR inside a line: 550" '^S: 550 5.5.2' "$out"

# a proper message after a refused one in the same session is fine
out=$(raw $tx 'send:Subject: a\r\n\r\nx\ny\r\n.\r\n' read \
    'send:MAIL FROM:<a@b.test>\r\n' read 'send:RCPT TO:<c@d.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: b\r\n\r\n..dot\r\n.\r\n' read 'send:QUIT\r\n' read)
like "then a clean message is queued" '^S: 250 2.0.0 Ok: queued' "$out"
is "exactly one queued" 1 "$(queued)"
like "its dot-stuffed line is unstuffed once" '^\.dot$' "$(cat "$SPOOL"/check/new/*)"
done_testing
