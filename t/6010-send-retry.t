#!/bin/bash
# 6010-send-retry.t - smg-send against a scripted peer: partial success
# (one recipient 250, one 550, one 451) gives a delivery, an NDR for
# exactly the refused recipient and a deferral of the third; the deferred
# message waits for its next attempt (file mtime) with exponential
# back-off, measured with an injected clock; a delay warning after
# delay_warning; expiry into an NDR after queue_lifetime; a server that
# hangs after the data or drops the connection mid-DATA defers; 252 to
# RCPT is delivered, 552 to RCPT deferred, 250 to DATA deferred; after
# 452 4.5.3 the rest go in another transaction at once; a 4xx at the
# primary MX sends the message to the backup; at most ten MX hosts are
# looked up per attempt; a UTF-8
# domain is looked up as its xn-- form; a killed
# worker's claimed message is recovered by its successor; a 554
# greeting skips the host and defers when every host gives it; a message
# larger than the server's SIZE bounces.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/send.sh"
. "$srcdir/t/lib/peers.sh"

SEND="$SMG_BIN/smg-send"

peer_port
start_script fault 127.0.0.20 normal
start_script hang 127.0.0.21 hang-data
start_script drop 127.0.0.22 drop-data
start_script greet 127.0.0.23 greet-554
start_script small 127.0.0.24 normal 100
start_script broken 127.0.0.25 data-250
start_script limit 127.0.0.26 rcpt-limit
start_script grey 127.0.0.27 temp-all
start_script slow 127.0.0.28 slow-data 40000000
make_cert slowtls mx.slowtls.test
start_script slowtls 127.0.0.31 slow-data 40000000 slowtls
start_script droprcpt 127.0.0.29 drop-rcpt
start_script hang2 127.0.0.30 hang-second
start_script idle 127.0.0.32 idle-421
cat >"$T/zone" <<'EOF'
fault.test. MX 10 mx.fault.test.
mx.fault.test. A 127.0.0.20
hang.test. MX 10 mx.hang.test.
mx.hang.test. A 127.0.0.21
drop.test. MX 10 mx.drop.test.
mx.drop.test. A 127.0.0.22
greet.test. MX 10 mx.greet.test.
mx.greet.test. A 127.0.0.23
# two MX hosts that both greet with 554; a 554 primary with a working backup
greet2.test. MX 10 mx.greet.test.
greet2.test. MX 20 mx2.greet.test.
mx2.greet.test. A 127.0.0.23
greetfb.test. MX 10 mx.greet.test.
greetfb.test. MX 20 mx.fault.test.
small.test. MX 10 mx.small.test.
mx.small.test. A 127.0.0.24
broken.test. MX 10 mx.broken.test.
mx.broken.test. A 127.0.0.25
limit.test. MX 10 mx.limit.test.
mx.limit.test. A 127.0.0.26
# a primary that greylists every recipient, and a backup that takes them
grey.test. MX 10 mx.grey.test.
grey.test. MX 20 mx.fault.test.
mx.grey.test. A 127.0.0.27
# a primary that drops the connection at RCPT, and one that never answers
# the final dot, each with a backup that works
mx.droprcpt.test. A 127.0.0.29
hang2.test. MX 10 mx.hang2.test.
idle.test. MX 10 mx.idle.test.
mx.idle.test. A 127.0.0.32
mx.hang2.test. A 127.0.0.30
dropfb.test. MX 10 mx.droprcpt.test.
dropfb.test. MX 20 mx.fault.test.
hangfb.test. MX 10 mx.hang.test.
hangfb.test. MX 20 mx.fault.test.
# an MX host whose AAAA lookups time out (t/lib/dns.sh's stub zone)
halfdns.test. MX 10 127-0-0-20.aaaa-silent.test.
slowtls.test. MX 10 mx.slowtls.test.
mx.slowtls.test. A 127.0.0.31
slow.test. MX 10 mx.slow.test.
mx.slow.test. A 127.0.0.28
# the greylisting primary alone
greyonly.test. MX 10 mx.grey.test.
# two MX hosts, neither with an address; one without beside one that
# greylists
twonx.test. MX 10 nx1.twonx.test.
twonx.test. MX 20 nx2.twonx.test.
halfnx.test. MX 10 nx1.halfnx.test.
halfnx.test. MX 20 mx.grey.test.
# bücher.test, as DNS holds it
xn--bcher-kva.test. MX 10 mx.fault.test.
EOF
# ten MX hosts without an address before one that works: only ten hosts
# are looked up per attempt
for i in $(seq 1 10); do echo "many.test. MX $((9 + i)) nx$i.many.test."; done >>"$T/zone"
echo "many.test. MX 20 mx.fault.test." >>"$T/zone"
start_dns "$T/zone"
gw_conf <<'EOF'
send.command_timeout = 2
send.data_timeout = 2
send.backoff_min = 5m
send.backoff_max = 4h
send.delay_warning = 4h
send.queue_lifetime = 5d
send.bounce_queue = sign
EOF

send() {
    "$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr --now "$1" \
        2>>"$T/send.log"
}
mtime() { stat -c %Y "$1"; }
# attempt ID RCPTS [ID RCPTS]... - spool messages from a@cust.test, run
# smg-send once, its log in $log
attempt() {
    : >"$T/send.log"
    while [ $# -ge 2 ]; do
        spool_msg send.mta01 "$1" a@cust.test "$2"
        shift 2
    done
    send "$(date +%s)"
    log=$(cat "$T/send.log")
}
D="$SPOOL/deferred.mta01/new/P1"

# --- partial success ------------------------------------------------------
T0=$(date +%s)
ARRIVAL=$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)
export ARRIVAL
spool_msg send.mta01 P1 a@cust.test "ok1@fault.test perm1@fault.test temp1@fault.test"
send "$T0"
is "attempt 1 exits 0" 0 $?
log=$(cat "$T/send.log")
like "ok1 sent" 'P1: to=<ok1@fault.test>, relay=mx.fault.test\[127.0.0.20\]:[0-9]+, delay=[0-9.]+, tls=none, dsn=2.0.0, status=sent \(250 2.0.0 Ok: queued as SCRIPT\)' "$log"
like "perm1 bounced with the server's reply" 'P1: to=<perm1@fault.test>, .*dsn=5.1.1, status=bounced \(mx.fault.test said: 550 5.1.1 <perm1@fault.test>: Recipient address rejected: no such user \(in reply to RCPT TO\)\)' "$log"
like "temp1 deferred" 'P1: to=<temp1@fault.test>, .*dsn=4.3.0, status=deferred \(mx.fault.test said: 451 4.3.0' "$log"
is "the peer stored one message" 1 "$(received fault)"
is "for ok1 only" "<ok1@fault.test>" "$(grep '^X-Rcpt-To' "$PEERS_DIR"/fault/0001.eml | sed 's/X-Rcpt-To: //')"
like "MAIL FROM had SIZE" '^MAIL FROM:<a@cust.test> SIZE=[0-9]+' "$(cat "$PEERS_DIR/fault/commands.log")"
is "one NDR" 1 "$(in_queue sign)"
ndr="$SPOOL/sign/new/P1N1"
ok "NDR named after the message and attempt" test -f "$ndr"
like "NDR reports perm1" '^Final-Recipient: rfc822; ?perm1@fault.test' "$(cat "$ndr")"
unlike "NDR does not report ok1" 'Final-Recipient: rfc822; ?ok1@' "$(cat "$ndr")"
unlike "NDR does not report temp1" 'Final-Recipient: rfc822; ?temp1@' "$(cat "$ndr")"
like "NDR action failed" '^Action: failed' "$(cat "$ndr")"
like "NDR has the remote diagnostic" '^Diagnostic-Code: smtp; ?550 5.1.1' "$(cat "$ndr")"
ok "deferred copy exists" test -f "$D"
is "send queue empty" 0 "$(in_queue send.mta01)"
is "deferred copy keeps only temp1" "<temp1@fault.test>" "$(field SMG-Recipient "$D")"
is "one recipient in it" 1 "$(grep -c '^SMG-Recipient:' "$D")"
like "SMG-Delivery attempts=1" '^attempts=1 gateway=mta01 first=[0-9TZ:-]+ last=".*451 4.3.0.*" next=' "$(field SMG-Delivery "$D")"
is "next attempt in 5 min (mtime)" $((T0 + 300)) "$(mtime "$D")"

# --- back-off with an injected clock -----------------------------------
n=$(grep -c '^MAIL' "$PEERS_DIR/fault/commands.log")
send $((T0 + 299))
is "not due yet: no new attempt" "$n" "$(grep -c '^MAIL' "$PEERS_DIR/fault/commands.log")"
is "not due yet: still attempts=1" 1 "$(field SMG-Delivery "$D" | sed 's/attempts=\([0-9]*\).*/\1/')"
send $((T0 + 300))
is "due: attempted" $((n + 1)) "$(grep -c '^MAIL' "$PEERS_DIR/fault/commands.log")"
is "attempts=2" 2 "$(field SMG-Delivery "$D" | sed 's/attempts=\([0-9]*\).*/\1/')"
is "next wait doubled: 10 min" $((T0 + 300 + 600)) "$(mtime "$D")"
send $((T0 + 900))
is "third wait: 20 min" $((T0 + 900 + 1200)) "$(mtime "$D")"
send $((T0 + 2100))
is "fourth wait: 40 min" $((T0 + 2100 + 2400)) "$(mtime "$D")"
ok "no delay warning before 4 h" test ! -f "$SPOOL/sign/new/P1D1"
send $((T0 + 20000))
is "fifth wait: 80 min" $((T0 + 20000 + 4800)) "$(mtime "$D")"
ok "past 4 h: a delay warning" test -f "$SPOOL/sign/new/P1D1"
like "delay warning: action delayed" '^Action: delayed' "$(cat "$SPOOL/sign/new/P1D1")"
like "delay warning for temp1" 'Final-Recipient: rfc822; ?temp1@fault.test' "$(cat "$SPOOL/sign/new/P1D1")"
like "marked warned" 'warned=yes' "$(field SMG-Delivery "$D")"
c=$(in_queue sign)
send $((T0 + 30000))
is "sixth wait: 160 min" $((T0 + 30000 + 9600)) "$(mtime "$D")"
send $((T0 + 40000))
is "seventh wait capped at backoff_max, 4 h" $((T0 + 40000 + 14400)) "$(mtime "$D")"
is "only one delay warning" "$c" "$(in_queue sign)"

# --- expiry ---------------------------------------------------------------
send $((T0 + 5 * 86400 + 10))
ok "expired: deferred copy gone" test ! -f "$D"
x=$(ls "$SPOOL"/sign/new/ | grep -v -e P1N1 -e P1D1)
ok "expiry NDR made ($x)" test -n "$x"
like "expiry NDR: failed for temp1" 'Final-Recipient: rfc822; ?temp1@fault.test' "$(cat "$SPOOL/sign/new/$x")"
like "expiry NDR says it expired" 'expired after 5 days' "$(cat "$SPOOL/sign/new/$x")"
like "expiry NDR: the server's last reply is the diagnostic, as smtp" \
    '^Diagnostic-Code: smtp; ?451 4\.3\.0' "$(cat "$SPOOL/sign/new/$x")"
like "expiry NDR: the human part says both" \
    'temp1@fault.test>: message expired after 5 days in the queue; last reply: 451 4\.3\.0' \
    "$(cat "$SPOOL/sign/new/$x")"
like "expiry logged as bounced" 'P1: to=<temp1@fault.test>, .*status=bounced \(message expired after 5 days' "$(cat "$T/send.log")"
is "nothing left anywhere" 0 "$(($(in_queue send.mta01) + $(in_queue deferred.mta01)))"

# --- hang, drop, 554 greeting -----------------------------------------------
unset ARRIVAL
: >"$T/send.log"
spool_msg send.mta01 H1 a@cust.test x@hang.test
spool_msg send.mta01 R1 a@cust.test x@drop.test
spool_msg send.mta01 G1 a@cust.test x@greet.test
spool_msg send.mta01 G3 a@cust.test x@greet2.test
spool_msg send.mta01 G4 a@cust.test x@greetfb.test
spool_msg send.mta01 S1 a@cust.test x@small.test
send "$(date +%s)"
log=$(cat "$T/send.log")
like "a hang after the data times out and defers" 'H1: to=<x@hang.test>, .*dsn=4.4.2, status=deferred \(conversation with mx.hang.test\[127.0.0.21\]:[0-9]+ timed out while waiting for the reply to the end of data\)' "$log"
like "a drop mid-DATA defers" 'R1: to=<x@drop.test>, .*dsn=4.4.2, status=deferred \(lost connection with mx.drop.test\[127.0.0.22\]:[0-9]+ while' "$log"
# a 554 greeting is skipped and defers, as in Postfix (smtp_skip_5xx_greeting)
like "a 554 greeting defers" 'G1: to=<x@greet.test>, .*dsn=4.7.1, status=deferred \(mx.greet.test\[127.0.0.23\]:[0-9]+ refused to talk to me: 554 5.7.1 no service for you\)' "$log"
like "a 554 greeting from every MX host defers" 'G3: to=<x@greet2.test>, .*dsn=4.7.1, status=deferred \(mx2.greet.test\[127.0.0.23\]:[0-9]+ refused to talk to me: 554' "$log"
like "a 554 primary: the backup takes it" 'G4: to=<x@greetfb.test>, relay=mx.fault.test\[127.0.0.20\].*status=sent' "$log"
ok "hang: deferred" test -f "$SPOOL/deferred.mta01/new/H1"
ok "drop: deferred" test -f "$SPOOL/deferred.mta01/new/R1"
ok "554: deferred" test -f "$SPOOL/deferred.mta01/new/G1"
ok "554: no NDR" test ! -e "$SPOOL/sign/new/G1N1"
ok "554 from every host: deferred, no NDR" test -f "$SPOOL/deferred.mta01/new/G3" -a ! -e "$SPOOL/sign/new/G3N1"
# the same 554 from a relay gateway's relay defers: it is the gateway's own
# setting, not the recipients' fault
cat >>"$T/smg.conf" <<EOF
[gateway greetrelay]
relay = [127.0.0.23]:$PEER_PORT
helo = far.test
EOF
spool_msg send.greetrelay G2 a@cust.test x@anywhere.test
"$SEND" -c "$T/smg.conf" --gateway greetrelay --spool --log stderr --now "$(date +%s)" \
    2>"$T/greetrelay.log"
like "a relay's 554 greeting defers" 'G2: to=<x@anywhere.test>, .*dsn=4.7.1, status=deferred \(127.0.0.23\[127.0.0.23\]:[0-9]+ refused to talk to me: 554' \
    "$(cat "$T/greetrelay.log")"
ok "relay's 554: no NDR" test ! -e "$SPOOL/sign/new/G2N1"
like "larger than the server's SIZE: bounced without MAIL" 'S1: to=<x@small.test>, .*dsn=5.3.4, status=bounced \(message size [0-9]+ exceeds the limit 100 of mx.small.test' "$log"
unlike "no MAIL sent to the small server" '^MAIL' "$(cat "$PEERS_DIR/small/commands.log" 2>/dev/null)"
is "hang peer stored nothing" 0 "$(received hang)"
is "drop peer stored nothing" 0 "$(received drop)"

# --- replies outside the usual: 252 and 552 to RCPT, 250 to DATA ----------
: >"$T/send.log"
spool_msg send.mta01 V1 a@cust.test "vrfy1@fault.test full1@fault.test"
spool_msg send.mta01 B1 a@cust.test x@broken.test
send "$(date +%s)"
log=$(cat "$T/send.log")
like "252 to RCPT: accepted and delivered" 'V1: to=<vrfy1@fault.test>, .*status=sent' "$log"
v1=$(grep -l '^X-Rcpt-To: <vrfy1@fault.test>' "$PEERS_DIR"/fault/*.eml | head -n 1)
like "the peer got the message, body and all, for that recipient" 'last line of V1' "$(cat "$v1" 2>/dev/null)"
like "552 to RCPT is taken as 452 (RFC 5321 4.5.3.1.10): deferred" 'V1: to=<full1@fault.test>, .*dsn=4.2.2, status=deferred \(.*552 5.2.2' "$log"
like "250 to DATA is no delivery: deferred as a protocol error" 'B1: to=<x@broken.test>, .*dsn=4.5.0, status=deferred \(.*answered DATA with an unexpected reply: 250' "$log"
ok "broken: deferred, not removed" test -f "$SPOOL/deferred.mta01/new/B1"
is "broken peer stored nothing" 0 "$(received broken)"

# --- 452 4.5.3 too many recipients: the rest in another transaction now ---
: >"$T/send.log"
spool_msg send.mta01 L1 a@cust.test "l1@limit.test l2@limit.test l3@limit.test l4@limit.test l5@limit.test"
send "$(date +%s)"
is "too many recipients: all five sent in one attempt" 5 "$(grep -c 'L1: to=<l[1-5]@limit.test>, .*status=sent' "$T/send.log")"
is "in three transactions of at most two" 3 "$(received limit)"
ok "nothing deferred" test ! -f "$SPOOL/deferred.mta01/new/L1"

# --- a 4xx at one MX host is no verdict while another is left -------------
attempt GR1 ok3@grey.test GR2 ok4@greyonly.test
like "greylisted at the primary: the backup MX took it" 'GR1: to=<ok3@grey.test>, relay=mx.fault.test\[127.0.0.20\]:[0-9]+, .*status=sent' "$log"
ok "the primary was asked first" grep -q '^RCPT TO:<ok3@grey.test>' "$PEERS_DIR/grey/commands.log"
like "with no other host the primary's 4xx stands" 'GR2: to=<ok4@greyonly.test>, relay=mx.grey.test\[127.0.0.27\]:[0-9]+, .*dsn=4.7.1, status=deferred \(.*451 4.7.1 try again later' "$log"

# --- at most ten MX hosts are looked up per attempt -----------------------
n=$(grep -c '^RCPT TO:<m1@many.test>' "$PEERS_DIR/fault/commands.log")
attempt MX1 m1@many.test
like "ten MX hosts without an address: deferred after the tenth" \
    'MX1: to=<m1@many.test>, .*dsn=4.4.4, status=deferred \(Host or domain name not found: no address for nx10.many.test\)' "$log"
is "the eleventh host was not tried" "$n" "$(grep -c '^RCPT TO:<m1@many.test>' "$PEERS_DIR/fault/commands.log")"

# --- every MX host without an address: nothing to deliver to --------------
attempt NA1 x@twonx.test NA2 y@halfnx.test
like "two MX hosts, neither with an address: bounced (5.1.2), as one alone" \
    'NA1: to=<x@twonx.test>, .*dsn=5.1.2, status=bounced \(Host or domain name not found: no address for nx2.twonx.test\)' "$log"
like "one without an address beside one that defers: deferred" \
    'NA2: to=<y@halfnx.test>, .*dsn=4.7.1, status=deferred' "$log"

# --- a lost connection: the next MX, unless the message may have arrived -
attempt DF1 ok6@dropfb.test HF1 ok7@hangfb.test
like "connection lost at RCPT at the primary: the backup MX took it" \
    'DF1: to=<ok6@dropfb.test>, relay=mx.fault.test\[127.0.0.20\]:[0-9]+, .*status=sent' "$log"
ok "the primary was tried first" grep -q '^RCPT TO:<ok6@dropfb.test>' "$PEERS_DIR/droprcpt/commands.log"
like "no reply to the final dot: deferred, the server may have the message" \
    'HF1: to=<ok7@hangfb.test>, relay=mx.hang.test\[127.0.0.21\]:[0-9]+, .*dsn=4.4.2, status=deferred \(conversation with .* timed out while waiting for the reply to the end of data' "$log"
ok "and not sent to the backup MX as well (no duplicate)" \
    test "$(grep -c '^RCPT TO:<ok7@hangfb.test>' "$PEERS_DIR/fault/commands.log")" -eq 0

# --- no reply to the dot on a reused connection: no resend on a new one ---
attempt RU1 ok10@hang2.test RU2 ok11@hang2.test
like "the first message on the connection is sent" 'RU1: to=<ok10@hang2.test>, .*status=sent' "$log"
like "the second, reusing it, times out after its dot and is deferred" \
    'RU2: to=<ok11@hang2.test>, .*dsn=4.4.2, status=deferred \(conversation with .* timed out while waiting for the reply to the end of data' "$log"
is "and is not sent again on a new connection (the server may have it)" 1 \
    "$(grep -c '^RCPT TO:<ok11@hang2.test>' "$PEERS_DIR/hang2/commands.log")"

# --- 421 to the MAIL that reuses a connection: a new connection, at once --
attempt ID1 ok12@idle.test ID2 ok13@idle.test
like "the first message on the connection is sent" 'ID1: to=<ok12@idle.test>, .*status=sent' "$log"
like "421 to the next MAIL (the server ended the idle connection): sent on a new one" \
    'ID2: to=<ok13@idle.test>, .*status=sent' "$log"
is "in two sessions" 2 "$(grep -c '^peer=' "$PEERS_DIR/idle/sessions.log")"

# --- an MX host whose AAAA lookups time out still gets the mail ----------
: >"$T/send.log"
spool_msg send.mta01 HD1 a@cust.test "ok8@halfdns.test"
send "$(date +%s)"
like "AAAA lookups that time out do not hide the A (an IPv4 gateway)" \
    'HD1: to=<ok8@halfdns.test>, relay=127-0-0-20.aaaa-silent.test\[127.0.0.20\]:[0-9]+, .*status=sent' \
    "$(cat "$T/send.log")"

# --- data_timeout bounds each write, not the whole message ---------------
# 16 MB to a server that reads at most 3 MB/s: seconds longer than
# data_timeout (2 s) in all, though never 2 s without progress (the kernel
# says a socket is writable again once a third of its buffer is free); in
# clear text and over TLS (where OpenSSL writes the whole buffer before it
# returns, unless told to return after each record)
for peer in slow slowtls; do
    : >"$T/send.log"
    id=SL-$peer
    spool_msg send.mta01 "$id" a@cust.test "ok5@$peer.test"
    $PY3 -c 'import sys; sys.stdout.write(("slow " * 15 + "\n") * 220000)' \
        >>"$SPOOL/send.mta01/new/$id"
    t0=$(date +%s.%N)
    send "$(date +%s)"
    took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    like "$peer: a slow server that keeps reading gets the whole message" \
        "$id: to=<ok5@$peer.test>, relay=mx.$peer.test\\[127.0.0.(28|31)\\]:[0-9]+, .*status=sent" \
        "$(cat "$T/send.log")"
    ok "$peer: and it took longer than data_timeout ($took s)" \
        awk -v t="$took" 'BEGIN { exit !(t > 2) }'
    is "$peer: the peer stored it whole" 220000 \
        "$(grep -c '^slow slow' "$PEERS_DIR/$peer/0001.eml" 2>/dev/null)"
done
like "slowtls: over TLS" '^X-TLS: TLSv1' "$(head -n 3 "$PEERS_DIR/slowtls/0001.eml")"

# --- an internationalised recipient domain is looked up in its ASCII form --
: >"$T/send.log"
spool_msg send.mta01 IDN1 a@cust.test "ok2@bücher.test"
send "$(date +%s)"
like "UTF-8 domain: its xn-- form's MX took it" 'IDN1: to=<ok2@bücher.test>, relay=mx.fault.test\[127.0.0.20\]:[0-9]+, .*status=sent' "$(cat "$T/send.log")"

# --- delivered, but the outcome cannot be written: held, tried again -----
# (put back whole, the message went to its delivered recipients again at
# the next run, and with a full disk at every run)
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=1m tmpfs "$T/tiny"; then
    at_exit "umount -l '$T/tiny'"
    sed "s|^dir = .*|dir = $T/tiny/spool|" "$T/smg.conf" >"$T/tiny.conf"
    main_spool=$SPOOL
    SPOOL=$T/tiny/spool
    for q in send.mta01 deferred.mta01 sign; do mkdir -p "$SPOOL/$q/tmp" "$SPOOL/$q/new" "$SPOOL/$q/cur"; done
    spool_msg send.mta01 FULL1 a@cust.test "ok9@fault.test temp9@fault.test"
    dd if=/dev/zero of="$T/tiny/filler" bs=4k 2>/dev/null # to ENOSPC
    n0=$(grep -c '^RCPT TO:<ok9@fault.test>' "$PEERS_DIR/fault/commands.log")
    : >"$T/send.log"
    tiny_send() {
        "$SEND" -c "$T/tiny.conf" --gateway mta01 --spool --log stderr --now "$(date +%s)" \
            2>>"$T/send.log"
    }
    tiny_send &
    spid=$!
    at_exit "kill $spid 2>/dev/null"
    waiting() {
        grep -q 'FULL1: cannot record the outcome of this attempt (recipients delivered); trying again' \
            "$T/send.log"
    }
    eventually 100 waiting
    ok "a full spool after delivery: the outcome is held and tried again" waiting
    rm -f "$T/tiny/filler"
    wait "$spid"
    is "once there is room, the run ends well" 0 $?
    tiny_send # the next run
    is "the delivered recipient got the message once" $((n0 + 1)) \
        "$(grep -c '^RCPT TO:<ok9@fault.test>' "$PEERS_DIR/fault/commands.log")"
    ok "the deferred recipient waits in deferred/" test -f "$SPOOL/deferred.mta01/new/FULL1"
    is "and the message is gone from send/" 0 "$(in_queue send.mta01)"
    SPOOL=$main_spool
else
    skip "a full spool after delivery" "cannot mount a tmpfs (needs root)"
fi

# --- a killed worker's claimed message is recovered by its successor ------
# (the hang peer holds the delivery; -P 2: only the parent's start ran
# recovery before, so the file waited in cur/ until the service's restart)
: >"$T/send.log"
"$SEND" -c "$T/smg.conf" --gateway mta01 --watch -P 2 --log stderr 2>>"$T/send.log" &
wpid=$!
at_exit "kill -9 $wpid 2>/dev/null"
spool_msg send.mta01 K1 a@cust.test y@hang.test
in_cur() { [ -f "$SPOOL/send.mta01/cur/K1" ]; }
eventually 50 in_cur
ok "K1 claimed by a worker" in_cur
holder=""
for pid in $(pgrep -P "$wpid"); do
    [ -n "$(find "/proc/$pid/fd" -lname "*/send.mta01/cur/K1" 2>/dev/null)" ] && holder=$pid
done
ok "found the worker holding it" test -n "$holder"
kill -9 "$holder"
left_cur() { ! in_cur; }
eventually 100 left_cur
ok "the replacement worker recovered it from cur/" left_cur
like "recovery is logged" 'send.mta01: 1 message\(s\) of a dead worker recovered' "$(cat "$T/send.log")"
kill -TERM "$wpid"
wait "$wpid" 2>/dev/null

# --- held mail expires while send/ is busy --------------------------------
# (a feeder keeps send/ from ever being empty; the hold scan used to wait
# for a round with nothing to deliver)
old=$(date -u -d '21 days ago' +%Y-%m-%dT%H:%M:%SZ)
ARRIVAL=$old spool_msg hold HX1 a@cust.test x@fault.test \
    "Delivery: attempts=1 gateway=mta01 last=\"TLS is required\" held=$old"
unset ARRIVAL
: >"$T/send.log"
(for i in $(seq 1 400); do spool_msg send.mta01 "BUSY$i" a@cust.test "ok$i@fault.test"; done) &
feeder=$!
at_exit "kill $feeder 2>/dev/null"
sleep 0.3
"$SEND" -c "$T/smg.conf" --gateway mta01 --watch --log stderr 2>>"$T/send.log" &
wpid=$!
at_exit "kill -9 $wpid 2>/dev/null"
expired() { grep -q 'HX1: to=<x@fault.test>, .*status=bounced' "$T/send.log"; }
# busy_after - whether a busy message was delivered after HX1 bounced
busy_after() { sed -n '/HX1: to=.*status=bounced/,$p' "$T/send.log" | grep -q 'BUSY.*status=sent'; }
eventually 300 expired
ok "an expired held message bounces" expired
eventually 100 busy_after
ok "while send/ is still busy (not once it is empty)" busy_after
kill -TERM "$wpid" "$feeder" 2>/dev/null
wait "$wpid" "$feeder" 2>/dev/null

done_testing
