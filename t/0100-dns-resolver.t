#!/bin/bash
# 0100-dns-resolver.t - lib/dns against a real unbound on 127.0.0.1.
#
# Every case of the sender-domain check (MX, A-only, AAAA-only, NXDOMAIN,
# no data, null MX, CNAMEs, time-out, SERVFAIL and a referral from a
# server that is no resolver are temporary), MX order,
# TXT, the TCP retry of a truncated reply, falling over to the next server,
# and, through t/lib/dnsspoof.py, that forged replies (wrong ID, wrong
# question, QR clear, garbage, another source port) are ignored although
# they arrive before the true answer, which a naive client would not do.
#
# SPDX-License-Identifier: MIT

. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"

[ -x "$SMG_DNSQ" ] || bail "$SMG_DNSQ is not built (make check builds it)"
start_dns

# check_domain DESC NAME OUTPUT EXIT - the domain check of NAME
check_domain() {
    out=$(dnsq -t 3000 -a 1 domain "$2")
    rc=$?
    is "domain check: $1" "$3" "$out"
    is "domain check: $1: exit $4" "$4" "$rc"
}

check_domain "MX domain" mx.test "ok mx" 0
check_domain "A only" a-only.test "ok a" 0
check_domain "AAAA only" aaaa-only.test "ok aaaa" 0
check_domain "NXDOMAIN" nx.test "none nxdomain" 1
check_domain "name without MX, A or AAAA" txt-only.test \
    "none no mx, a or aaaa" 1
check_domain "null MX (with an A too)" nullmx.test "nullmx null mx" 1
check_domain "CNAME to an MX domain" cname.test "ok mx" 0
check_domain "CNAME to an A-only domain" cname-a.test "ok a" 0
check_domain "CNAME to nothing" cname-nx.test "none nxdomain" 1
check_domain "upper case and final dot" MX.Test. "ok mx" 0

# time-out: the client's own, not unbound's, and never "none"
start=$(date +%s%N)
out=$(dnsq -t 1000 -a 1 domain x.timeout.test)
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
is "time-out is a temporary failure" \
    "tempfail: 4.4.3 DNS lookup of x.timeout.test timed out" "$out"
is "time-out exits 75" 75 "$rc"
diag "the 1000 ms time-out took $ms ms"
ok "time-out ends with the client's time-out (well under 10 s)" \
    [ "$ms" -lt 10000 ]
dnsq -d -t 300 -a 3 A y.timeout.test >/dev/null 2>"$T/attempts.err"
is "three attempts, three waits" 3 \
    "$(grep -c 'no reply from' "$T/attempts.err")"

# SERVFAIL: temporary, with the server named
out=$(dnsq -t 3000 -a 1 domain servfail.test)
rc=$?
is "SERVFAIL is a temporary failure" \
    "tempfail: 4.4.3 DNS lookup of servfail.test failed:\
 SERVFAIL from $DNS_SERVER" "$out"
is "SERVFAIL exits 75" 75 "$rc"

# a silent and a refusing server first: the next server answers
out=$("$SMG_DNSQ" -s "127.0.0.1:$DNS_SILENT_PORT" \
    -s "127.0.0.1:$DNS_REFUSE_PORT" -s "$DNS_SERVER" -t 500 -a 1 \
    domain mx.test)
is "a dead and a refusing server are passed over" "ok mx" "$out"

# a server that is no resolver (authoritative only, or not recursing for
# us) refers every query to the root: no answer, RA and AA clear.  That
# says nothing about the name: never "none" (a 550 5.1.8 for every sender)
out=$("$SMG_DNSQ" -s "127.0.0.1:$DNS_REFERRAL_PORT" -t 500 -a 1 domain mx.test)
rc=$?
is "a referral is a temporary failure, not NODATA" \
    "tempfail: 4.4.3 DNS lookup of mx.test failed: NOERROR without an answer\
 from 127.0.0.1:$DNS_REFERRAL_PORT, which is not a recursive resolver (RA and\
 AA clear)" "$out"
is "a referral exits 75" 75 "$rc"
is "a referral: no records, no rcode" "tempfail" \
    "$("$SMG_DNSQ" -s "127.0.0.1:$DNS_REFERRAL_PORT" -t 500 -a 1 addrs a-only.test | cut -d: -f1)"
out=$("$SMG_DNSQ" -s "127.0.0.1:$DNS_REFERRAL_PORT" -s "$DNS_SERVER" -t 500 -a 1 \
    domain nx.test)
is "a referring server is passed over for the next" "none nxdomain" "$out"

# raw answers
out=$(dnsq MX cname.test)
S='[[:space:]]+'
is "raw MX through a CNAME: rcode" "rcode NOERROR" \
    "$(printf '%s\n' "$out" | head -n 1)"
like "raw MX through a CNAME: the chain" \
    "^cname\.test\.${S}[0-9]+${S}IN${S}CNAME${S}mx\.test\.$" "$out"
like "raw MX through a CNAME: the MX" \
    "^mx\.test\.${S}[0-9]+${S}IN${S}MX${S}10 mail\.mx\.test\.$" "$out"
is "raw NXDOMAIN" "rcode NXDOMAIN" "$(dnsq A nx.test)"
is "raw no data" "rcode NOERROR" "$(dnsq AAAA a-only.test)"

# MX order: by preference, the two 10s in either order
seen_a1=0
seen_a2=0
order_ok=yes
for i in $(seq 1 24); do
    out=$(dnsq mx multi.test | sed 's/\.multi\.test$//' | tr '\n' ' ')
    case "$out" in
        "rcode NOERROR 10 a1 10 a2 20 b 30 c ") seen_a1=$((seen_a1 + 1)) ;;
        "rcode NOERROR 10 a2 10 a1 20 b 30 c ") seen_a2=$((seen_a2 + 1)) ;;
        *) order_ok="no: $out" ;;
    esac
done
is "MX records sorted by preference" yes "$order_ok"
ok "equal preferences in random order (a1 first $seen_a1, a2 first $seen_a2)" \
    [ "$seen_a1" -gt 0 -a "$seen_a2" -gt 0 ]
is "MX of a CNAME" "rcode NOERROR
10 mail.mx.test
20 backup.mx.test" "$(dnsq mx cname.test)"
is "null MX as one '.' host" "rcode NOERROR
0 ." "$(dnsq mx nullmx.test)"
is "MX of NXDOMAIN: empty" "rcode NXDOMAIN" "$(dnsq mx nx.test)"

# TXT, addresses, DNSBL
is "TXT strings joined, records apart" "rcode NOERROR
second record
v=spf1 ip4:127.0.0.1 -all" "$(dnsq txt txt.test | sort)"
is "A and AAAA" "rcode NOERROR
127.0.0.1
::1" "$(dnsq addrs mail.mx.test)"
is "AAAA only" "rcode NOERROR
::1" "$(dnsq addrs aaaa-only.test)"
is "addrs of NXDOMAIN" "rcode NXDOMAIN" "$(dnsq addrs nx.test)"
is "IPv4 first: no AAAA query when there is an A" "rcode NOERROR
127.0.0.1" "$(dnsq addrs4 mail.mx.test)"
is "IPv6 first: no A query when there is an AAAA" "rcode NOERROR
::1" "$(dnsq addrs6 mail.mx.test)"
is "IPv4 first, no A: the AAAA, to tell an IPv6-only host" "rcode NOERROR
::1" "$(dnsq addrs4 aaaa-only.test)"
is "an AAAA lookup that times out does not hide the A" "rcode NOERROR
127.0.0.20" "$(dnsq -t 500 addrs 127-0-0-20.aaaa-silent.test)"
like "every lookup failing fails" '^tempfail: ' "$(dnsq -t 500 addrs x.timeout.test)"
# straight to the stub's server (unbound, once an A query timed out, may
# not ask it again at once): it answers AAAA for v6only.…, never A
halfq() { "$SMG_DNSQ" -s "127.0.0.1:$DNS_HALF_PORT" -t 500 "$@"; }
is "an A lookup that times out does not hide the AAAA" "rcode NOERROR
::1" "$(halfq addrs v6only.aaaa-silent.test)"
like "but an IPv4 sender's own lookup failing fails, whatever AAAA says" '^tempfail: ' \
    "$(halfq addrs4 v6only.aaaa-silent.test)"
is "an IPv6 sender asks AAAA first and has it" "rcode NOERROR
::1" "$(halfq addrs6 v6only.aaaa-silent.test)"
is "DNSBL: listed" "rcode NOERROR
127.0.0.2" "$(dnsq a 2.0.0.127.bl.test)"
is "DNSBL: listed, TXT" "rcode NOERROR
listed for testing" "$(dnsq txt 2.0.0.127.bl.test)"
is "DNSBL: not listed" "rcode NXDOMAIN" "$(dnsq a 3.0.0.127.bl.test)"

# a reply too big for UDP: retried over TCP
out=$(dnsq -d TXT big.test 2>"$T/big.err")
is "truncated reply: all 8 TXT records over TCP" 8 \
    "$(printf '%s\n' "$out" | grep -c 'IN[[:space:]]*TXT')"
like "the TCP retry is logged" \
    "truncated reply from $DNS_SERVER for big.test/TXT, retrying over TCP" \
    "$(cat "$T/big.err")"

# bad names fail before any lookup
out=$(dnsq domain 'a..b')
rc=$?
like "a bad name is a permanent failure" "^permfail: 5\.1\.2 " "$out"
is "a bad name exits 65" 65 "$rc"

# forged replies
start_dnsspoof
out=$($PY3 "$DNSSPOOF" probe --port "$SPOOF_PORT" --name mx.test --type 15 \
    --first)
is "a naive client takes the first, forged datagram" "rcode=3 ancount=0" "$out"
out=$("$SMG_DNSQ" -d -s "127.0.0.1:$SPOOF_PORT" -t 3000 -a 1 domain mx.test \
    2>"$T/spoof.err")
rc=$?
is "through the forging proxy: the true answer" "ok mx" "$out"
is "through the forging proxy: exit 0" 0 "$rc"
err=$(cat "$T/spoof.err")
for why in wrong-id wrong-question not-response malformed; do
    like "forged reply ignored: $why" \
        "ignored datagram from 127\.0\.0\.1:$SPOOF_PORT for mx\.test: $why" \
        "$err"
done
is "both forged questions ignored" 2 \
    "$(grep -c 'for mx\.test: wrong-question' "$T/spoof.err")"
# the proxy's log: query 2 is smg-dnsq's (1 was the naive probe)
log2=$(grep '^2 ' "$SPOOF_LOG")
diag "proxy log of smg-dnsq's query:" "$log2"
is "the forged replies were sent before the true one" \
    "wrong-id wrong-name wrong-type not-response garbage other-port relay" \
    "$(printf '%s\n' "$log2" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')"
like "the relayed answer is NOERROR" "^2 relay mx\.test\. rcode=0$" "$log2"
out=$("$SMG_DNSQ" -s "127.0.0.1:$SPOOF_PORT" -t 3000 -a 1 a 2.0.0.127.bl.test)
is "through the proxy: the true A record" "rcode NOERROR
127.0.0.2" "$out"
out=$("$SMG_DNSQ" -s "127.0.0.1:$SPOOF_PORT" -t 3000 -a 1 domain a-only.test)
is "through the proxy: MX no data, then A" "ok a" "$out"

done_testing
