#!/bin/bash
# 6030-send-dane.t - the dane TLS level of smg-send against a validating
# unbound serving a signed test root: a matching DANE-EE (3 1 1) record
# and a matching DANE-TA (2 0 1) record authenticate the receiver; a
# mismatching record makes TLS fail (reject: NDR, nothing delivered); a
# TLSA record in a zone that is not validated is ignored (opportunistic
# TLS), as is the absence of TLSA records.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/dnssec.sh"
. "$srcdir/t/lib/send.sh"
. "$srcdir/t/lib/peers.sh"

SEND="$SMG_BIN/smg-send"

make_cert dane mx-dane.test mx-danebad.test mx-daneta.test mx.insecure.test mx-danenone.test
# the server sends its chain up to the CA, as DANE-TA(2) needs
cat "$T/certs/dane.pem" "$T/certs/ca.pem" >"$T/certs/danechain.pem"
cp "$T/certs/dane.key" "$T/certs/danechain.key"
ee=$(tlsa_of dane)
ta=$(openssl x509 -in "$T/certs/ca.pem" -outform DER | openssl dgst -sha256 -binary \
    | od -An -tx1 | tr -d ' \n')
peer_port
start_mta dane 127.0.0.50 tls danechain
P=$PEER_PORT
cat >"$T/zone" <<EOF
dane.test. MX 10 mx-dane.test.
mx-dane.test. A 127.0.0.50
_$P._tcp.mx-dane.test. TLSA $ee
danebad.test. MX 10 mx-danebad.test.
mx-danebad.test. A 127.0.0.50
_$P._tcp.mx-danebad.test. TLSA 3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
daneta.test. MX 10 mx-daneta.test.
mx-daneta.test. A 127.0.0.50
_$P._tcp.mx-daneta.test. TLSA 2 0 1 $ta
danenone.test. MX 10 mx-danenone.test.
mx-danenone.test. A 127.0.0.50
insecure.test. MX 10 mx.insecure.test.
mx.insecure.test. A 127.0.0.50
_$P._tcp.mx.insecure.test. TLSA 3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
EOF
start_dns_signed "$T/zone" insecure.test
cat >"$T/tls_policy" <<'EOF'
*  dane.test      dane  reject
*  danebad.test   dane  reject
*  daneta.test    dane  reject
*  danenone.test  dane  reject
*  insecure.test  dane  reject
EOF
gw_conf <<EOF
send.tls_policy = $T/tls_policy
send.bounce_queue = sign
EOF

spool_msg send.mta01 EE1 a@cust.test x@dane.test
spool_msg send.mta01 BAD1 a@cust.test x@danebad.test
spool_msg send.mta01 TA1 a@cust.test x@daneta.test
spool_msg send.mta01 NONE1 a@cust.test x@danenone.test
spool_msg send.mta01 INS1 a@cust.test x@insecure.test
"$SEND" -c "$T/smg.conf" --gateway mta01 --spool --log stderr 2>"$T/send.log"
is "exit 0" 0 $?
log=$(cat "$T/send.log")
like "DANE-EE match: sent, authenticated by DANE" 'EE1: to=<x@dane.test>, relay=mx-dane.test\[127.0.0.50\]:[0-9]+, .*tls=TLSv1\.[23]/dane, dsn=2.0.0, status=sent' "$log"
like "DANE-TA match: sent, authenticated by DANE" 'TA1: to=<x@daneta.test>, .*tls=TLSv1\.[23]/dane, dsn=2.0.0, status=sent' "$log"
like "mismatch: TLS fails, bounced (reject)" 'BAD1: to=<x@danebad.test>, .*dsn=5.7.10, status=bounced \(TLS could not be established with mx-danebad.test\[127.0.0.50\]:[0-9]+: no TLSA record of mx-danebad.test matched its certificate' "$log"
ok "mismatch: NDR" test -f "$SPOOL/sign/new/BAD1N1"
like "mismatch: the NDR says TLS could not be established" 'TLS could not be established' "$(cat "$SPOOL/sign/new/BAD1N1")"
like "no TLSA: opportunistic TLS" 'NONE1: to=<x@danenone.test>, .*tls=TLSv1\.[23]/untrusted, dsn=2.0.0, status=sent' "$log"
like "unvalidated TLSA ignored: opportunistic TLS" 'INS1: to=<x@insecure.test>, .*tls=TLSv1\.[23]/untrusted, dsn=2.0.0, status=sent' "$log"
is "the receiver got four (not the mismatching one)" 4 "$(received dane)"
is "no message for danebad reached the receiver" 0 "$(grep -l '^X-Rcpt-To: x@danebad.test' "$PEERS_DIR"/dane/*.eml 2>/dev/null | wc -l | tr -d ' ')"
for f in "$PEERS_DIR"/dane/*.eml; do
    [ "$(field X-TLS "$f")" = none ] && diag "clear text: $f"
done
is "every delivery used TLS" 0 "$(grep -l '^X-TLS: none' "$PEERS_DIR"/dane/*.eml | wc -l | tr -d ' ')"
is "queues empty" 0 "$(($(in_queue send.mta01) + $(in_queue deferred.mta01)))"

done_testing
