#!/bin/bash
# 1020-recv-sender-domain.t - MAIL FROM is checked against a real DNS server
# (unbound on loopback): MX, A-only and AAAA-only domains pass; NXDOMAIN,
# a domain without MX/A/AAAA and a null MX get 550 5.1.8; a time-out or
# SERVFAIL gets 451 4.4.3, never a 5xx; <> is not looked up; a UTF-8
# domain is looked up as its IDNA 2008 A-labels; forged replies (wrong ID,
# wrong question) are ignored.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/recv.sh"

start_dns
make_tls
write_conf <<'EOF2'
recv.auth = off
EOF2
start_recv

mail_from() {
    $PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" read 'send:EHLO c.test\r\n' read \
        "send:MAIL FROM:<$1>$2\r\n" read 'send:QUIT\r\n' read | sed -n 's/^S: \([245][0-9][0-9] .*\)/\1/p' | sed -n 3p
}

like "MX domain accepted" '^250 2.1.0' "$(mail_from user@mx.test)"
like "A-only domain accepted" '^250 2.1.0' "$(mail_from user@a-only.test)"
like "AAAA-only domain accepted" '^250 2.1.0' "$(mail_from user@aaaa-only.test)"
like "CNAME to an MX domain accepted" '^250 2.1.0' "$(mail_from user@cname.test)"
is "NXDOMAIN refused" "550 5.1.8 Sender Domain must resolve" "$(mail_from user@nxdomain.test)"
is "no MX, A or AAAA refused" "550 5.1.8 Sender Domain must resolve" "$(mail_from user@txt-only.test)"
is "null MX refused" "550 5.1.8 Sender Domain must resolve" "$(mail_from user@nullmx.test)"
is "CNAME to nowhere refused" "550 5.1.8 Sender Domain must resolve" "$(mail_from user@cname-nx.test)"
like "time-out: 451 4.4.3" '^451 4.4.3' "$(mail_from user@x.timeout.test)"
like "SERVFAIL: 451 4.4.3" '^451 4.4.3' "$(mail_from user@x.servfail.test)"
# a UTF-8 domain (SMTPUTF8) is looked up in its A-label form, by IDNA 2008
like "UTF-8 domain: its xn-- form is looked up" '^250 2.1.0' \
    "$(mail_from 'user@bücher.test' ' SMTPUTF8')"
like "UTF-8 domain with a joiner: looked up as IDNA 2008 names it" '^250 2.1.0' \
    "$(mail_from 'user@ශ්‍රී.test' ' SMTPUTF8')"
like "null sender allowed" '^250 2.1.0' "$(mail_from '')"
like "address literal not looked up" '^250 2.1.0' "$(mail_from 'user@[192.0.2.1]')"
like "refusal logged with the reason" 'from=<user@nullmx.test>, reject=550 5.1.8, reason=null MX' "$(cat "$T/recv.log")"

out=$(swaks_to --from user@nxdomain.test --to b@rcpt.test)
like "swaks sees 550 5.1.8" '550 5.1.8 Sender Domain must resolve' "$out"
is "nothing queued for refused senders" 0 "$(queued)"
out=$(swaks_to --from user@mx.test --to b@rcpt.test)
like "a good sender's message is queued" '250 2.0.0 Ok: queued' "$out"

# the same through a forging proxy: its false NXDOMAIN replies come first
start_dnsspoof
stop_recv
sed -i "s|^nameservers = .*|nameservers = 127.0.0.1:$SPOOF_PORT|" "$T/smg.conf"
start_recv
like "forged replies ignored: MX domain still accepted" '^250 2.1.0' "$(mail_from user@mx.test)"
ok "the proxy did send forged replies first" test "$(grep -c 'mx.test' "$SPOOF_LOG")" -ge 2
done_testing
