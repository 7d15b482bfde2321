#!/bin/bash
# 6000-send-basic.t - smg-route then smg-send deliver to real MTAs found
# through MX records: good mail leaves from the good gateway's address,
# spam from the bad one's (the receivers' view of the client address is
# asserted); MX preference with a dead first MX; A fallback without MX;
# null MX (alone, or among other MX records) and a non-existent domain
# bounce at once; a domain with no reachable host is tried once, its other
# messages deferred as suspended; one connection carries several
# messages; dot-stuffing, no SMG-* field on the wire, DSN parameters
# passed on (SIZE: 6010); one log line per recipient; watch
# mode with two worker processes, a killed worker started again and the
# workers ending with a killed parent; a relay gateway; BODY=8BITMIME.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/send.sh"
. "$srcdir/t/lib/peers.sh"

ROUTE="$SMG_BIN/smg-route"
SEND="$SMG_BIN/smg-send"

peer_port
start_mta mta 127.0.0.10
start_sink sink 127.0.0.12
cat >"$T/zone" <<'EOF'
good.test. MX 10 mx-good.test.
mx-good.test. A 127.0.0.10
sink.test. MX 10 mx-sink.test.
mx-sink.test. A 127.0.0.12
# the first MX is dead (nothing listens on 127.0.0.19), the second works
backup.test. MX 10 dead.backup.test.
backup.test. MX 20 mx-good.test.
dead.backup.test. A 127.0.0.19
# no MX: the domain's own address
amx.test. A 127.0.0.10
nullmx.test. MX 0 .
# a null MX among other MX records (RFC 7505 3: a broken domain), at the
# same preference as another and at a worse one
mixnull.test. MX 0 .
mixnull.test. MX 0 mx-good.test.
latenull.test. MX 10 .
latenull.test. MX 0 mx-good.test.
# every MX host dead
dead.test. MX 10 dead.backup.test.
dead.test. MX 20 dead2.backup.test.
dead2.backup.test. A 127.0.0.19
# [send] ignore_target_hosts: an MX on loopback, one by an IPv4-mapped
# IPv6 address, and a dead first MX before a good one
inside.test. MX 10 mx-good.test.
mapped.test. MX 10 mx-mapped.test.
mx-mapped.test. AAAA ::ffff:127.0.0.10
EOF
start_dns "$T/zone"
gw_conf <<'EOF'
route.good = mta01
send.bounce_queue = sign
EOF

# --- good and bad gateways, end to end through smg-route --------------
spool_msg route HAM1 a@cust.test x@good.test "Customer: c1" "Spam: verdict=ham score=0.1 threshold=5.0"
spool_msg route SPAM1 a@cust.test y@good.test "Customer: c1" "Spam: verdict=spam score=9.9 threshold=5.0"
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>"$T/route.log"
ok "ham routed to mta01" test -f "$SPOOL/send.mta01/new/HAM1"
ok "spam routed to mta03" test -f "$SPOOL/send.mta03/new/SPAM1"
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/send1.log"
is "smg-send mta01 exits 0" 0 $?
"$SEND" -c "$T/smg.conf" --gateway mta03 --spool --log stderr 2>"$T/send3.log"
is "smg-send mta03 exits 0" 0 $?
is "two messages received" 2 "$(received mta)"
ham=$(grep -l '^X-Rcpt-To: x@good.test' "$PEERS_DIR"/mta/*.eml)
spam=$(grep -l '^X-Rcpt-To: y@good.test' "$PEERS_DIR"/mta/*.eml)
is "ham came from the good gateway's address" "127.0.0.2" "$(field X-Peer "$ham")"
is "spam came from the bad gateway's address" "127.0.0.3" "$(field X-Peer "$spam")"
is "HELO name of mta01" "mta01.test" "$(field X-Helo "$ham")"
is "HELO name of mta03" "mta03.test" "$(field X-Helo "$spam")"
unlike "no SMG-* field was transmitted" '^SMG-' "$(cat "$ham")"
like "dot-stuffing undone by the receiver: the line is intact" '^\.leading dot line' "$(cat "$ham")"
like "body arrived" 'last line of HAM1' "$(cat "$ham")"
is "send.mta01 empty" 0 "$(in_queue send.mta01)"
is "nothing deferred" 0 "$(in_queue deferred.mta01)"
is "nothing in cur" 0 "$(count_files "$SPOOL/send.mta01/cur")"
like "log line per recipient" 'HAM1: to=<x@good.test>, relay=mx-good.test\[127.0.0.10\]:[0-9]+, delay=[0-9.]+, tls=none, dsn=2.0.0, status=sent \(250 2.0.0 Ok: queued\)' "$(cat "$T/send1.log")"
like "removed after delivery" 'HAM1: removed' "$(cat "$T/send1.log")"

# --- MX preference, A fallback, null MX, NXDOMAIN -----------------------
spool_msg send.mta01 BACK1 a@cust.test z@backup.test
spool_msg send.mta01 AMX1 a@cust.test w@amx.test
spool_msg send.mta01 NULL1 a@cust.test n@nullmx.test
spool_msg send.mta01 NX1 a@cust.test q@nowhere.test
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/send2.log"
log=$(cat "$T/send2.log")
like "dead first MX tried first" 'dead.backup.test\[127.0.0.19\]:[0-9]+: connect to .*Connection refused' "$log"
like "second MX took it" 'BACK1: to=<z@backup.test>, relay=mx-good.test\[127.0.0.10\].*status=sent' "$log"
like "no MX: the domain's A record" 'AMX1: to=<w@amx.test>, relay=amx.test\[127.0.0.10\].*status=sent' "$log"
like "null MX bounces at once" 'NULL1: to=<n@nullmx.test>, relay=none, .*dsn=5.1.10, status=bounced \(Domain nullmx.test does not accept mail \(null MX\)\)' "$log"
like "non-existent domain bounces at once" 'NX1: to=<q@nowhere.test>, .*dsn=5.1.2, status=bounced' "$log"
is "four received" 4 "$(received mta)"
is "two NDRs in the bounce queue" 2 "$(in_queue sign)"
ndr=$(grep -l 'n@nullmx.test' "$SPOOL"/sign/new/*)
like "NDR goes to the sender" '^SMG-Recipient: <a@cust.test>' "$(cat "$ndr")"
like "NDR is from the null sender" '^SMG-Sender: <>' "$(cat "$ndr")"
like "NDR has the status" '^Status: 5.1.10' "$(cat "$ndr")"
like "NDR names the original" "^SMG-Bounce-Of: NULL1" "$(cat "$ndr")"
is "nothing left to send" 0 "$(in_queue send.mta01)"
is "nothing deferred" 0 "$(in_queue deferred.mta01)"

# --- the bounce of spam-routed mail leaves from the bad pool too ---------
spool_msg send.mta03 SPAMNDR a@cust.test n@nullmx.test "Route: pool=bad gateway=mta03 reason=spam"
"$SEND" -c "$T/smg.conf" --gateway mta03 --spool --log stderr 2>>"$T/send3.log"
ndr="$SPOOL/sign/new/SPAMNDRN1"
ok "NDR of spam-routed mail made" test -f "$ndr"
is "it carries SMG-Route pool=bad" "pool=bad gateway=mta03 reason=bounce" "$(field SMG-Route "$ndr")"
# (smg-sign would pass it on to route; do that by hand)
mkdir -p "$SPOOL/route/new"
mv "$ndr" "$SPOOL/route/new/SPAMNDRN1"
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.log"
ok "smg-route sends it to the bad gateway" test -f "$SPOOL/send.mta03/new/SPAMNDRN1"
like "route log: bad-origin" 'SPAMNDRN1: pool=bad, gateway=mta03, reason=bad-origin' "$(cat "$T/route.log")"
rm -f "$SPOOL/send.mta03/new/SPAMNDRN1"

# --- a null MX among other MX records: bounced, wherever the "." is ------
# (Postfix: any MX whose host is the root makes the domain a null MX; the
# shuffle of equal preferences used to decide, and "10 ." was skipped)
before=$(received mta)
for i in 1 2 3 4 5 6; do
    spool_msg send.mta01 "MIXNULL$i" a@cust.test "m$i@mixnull.test"
done
spool_msg send.mta01 LATENULL a@cust.test l@latenull.test
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/sendnull.log"
log=$(cat "$T/sendnull.log")
is "null MX beside another MX at its preference: all six bounced" 6 \
    "$(grep -c 'MIXNULL[1-6]: to=<m[1-6]@mixnull.test>, relay=none, .*dsn=5.1.10, status=bounced (Domain mixnull.test does not accept mail (null MX))' "$T/sendnull.log")"
like "null MX at a worse preference than another MX: bounced" \
    'LATENULL: to=<l@latenull.test>, relay=none, .*dsn=5.1.10, status=bounced \(Domain latenull.test does not accept mail \(null MX\)\)' "$log"
is "none of them went to the other MX" "$before" "$(received mta)"
is "nothing of them left to send" 0 "$(in_queue send.mta01)"
rm -f "$SPOOL"/sign/new/MIXNULL* "$SPOOL"/sign/new/LATENULL*

# --- one connection for several messages, DSN and SIZE passed on --------
before=$(grep -c . "$PEERS_DIR/mta/sessions.log")
for i in 1 2 3 4; do
    spool_msg send.mta01 "REUSE$i" "<a@cust.test> RET=HDRS ENVID=E$i" \
        "r$i@good.test|NOTIFY=FAILURE,DELAY~ORCPT=rfc822;r$i@good.test"
done
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/send3.log"
after=$(grep -c . "$PEERS_DIR/mta/sessions.log")
is "four more messages" 8 "$(received mta)"
is "over one connection (one EHLO)" 1 $((after - before))

spool_msg send.mta01 SINK1 "<a@cust.test> RET=FULL ENVID=XYZ" \
    "s@sink.test|NOTIFY=SUCCESS,FAILURE~ORCPT=rfc822;s@sink.test" \
    "Spam: verdict=ham"
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/send4.log"
is "smtp-sink got one" 1 "$(received sink)"
s=$(cat "$PEERS_DIR"/sink/*)
like "smtp-sink saw the gateway's address" '^X-Client-Addr: 127.0.0.2$' "$s"
like "MAIL FROM carries RET and ENVID" '^X-Mail-Args: <a@cust.test> RET=FULL ENVID=XYZ$' "$s"
like "RCPT TO carries NOTIFY and ORCPT" '^X-Rcpt-Args: <s@sink.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;s@sink.test$' "$s"
like "PIPELINING used with smtp-sink" 'SINK1: to=<s@sink.test>, relay=mx-sink.test\[127.0.0.12\]' "$(cat "$T/send4.log")"
unlike "no SMG-Spam on the wire" '^SMG-Spam' "$s"
ok "the sink passes NOTIFY on: no success report from us" test ! -e "$SPOOL/sign/new/SINK1S1"

# NOTIFY=SUCCESS to a server without DSN (the MTA peer): this gateway
# reports "relayed" itself (RFC 3461 5.2.2), header only, to the sender
spool_msg send.mta01 SUC1 "<a@cust.test> RET=FULL" \
    "s1@good.test|NOTIFY=SUCCESS,FAILURE s2@good.test|NOTIFY=FAILURE s3@good.test"
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/send5.log"
rep="$SPOOL/sign/new/SUC1S1"
ok "success report made" test -f "$rep"
like "  logged" 'SUC1: sender success notification: SUC1S1' "$(cat "$T/send5.log")"
like "  to the sender, from <>" '^SMG-Sender: <>$' "$(grep '^SMG-Sender' "$rep")"
like "  its subject" '^Subject: Successful Mail Delivery Report' "$(cat "$rep")"
is "  only the recipient that asked for SUCCESS" "Final-Recipient: rfc822; s1@good.test" \
    "$(grep '^Final-Recipient' "$rep")"
like "  Action: relayed, Status 2.0.0" 'Action: relayed' "$(cat "$rep")"
like "  the server's reply" 'Diagnostic-Code: smtp; ?250' "$(cat "$rep")"
like "  header only, though RET=FULL" 'Content-Type: text/rfc822-headers' "$(cat "$rep")"

# --- a gateway on another node: everything goes to its relay -------------
cat >>"$T/smg.conf" <<EOF
[gateway far]
relay = [127.0.0.10]:$PEER_PORT
helo = far.test
EOF
spool_msg send.far FAR1 "<a@cust.test> BODY=8BITMIME" "x@nowhere.test"
"$SEND" -c "$T/smg.conf" --gateway far --spool --log stderr 2>"$T/far.log"
like "relay gateway: no MX lookup, delivered to the relay" 'FAR1: to=<x@nowhere.test>, relay=127.0.0.10\[127.0.0.10\]:[0-9]+, .*status=sent' "$(cat "$T/far.log")"
far=$(grep -l '^X-Rcpt-To: x@nowhere.test' "$PEERS_DIR"/mta/*.eml)
like "BODY=8BITMIME passed on to a server with 8BITMIME" '^X-Mail-From: a@cust.test .*BODY=8BITMIME' "$(cat "$far")"
is "relay gateway greets with its name" "far.test" "$(field X-Helo "$far")"
# 8-bit data that the sender did not declare (a sloppy client, a message
# put in the spool by hand) still goes as BODY=8BITMIME (RFC 6152)
SUBJECT=$(printf 'Gr\303\274\303\237e') spool_msg send.far FAR2 "<a@cust.test>" "y@nowhere.test"
"$SEND" -c "$T/smg.conf" --gateway far --spool --log stderr 2>"$T/far.log"
far=$(grep -l '^X-Rcpt-To: y@nowhere.test' "$PEERS_DIR"/mta/*.eml)
like "undeclared 8-bit data: sent with BODY=8BITMIME" '^X-Mail-From: a@cust.test .*BODY=8BITMIME' "$(cat "$far" 2>/dev/null)"
spool_msg send.far FAR3 "<a@cust.test>" "z@nowhere.test"
"$SEND" -c "$T/smg.conf" --gateway far --spool --log stderr 2>"$T/far.log"
far=$(grep -l '^X-Rcpt-To: z@nowhere.test' "$PEERS_DIR"/mta/*.eml)
unlike "7-bit data: no BODY= added" 'BODY=' "$(grep '^X-Mail-From' "$far" 2>/dev/null)"

# a relay host whose name has no address (a typo, a DNS glitch): the mail
# waits, it is not bounced to every customer at once
cat >>"$T/smg.conf" <<EOF
[gateway farnx]
relay = relay.nosuch.test:$PEER_PORT
helo = far.test
EOF
spool_msg send.farnx FARNX1 "<a@cust.test>" "x@nowhere.test"
"$SEND" -c "$T/smg.conf" --gateway farnx --spool --log stderr 2>"$T/farnx.log"
like "relay host without an address: deferred (4.4.4)" \
    'FARNX1: to=<x@nowhere.test>, .*dsn=4\.4\.4, status=deferred \(Host or domain name not found' "$(cat "$T/farnx.log")"
unlike "relay host without an address: no bounce" 'status=bounced' "$(cat "$T/farnx.log")"

# --- an IPv6 address literal (RFC 5321 4.1.3), its tag in either case -----
# (the domain is lower-cased before delivery; the tag was matched as
# "IPv6:" only, so every IPv6 literal smg-recv took bounced with 5.1.2)
start_mta mta6 ::1
cat >>"$T/smg.conf" <<EOF
[gateway v6]
bind = ::1
helo = v6.test
EOF
spool_msg send.v6 LIT6 a@cust.test "x@[IPv6:::1] y@[ipv6:0:0::1]"
"$SEND" -c "$T/smg.conf" --gateway v6 --spool --log stderr 2>"$T/lit6.log"
log=$(cat "$T/lit6.log")
like "IPv6 literal: sent to that address" 'LIT6: to=<x@\[IPv6:::1\]>, relay=::1\[::1\]:[0-9]+, .*status=sent' "$log"
like "IPv6 literal with its tag in lower case: sent" 'LIT6: to=<y@\[ipv6:0:0::1\]>, relay=0:0::1\[0:0::1\]:[0-9]+, .*status=sent' "$log"
unlike "IPv6 literal: no bounce" 'status=bounced' "$log"
is "IPv6 literals: both received" 2 "$(received mta6)"

# --- watch mode with two worker processes --------------------------------
before=$(received mta)
"$SEND" -c "$T/smg.conf" --gateway mta01 --watch -P 2 --log stderr 2>"$T/watch.log" &
wpid=$!
at_exit "kill $wpid 2>/dev/null"
sleep 0.5
for i in 1 2 3 4 5 6; do
    spool_msg send.mta01 "WATCH$i" a@cust.test "w$i@good.test"
done
# received_at_least N - whether the MTA has received N messages
received_at_least() { [ "$(received mta)" -ge "$1" ]; }
eventually 100 received_at_least $((before + 6))
is "watch: six new messages delivered" $((before + 6)) "$(received mta)"
kill -TERM "$wpid"
wait "$wpid"
is "watch: SIGTERM ends it with 0" 0 $?
is "watch: each delivered once" 6 "$(grep -c 'WATCH[0-9]: to=.*status=sent' "$T/watch.log")"
is "watch: both workers worked" 2 "$(grep 'WATCH[0-9]: to=' "$T/watch.log" | sed 's/^smg-send\[\([0-9]*\)\].*/\1/' | sort -u | wc -l | tr -d ' ')"
is "watch: queue empty" 0 "$(in_queue send.mta01)"

# --- a dead worker is started again; workers die with their parent --------
before=$(received mta)
"$SEND" -c "$T/smg.conf" --gateway mta01 --watch -P 2 --log stderr 2>"$T/restart.log" &
wpid=$!
at_exit "kill -9 $wpid 2>/dev/null"
workers() { pgrep -P "$wpid" | sort; }
two_workers() { [ "$(workers | wc -l)" -ge 2 ]; }
eventually 50 two_workers
first=$(workers)
victim=$(echo "$first" | head -n 1)
kill -9 "$victim"
# one listing: the killed worker, a zombie until reaped, must not count
replaced() { [ "$(workers | grep -vx "$victim" | wc -l)" -ge 2 ]; }
eventually 50 replaced
is "a killed worker is replaced" 2 "$(workers | grep -vx "$victim" | wc -l | tr -d ' ')"
like "the restart is logged" 'killed by signal 9; starting it again' "$(cat "$T/restart.log")"
for i in 1 2 3 4 5 6 7 8; do
    spool_msg send.mta01 "RESTART$i" a@cust.test "r$i@good.test"
done
eventually 100 received_at_least $((before + 8))
is "both shares delivered after the restart" $((before + 8)) "$(received mta)"
survivors=$(workers)
kill -9 "$wpid"
wait "$wpid" 2>/dev/null
# alive - how many of the pids given still run
alive() { local p n=0; for p in "$@"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo "$n"; }
none_alive() { [ "$(alive "$@")" -eq 0 ]; }
# shellcheck disable=SC2086 # one word per pid
eventually 50 none_alive $survivors
# shellcheck disable=SC2086
left=$(alive $survivors)
is "workers end when their parent is killed" 0 "$left"
is "restart: queue empty" 0 "$(in_queue send.mta01)"

# --- a stop soon after the start is not lost (a sanity check: the race it
# guards, a stop passed on to a worker before its handler is in place, is
# too narrow to hit from a shell) --------------------------------------------
hung=0
for round in 1 2 3 4 5; do
    "$SEND" -c "$T/smg.conf" --gateway mta01 --watch -P 4 --log stderr 2>>"$T/quick.log" &
    qpid=$!
    # (not before the exec: the forked shell would run the test's own trap)
    until [ "$(cat "/proc/$qpid/comm" 2>/dev/null)" = smg-send ] || ! kill -0 "$qpid" 2>/dev/null; do
        :
    done
    kill -TERM "$qpid"
    eventually 50 none_alive "$qpid"
    if kill -0 "$qpid" 2>/dev/null; then
        hung=$((hung + 1))
        pkill -9 -P "$qpid"
        kill -9 "$qpid"
    fi
    wait "$qpid" 2>/dev/null
done
is "SIGTERM soon after the start ends -P 4 every time (5 rounds)" 0 "$hung"

# --- started with SIGCHLD ignored (some wrappers do), -P still ends --------
RC=0
timeout 20 python3 -c 'import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv(sys.argv[1], sys.argv[1:])' "$SEND" -c "$T/smg.conf" --gateway mta01 --spool -P 3 \
    2>/dev/null || RC=$?
is "SIGCHLD ignored by the caller: --spool -P 3 ends with 0" 0 "$RC"

# --- no host of a domain reachable: its other messages wait, untried ------
# (as Postfix suspends a dead destination; else each message to a domain
# whose hosts drop SYNs would cost five connect time-outs)
for i in 1 2 3; do
    spool_msg send.mta01 "DEAD$i" a@cust.test "d$i@dead.test"
done
spool_msg send.mta01 DEADOK a@cust.test ok@good.test
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/senddead.log"
log=$(cat "$T/senddead.log")
is "both dead hosts tried once in the run, not once per message" 2 \
    "$(grep -c 'dead2\{0,1\}.backup.test\[127.0.0.19\]:[0-9]*: connect to' "$T/senddead.log")"
is "the first message deferred with the hosts' reason, the others as suspended" \
    "1 2" "$(grep -c 'DEAD[1-3]: to=<d[1-3]@dead.test>, relay=dead2.backup.test\[127.0.0.19\]:[0-9]*, .*dsn=4.4.1, status=deferred (connect to' "$T/senddead.log") $(grep -c 'DEAD[1-3]: to=<d[1-3]@dead.test>, relay=dead2.backup.test\[127.0.0.19\]:[0-9]*, .*dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to' "$T/senddead.log")"
like "another domain is delivered in the same run" 'DEADOK: to=<ok@good.test>, .*status=sent' "$log"
is "all three wait in deferred/" 3 "$(in_queue deferred.mta01)"
rm -f "$SPOOL"/deferred.mta01/new/DEAD*

# --- [send] ignore_target_hosts -------------------------------------------
# The default (loopback and private networks) holds every host of this
# test: a customer's MX or address literal there must not be connected to.
sed '/^ignore_target_hosts = /d' "$T/smg.conf" >"$T/ign.conf"
spool_msg send.mta01 IGN1 a@cust.test x@inside.test
spool_msg send.mta01 IGN2 a@cust.test "y@[127.0.0.10]"
spool_msg send.mta01 IGN3 a@cust.test z@mapped.test
before=$(find "$PEERS_DIR/mta" -type f | wc -l)
"$SEND" -c "$T/ign.conf" --gateway mta01 --spool --log stderr 2>"$T/ign.log"
log=$(cat "$T/ign.log")
like "default: an MX on loopback is ignored, the recipient bounced (5.4.4)" \
    'IGN1: to=<x@inside.test>, .*dsn=5.4.4, status=bounced \(mx-good.test has no address outside \[send\] ignore_target_hosts \(127.0.0.10\)\)' "$log"
like "default: an address literal on loopback too" 'IGN2: to=<y@\[127.0.0.10\]>, .*dsn=5.4.4, status=bounced' "$log"
like "default: an IPv4-mapped IPv6 address is taken as its IPv4 one" \
    'IGN3: to=<z@mapped.test>, .*dsn=5.4.4, status=bounced .*::ffff:127.0.0.10' "$log"
unlike "no connection to an ignored host" 'connect to|status=sent' "$log"
is "nothing arrived" "$before" "$(find "$PEERS_DIR/mta" -type f | wc -l)"
sed 's|^ignore_target_hosts = none|ignore_target_hosts = 127.0.0.19/32, 192.0.2.0/24|' "$T/smg.conf" >"$T/ign.conf"
spool_msg send.mta01 IGN4 a@cust.test w@backup.test
"$SEND" -c "$T/ign.conf" --gateway mta01 --spool --log stderr 2>"$T/ign.log"
log=$(cat "$T/ign.log")
like "an operator's list: the ignored MX is skipped, the next one takes it" \
    'IGN4: to=<w@backup.test>, relay=mx-good.test\[127.0.0.10\]:[0-9]+, .*status=sent' "$log"
unlike "the ignored host was not tried" '127.0.0.19\]:[0-9]*: connect to' "$log"
for bad in '10.0.0.1/8' 'none 10.0.0.0/8' 'mx.example'; do
    sed "s|^ignore_target_hosts = none|ignore_target_hosts = $bad|" "$T/smg.conf" >"$T/ign.conf"
    "$SEND" -c "$T/ign.conf" --gateway mta01 --spool 2>"$T/err.log"
    is "ignore_target_hosts = $bad: exit 78" 78 $?
done
like "says which" "ignore_target_hosts: 'mx.example' is not a network" "$(cat "$T/err.log")"

# --- config errors --------------------------------------------------------
"$SEND" -c "$T/smg.conf" --gateway nosuch --spool 2>"$T/err.log"
is "unknown gateway: exit 78" 78 $?
like "says which" 'no \[gateway nosuch\] group' "$(cat "$T/err.log")"
"$SEND" -c "$T/smg.conf" --spool 2>/dev/null
is "no --gateway: usage, exit 64" 64 $?

done_testing
