#!/bin/bash
# 6020-send-tls.t - the TLS policy table of smg-send against real peers:
# may uses STARTTLS when offered and clear text otherwise; none never
# uses it; encrypt to a clear-text receiver sends nothing in clear and
# acts as the rule says (reject: an NDR saying TLS could not be
# established; hold: hold/ and a delay notice, released by an operator
# or expired into an NDR; defer: retried); verify checks the chain and
# the MX host name (a wrong name fails, also written with a trailing
# dot); a 421 to the EHLO after a
# handshake that worked is no TLS failure (deferred, not rejected); a
# relay given as an address literal is verified by the certificate's IP
# addresses.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/send.sh"
. "$srcdir/t/lib/peers.sh"

SEND="$SMG_BIN/smg-send"

make_cert tls mx-tls.test
make_cert tlsip 127.0.0.33
peer_port
start_mta tlsmta 127.0.0.30 tls tls
start_mta tlsip 127.0.0.33 tls tlsip
start_script plain 127.0.0.31 normal
start_script tls421 127.0.0.32 tls-421 10240000 tls
cat >"$T/zone" <<'EOF'
tls.test. MX 10 mx-tls.test.
verify.test. MX 10 mx-tls.test.
none.test. MX 10 mx-tls.test.
mx-tls.test. A 127.0.0.30
# the same TLS server under a name its certificate does not carry
wrong.test. MX 10 mx-wrong.test.
mx-wrong.test. A 127.0.0.30
plainmay.test. MX 10 mx-plain.test.
plain.test. MX 10 mx-plain.test.
plainhold.test. MX 10 mx-plain.test.
plaindefer.test. MX 10 mx-plain.test.
mx-plain.test. A 127.0.0.31
# nothing listens there: connection refused
dead.test. MX 10 mx-dead.test.
mx-dead.test. A 127.0.0.34
# the clear-text server with an IPv6 address too, which the IPv4-bound
# gateway cannot reach
dualhold.test. MX 10 mx-dual.test.
mx-dual.test. A 127.0.0.31
mx-dual.test. AAAA ::1
# a server that takes TLS and then answers EHLO with 421
tls421.test. MX 10 mx-tls421.test.
mx-tls421.test. A 127.0.0.32
# an MX with an IPv6 address only
v6only.test. MX 10 mx-v6.test.
v6nx.test. MX 10 mx-v6.test.
v6nx.test. MX 20 nx.v6nx.test.
mx-v6.test. AAAA ::1
# a clear-text MX beside a stale one whose name has no address
stale.test. MX 10 mx-plain.test.
stale.test. MX 20 gone.stale.test.
deadstale.test. MX 10 mx-dead.test.
deadstale.test. MX 20 gone.deadstale.test.
EOF
start_dns "$T/zone"
cat >"$T/tls_policy" <<'EOF'
# sender-domain recipient-domain level [action]
*  verify.test      verify  reject
*  wrong.test       verify  reject
*  none.test        none
*  plain.test       encrypt reject
*  plainhold.test   encrypt hold
*  dualhold.test    encrypt hold
*  plaindefer.test  encrypt
*  tls421.test      encrypt reject
*  stale.test       encrypt reject
EOF
gw_conf <<EOF
send.tls_policy = $T/tls_policy
send.tls_ca_file = $T/certs/ca.pem
send.bounce_queue = sign
EOF
send() {
    "$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr "$@" 2>>"$T/send.log"
}

# --- may, none, verify ----------------------------------------------------
spool_msg send.mta01 MAY1 a@cust.test x@tls.test
spool_msg send.mta01 MAYP a@cust.test x@plainmay.test
spool_msg send.mta01 NONE1 a@cust.test x@none.test
spool_msg send.mta01 VER1 a@cust.test x@verify.test
send
is "exit 0" 0 $?
log=$(cat "$T/send.log")
m=$(grep -l '^X-Rcpt-To: x@tls.test' "$PEERS_DIR"/tlsmta/*.eml)
like "may: STARTTLS used when offered" '^X-TLS: TLSv1\.[23]$' "$(cat "$m")"
like "may: logged with the TLS version" 'MAY1: to=<x@tls.test>, .*tls=TLSv1\.[23]/trusted, dsn=2.0.0, status=sent' "$log"
like "may: clear text when not offered" 'MAYP: to=<x@plainmay.test>, .*tls=none, dsn=2.0.0, status=sent' "$log"
m=$(grep -l '^X-Rcpt-To: x@none.test' "$PEERS_DIR"/tlsmta/*.eml)
is "none: no STARTTLS although offered" "none" "$(field X-TLS "$m")"
m=$(grep -l '^X-Rcpt-To: x@verify.test' "$PEERS_DIR"/tlsmta/*.eml)
like "verify: delivered over TLS" '^X-TLS: TLSv1\.[23]$' "$(cat "$m")"
like "verify: logged as verified" 'VER1: to=<x@verify.test>, .*tls=TLSv1\.[23]/verified, dsn=2.0.0, status=sent' "$log"

# --- verify with a wrong host name -------------------------------------
: >"$T/send.log"
n=$(received tlsmta)
spool_msg send.mta01 WRONG1 a@cust.test x@wrong.test
send
log=$(cat "$T/send.log")
is "wrong name: nothing delivered" "$n" "$(received tlsmta)"
like "wrong name: bounced (reject)" 'WRONG1: to=<x@wrong.test>, .*dsn=5.7.10, status=bounced \(TLS could not be established with mx-wrong.test\[127.0.0.30\]:[0-9]+: certificate of mx-wrong.test not verified: [Hh]ostname mismatch\)' "$log"
ok "wrong name: NDR" test -f "$SPOOL/sign/new/WRONG1N1"
like "wrong name: NDR says TLS could not be established" 'TLS could not be established' "$(cat "$SPOOL/sign/new/WRONG1N1")"

# the same domain with its root label written out is the same name to DNS
# (the MX lookup finds it), so to the policy too: it was may, and the
# envelope went to the server whose certificate does not carry the name
# (this one refuses the address; one that strips the dot, as Postfix
# does, takes the message)
: >"$T/send.log"
spool_msg send.mta01 WRONG2 a@cust.test x@wrong.test.
send
log=$(cat "$T/send.log")
is "trailing dot: nothing delivered" "$n" "$(received tlsmta)"
like "trailing dot: the rule of wrong.test applies (reject)" 'WRONG2: to=<x@wrong.test.>, .*dsn=5.7.10, status=bounced \(TLS could not be established with mx-wrong.test\[127.0.0.30\]:[0-9]+: certificate of mx-wrong.test not verified: [Hh]ostname mismatch\)' "$log"

# --- encrypt to a clear-text receiver --------------------------------------
: >"$T/send.log"
: >"$PEERS_DIR/plain/commands.log"
np=$(received plain)
spool_msg send.mta01 ENC1 a@cust.test x@plain.test
spool_msg send.mta01 HOLD1 a@cust.test "x@plainhold.test y@plainhold.test"
spool_msg send.mta01 HOLD2 a@cust.test x@dualhold.test
spool_msg send.mta01 V6ONLY a@cust.test x@v6only.test
spool_msg send.mta01 V6NX a@cust.test x@v6nx.test
spool_msg send.mta01 DEF1 a@cust.test x@plaindefer.test
send
log=$(cat "$T/send.log")
is "encrypt: nothing received by the clear-text peer" "$np" "$(received plain)"
unlike "encrypt: no MAIL FROM sent in clear" '^MAIL' "$(cat "$PEERS_DIR/plain/commands.log")"
unlike "encrypt: no RCPT TO sent in clear" '^RCPT' "$(cat "$PEERS_DIR/plain/commands.log")"
like "reject: bounced" 'ENC1: to=<x@plain.test>, .*dsn=5.7.10, status=bounced \(TLS is required, but was not offered by mx-plain.test\[127.0.0.31\]:[0-9]+\)' "$log"
ok "reject: NDR" test -f "$SPOOL/sign/new/ENC1N1"
like "reject: NDR says so" 'TLS is required, but was not offered' "$(cat "$SPOOL/sign/new/ENC1N1")"
like "reject: NDR status" '^Status: 5.7.10' "$(cat "$SPOOL/sign/new/ENC1N1")"
like "hold: logged held" 'HOLD1: to=<x@plainhold.test>, .*dsn=4.7.10, status=held \(TLS is required' "$log"
ok "hold: the message is in hold/" test -f "$SPOOL/hold/new/HOLD1"
like "hold with a dual-stack MX: the IPv6 address is not tried from IPv4" 'HOLD2: to=<x@dualhold.test>, .*dsn=4.7.10, status=held \(TLS is required' "$log"
ok "hold with a dual-stack MX: in hold/" test -f "$SPOOL/hold/new/HOLD2"
like "an IPv6-only MX is out of an IPv4 gateway's reach: deferred, not bounced" 'V6ONLY: to=<x@v6only.test>, .*dsn=4.4.4, status=deferred \(no IPv4 address for mx-v6.test\)' "$log"
like "an IPv6-only MX beside one without an address: deferred, not bounced" 'V6NX: to=<x@v6nx.test>, .*dsn=4.4.4, status=deferred' "$log"
is "hold: both recipients kept" 2 "$(grep -c '^SMG-Recipient:' "$SPOOL/hold/new/HOLD1")"
like "hold: SMG-Delivery has held=" 'held=[0-9TZ:-]+' "$(field SMG-Delivery "$SPOOL/hold/new/HOLD1")"
ok "hold: a delay notice to the sender" test -f "$SPOOL/sign/new/HOLD1H1"
like "hold: notice is a delay DSN" '^Action: delayed' "$(cat "$SPOOL/sign/new/HOLD1H1")"
like "hold: notice says it is held" 'Your message is held' "$(cat "$SPOOL/sign/new/HOLD1H1")"
like "defer: deferred" 'DEF1: to=<x@plaindefer.test>, .*dsn=4.7.10, status=deferred \(TLS is required' "$log"
ok "defer: in deferred.mta01" test -f "$SPOOL/deferred.mta01/new/DEF1"
is "nothing left in send.mta01" 0 "$(in_queue send.mta01)"

# --- an MX host without an address is skipped: the other hosts' want of
# TLS decides (the rule's reject), with the TLS reason
: >"$T/send.log"
spool_msg send.mta01 STALE1 a@cust.test x@stale.test
send
log=$(cat "$T/send.log")
like "stale MX beside a clear-text one: rejected for want of TLS" \
    'STALE1: to=<x@stale.test>, .*dsn=5.7.10, status=bounced \(TLS is required' "$log"
ok "stale MX beside a clear-text one: an NDR" test -f "$SPOOL/sign/new/STALE1N1"
ok "stale MX beside a clear-text one: not deferred" test ! -f "$SPOOL/deferred.mta01/new/STALE1"
rm -f "$SPOOL/sign/new/STALE1N1" "$SPOOL/deferred.mta01/new/STALE1"
# beside a host that refused the connection: deferred with that reason,
# not the skipped host's
spool_msg send.mta01 STALE2 a@cust.test x@deadstale.test
send
log=$(cat "$T/send.log")
like "stale MX beside a dead one: deferred with the connection's reason" \
    'STALE2: to=<x@deadstale.test>, relay=mx-dead.test.*dsn=4.4.1, status=deferred \(.*[Cc]onnection refused' "$log"
rm -f "$SPOOL/deferred.mta01/new/STALE2"

# --- TLS established, then a 421 to EHLO: no TLS failure --------------------
# the reject (or hold) of the policy is for TLS that cannot be had; a
# server that turns the client away after the handshake is a temporary
# failure like any other
: >"$T/send.log"
spool_msg send.mta01 TLS421 a@cust.test x@tls421.test
send
log=$(cat "$T/send.log")
like "421 after TLS: deferred with the server's reply" 'TLS421: to=<x@tls421.test>, .*dsn=4.3.2, status=deferred \(.*421 4.3.2 script.test Service shutting down' "$log"
unlike "421 after TLS: not bounced" 'TLS421: to=<x@tls421.test>, .*status=bounced' "$log"
ok "421 after TLS: no NDR" test ! -f "$SPOOL/sign/new/TLS421N1"
ok "421 after TLS: in deferred.mta01" test -f "$SPOOL/deferred.mta01/new/TLS421"
like "421 after TLS: STARTTLS was used" '^STARTTLS' "$(cat "$PEERS_DIR/tls421/commands.log")"
rm -f "$SPOOL/deferred.mta01/new/TLS421"

# --- hold and defer in one message: the held part is split off -------------
: >"$T/send.log"
spool_msg send.mta01 MIX1 a@cust.test "x@plainhold.test y@plaindefer.test"
send
ok "mixed: the held part in hold/ as MIX1T1" test -f "$SPOOL/hold/new/MIX1T1"
is "mixed: held part has the held recipient only" "<x@plainhold.test>" "$(field SMG-Recipient "$SPOOL/hold/new/MIX1T1")"
ok "mixed: the rest deferred as MIX1" test -f "$SPOOL/deferred.mta01/new/MIX1"
is "mixed: deferred part has the other recipient" "<y@plaindefer.test>" "$(field SMG-Recipient "$SPOOL/deferred.mta01/new/MIX1")"
is "mixed: one recipient each" 2 "$(($(grep -c '^SMG-Recipient:' "$SPOOL/hold/new/MIX1T1") + $(grep -c '^SMG-Recipient:' "$SPOOL/deferred.mta01/new/MIX1")))"
rm -f "$SPOOL/hold/new/MIX1T1" "$SPOOL/deferred.mta01/new/MIX1"

# --- hold: not expired yet, released by an operator --------------------------
send --now $(($(date +%s) + 3600))
ok "hold: still held an hour later" test -f "$SPOOL/hold/new/HOLD1"
cp "$SPOOL/hold/new/HOLD1" "$T/HOLD1.copy"
# the operator lowers the policy and releases the message
sed -i 's/^\*  plainhold.test   encrypt hold$/*  plainhold.test   may/' "$T/tls_policy"
mv "$SPOOL/hold/new/HOLD1" "$SPOOL/send.mta01/new/HOLD1"
send
is "released: delivered in clear as the new policy allows" $((np + 1)) "$(received plain)"
ok "released: hold is empty" test ! -f "$SPOOL/hold/new/HOLD1"

# --- hold: expiry into an NDR ------------------------------------------------
cp "$T/HOLD1.copy" "$SPOOL/hold/new/HOLD1"
: >"$T/send.log"
send --now $(($(date +%s) + 5 * 86400 + 60))
ok "expired: gone from hold" test ! -f "$SPOOL/hold/new/HOLD1"
ok "expired: NDR" test -f "$SPOOL/sign/new/HOLD1X"
like "expired: NDR is a failure" '^Action: failed' "$(cat "$SPOOL/sign/new/HOLD1X")"
like "expired: NDR for both" 'y@plainhold.test' "$(cat "$SPOOL/sign/new/HOLD1X")"
like "expired: logged" 'HOLD1: to=<x@plainhold.test>, .*dsn=5.7.10, status=bounced \(held for 5 days without release' "$(cat "$T/send.log")"

# held by a gateway since taken out of the configuration: no smg-send of its
# own is left, and another gateway's expires it
sed -e 's/^SMG-Queue-ID: HOLD1$/SMG-Queue-ID: GONE1/' -e 's/gateway=mta01/gateway=mta77/g' \
    "$T/HOLD1.copy" >"$SPOOL/hold/new/GONE1"
is "a held message of a removed gateway names it" 1 "$(grep -c 'gateway=mta77' "$SPOOL/hold/new/GONE1")"
send --now $(($(date +%s) + 5 * 86400 + 60))
ok "held mail of a removed gateway: expired by another gateway's smg-send" \
    test ! -f "$SPOOL/hold/new/GONE1" -a -f "$SPOOL/sign/new/GONE1X"

# a held message larger than the head smg-send reads to see whether it is
# due: kept before its time, expired after it
{ sed 's/^SMG-Queue-ID: HOLD1$/SMG-Queue-ID: BIG1/' "$T/HOLD1.copy"
  head -c 2200000 /dev/zero | tr '\0' 'x' | fold -w 76; } >"$SPOOL/hold/new/BIG1"
send --now $(($(date +%s) + 3600))
ok "a large held message: still held an hour later" test -f "$SPOOL/hold/new/BIG1"
send --now $(($(date +%s) + 5 * 86400 + 60))
ok "a large held message: expired into an NDR" \
    test ! -f "$SPOOL/hold/new/BIG1" -a -f "$SPOOL/sign/new/BIG1X"
rm -f "$SPOOL/sign/new/BIG1X"

# each part's last= (smg-queue's last error, the reason in the NDR when the
# hold expires) is its own recipients' reason, not the other part's
spool_msg send.mta01 MIX2 a@cust.test "x@dualhold.test y@dead.test"
send
ok "mixed, two reasons: split" test -f "$SPOOL/hold/new/MIX2T1" -a -f "$SPOOL/deferred.mta01/new/MIX2"
like "mixed, two reasons: the held part's last= is its TLS reason" \
    'last="4.7.10 TLS is required' "$(field SMG-Delivery "$SPOOL/hold/new/MIX2T1")"
unlike "mixed, two reasons: the deferred part's last= is not the TLS reason" \
    'TLS is required' "$(field SMG-Delivery "$SPOOL/deferred.mta01/new/MIX2")"
send --now $(($(date +%s) + 5 * 86400 + 60))
ok "mixed, two reasons: the held part expired into an NDR" test -f "$SPOOL/sign/new/MIX2T1X"
like "mixed, two reasons: the expiry NDR gives the TLS reason" \
    'held for 5 days without release; 4.7.10 TLS is required' "$(cat "$SPOOL/sign/new/MIX2T1X" 2>/dev/null)"
rm -f "$SPOOL/hold/new/MIX2T1" "$SPOOL/deferred.mta01/new/MIX2" "$SPOOL"/sign/new/MIX2*

# --- verify towards a relay given as an address literal -------------------
# the certificate names the address (an IP subjectAltName): verify checks
# the certificate's IP addresses for a literal, not its DNS names
cat >>"$T/smg.conf" <<EOF
[gateway iprelay]
relay = [127.0.0.33]:$PEER_PORT
helo = ip.test
[gateway ipwrong]
relay = [127.0.0.30]:$PEER_PORT
helo = ip.test
EOF
spool_msg send.iprelay IPV1 a@cust.test x@verify.test
"$SEND" -c "$T/smg.conf" --gateway iprelay --spool --log stderr 2>"$T/ip.log"
like "verify, literal relay whose certificate has its address: sent, verified" \
    'IPV1: to=<x@verify.test>, relay=127\.0\.0\.33\[127\.0\.0\.33\]:[0-9]+, .*tls=TLSv1\.[23]/verified, dsn=2\.0\.0, status=sent' \
    "$(cat "$T/ip.log")"
is "verify, literal relay: received" 1 "$(received tlsip)"
is "an address literal is not sent as the server name (RFC 6066 3)" "-" "$(cat "$PEERS_DIR/tlsip/sni.log")"
like "a host name is" '^mx-tls\.test$' "$(head -n 1 "$PEERS_DIR/tlsmta/sni.log")"
spool_msg send.ipwrong IPW1 a@cust.test x@verify.test
"$SEND" -c "$T/smg.conf" --gateway ipwrong --spool --log stderr 2>"$T/ipw.log"
like "verify, literal relay whose certificate has only a host name: not verified" \
    'IPW1: to=<x@verify.test>, .*dsn=5\.7\.10, status=bounced \(TLS could not be established with 127\.0\.0\.30\[127\.0\.0\.30\]:[0-9]+: certificate of 127\.0\.0\.30 not verified' \
    "$(cat "$T/ipw.log")"

# --- an operator's hold does not expire -----------------------------------
# the TLS-held copy, released and held again by an operator before smg-send
# tried it: its SMG-Delivery still says held=, but SMG-Held rules
sed '1a SMG-Held: from=send.mta01 at=2026-11-22T05:00:00Z by=operator' "$T/HOLD1.copy" \
    >"$SPOOL/hold/new/HOLD1"
rm -f "$SPOOL/sign/new/HOLD1X"
: >"$T/send.log"
send --now $(($(date +%s) + 30 * 86400))
ok "operator hold: still held 30 days on" test -f "$SPOOL/hold/new/HOLD1"
unlike "operator hold: no expiry logged" 'HOLD1: .*status=bounced' "$(cat "$T/send.log")"
ok "operator hold: no NDR" test ! -f "$SPOOL/sign/new/HOLD1X"
rm -f "$SPOOL/hold/new/HOLD1"

# --- a bad policy table is a config error ---------------------------------
printf '* bad.test sometimes\n' >"$T/bad_policy"
gw_conf <<EOF
send.tls_policy = $T/bad_policy
EOF
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool 2>"$T/err.log"
is "bad policy: exit 78" 78 $?
like "bad policy: file and line" 'bad_policy:1: unknown level' "$(cat "$T/err.log")"

done_testing
