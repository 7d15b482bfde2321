#!/bin/bash
# 5000-route-pools.t - smg-route sends ham to the good pool and spam, virus,
# the mail of a customer whose recent mail was mostly spam (smg-check's
# spamstats file) and bad-origin reports to the bad one, spreads over a
# pool's gateways,
# skips a gateway that smg-blcheck's state file reports listed, explains
# its decision, prints the SPF record (quoted TXT strings, canonical
# addresses, each once) and refuses a bad config.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/send.sh"

ROUTE="$SMG_BIN/smg-route"
gw_conf </dev/null

spool_msg route HAM1 a@cust.test x@rcpt.test "Customer: c1" "Spam: verdict=ham score=0.1 threshold=5.0"
spool_msg route SPAM1 a@cust.test x@rcpt.test "Customer: c1" "Spam: verdict=spam score=9.0 threshold=5.0"
spool_msg route VIR1 a@cust.test x@rcpt.test "Customer: c2" "Spam: verdict=ham score=0" "Virus: verdict=infected name=Eicar"
spool_msg route NDR1 '<>' a@cust.test "Route: pool=bad gateway=mta03 reason=spam"

"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>"$T/route.log"
is "spool run exits 0" 0 $?
is "route queue empty" 0 "$(in_queue route)"
is "nothing in cur" 0 "$(count_files "$SPOOL/route/cur")"
ok "spam file is in send.mta03" test -f "$SPOOL/send.mta03/new/SPAM1"
ok "virus-flagged mail in send.mta03" test -f "$SPOOL/send.mta03/new/VIR1"
ok "report about bad-pool mail in send.mta03" test -f "$SPOOL/send.mta03/new/NDR1"
ham=$(ls "$SPOOL"/send.mta0[12]/new/HAM1 2>/dev/null)
ok "ham in a good gateway's queue" test -n "$ham"
is "SMG-Route of spam" "pool=bad gateway=mta03 reason=spam" "$(field SMG-Route "$SPOOL/send.mta03/new/SPAM1")"
is "SMG-Route of the virus" "pool=bad gateway=mta03 reason=virus" "$(field SMG-Route "$SPOOL/send.mta03/new/VIR1")"
is "SMG-Route of the report (replaced, one field)" 1 "$(grep -c '^SMG-Route:' "$SPOOL/send.mta03/new/NDR1")"
like "SMG-Route of ham" '^pool=good gateway=mta0[12] reason=ham$' "$(field SMG-Route "$ham")"
like "log line" 'SPAM1: pool=bad, gateway=mta03, reason=spam, status=passed, queue=send.mta03' "$(cat "$T/route.log")"
like "body kept" '^\.leading dot line$' "$(cat "$ham")"

# the queues of a gateway taken out of the configuration have no smg-send:
# a spool run moves their messages (a dead worker's in cur/ too) to route/
# and routes them through a gateway there is
spool_msg deferred.mta99 ORPH1 a@cust.test x@rcpt.test "Customer: c1" \
    "Spam: verdict=ham score=0.1 threshold=5.0" "Route: pool=good gateway=mta99 reason=ham" \
    'Delivery: attempts=2 gateway=mta99 last="421 busy"'
touch -d @1893456000 "$SPOOL/deferred.mta99/new/ORPH1" # its next attempt, years ahead
spool_msg send.mta98 ORPH2 a@cust.test x@rcpt.test "Customer: c1" "Spam: verdict=spam score=9.0 threshold=5.0"
mv "$SPOOL/send.mta98/new/ORPH2" "$SPOOL/send.mta98/cur/ORPH2"
spool_msg send.mta01 KEEP1 a@cust.test x@rcpt.test "Customer: c1" "Spam: verdict=ham score=0.1 threshold=5.0"
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>"$T/route.log"
is "spool run with queues of removed gateways exits 0" 0 $?
ok "deferred mail of a removed gateway goes through a good gateway" \
    test -n "$(ls "$SPOOL"/send.mta0[12]/new/ORPH1 2>/dev/null)"
ok "mail of a removed gateway's send queue (in cur/) is routed anew: spam, mta03" \
    test -f "$SPOOL/send.mta03/new/ORPH2"
is "nothing left in their queues" 0 \
    "$(find "$SPOOL/deferred.mta99" "$SPOOL/send.mta98" -type f | wc -l)"
ok "mail of a configured gateway stays" test -f "$SPOOL/send.mta01/new/KEEP1"
like "the move is logged" 'ORPH1: queue=deferred.mta99, status=rerouted, reason=gateway mta99 is not in the configuration' \
    "$(cat "$T/route.log")"

# customer mail (smg-recv wrote SMG-Client) that skipped smg-scan or
# smg-check, or carries a verdict smg-route does not know, never leaves
# from the good pool as if it were clean
CLIENT="Client: addr=10.0.0.1 helo=app.cust.test tls=none auth=c1"
spool_msg route CHK1 a@cust.test x@rcpt.test "$CLIENT" "Customer: c1" \
    "Spam: verdict=ham score=0.1 threshold=5.0" "Virus: verdict=clean engine=ClamAV/1 signatures=1"
spool_msg route NOSCAN1 a@cust.test x@rcpt.test "$CLIENT" "Customer: c1" "Spam: verdict=ham score=0.1 threshold=5.0"
spool_msg route NOCHECK1 a@cust.test x@rcpt.test "$CLIENT" "Customer: c1" "Virus: verdict=clean engine=ClamAV/1 signatures=1"
spool_msg route ODD1 a@cust.test x@rcpt.test "$CLIENT" "Customer: c1" \
    "Spam: score=0.1 threshold=5.0" "Virus: verdict=clean engine=ClamAV/1 signatures=1"
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>"$T/unchecked.log"
is "checked customer mail: good pool" 1 "$(ls "$SPOOL"/send.mta0[12]/new/CHK1 2>/dev/null | wc -l)"
ok "customer mail without SMG-Virus: bad pool" test -f "$SPOOL/send.mta03/new/NOSCAN1"
ok "customer mail without SMG-Spam: bad pool" test -f "$SPOOL/send.mta03/new/NOCHECK1"
ok "SMG-Spam without a verdict: bad pool" test -f "$SPOOL/send.mta03/new/ODD1"
like "logged as unchecked" 'NOSCAN1: pool=bad, gateway=mta03, reason=unchecked' "$(cat "$T/unchecked.log")"
is "SMG-Route says unchecked" "pool=bad gateway=mta03 reason=unchecked" \
    "$(field SMG-Route "$SPOOL/send.mta03/new/NOCHECK1")"

# spread: 40 ham messages land on both good gateways, none on the bad one
for i in $(seq 10 49); do
    spool_msg route "SPREAD$i" a@cust.test x@rcpt.test "Spam: verdict=ham score=0"
done
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.log"
n1=$(ls "$SPOOL/send.mta01/new" | grep -c SPREAD)
n2=$(ls "$SPOOL/send.mta02/new" | grep -c SPREAD)
is "40 ham messages all in the good pool" 40 $((n1 + n2))
ok "both good gateways used ($n1, $n2)" test "$n1" -gt 5 -a "$n2" -gt 5
is "none in the bad pool" 0 "$(ls "$SPOOL/send.mta03/new" | grep -c SPREAD)"

# a customer whose recent mail smg-check found mostly spam: all to the bad pool
mkdir -p "$T/state/spamstats"
hour=$(( $(date +%s) / 3600 * 3600 ))
printf '# smg spamstats 1: hour-start ham spam\n%s 5 25\n' "$hour" >"$T/state/spamstats/c9"
spool_msg route RATIO1 a@cust.test x@rcpt.test "Customer: c9" "Spam: verdict=ham score=0.1 threshold=5.0"
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.log"
ok "spamming customer's ham goes to the bad pool" test -f "$SPOOL/send.mta03/new/RATIO1"
like "logged with the reason" 'RATIO1: pool=bad, gateway=mta03, reason=customer-ratio' "$(cat "$T/route.log")"

# a listed gateway is skipped while the other is clean
mkdir -p "$T/state/blacklist"
printf 'status=listed\nchecked=2026-11-22T05:00:00Z\naddress=127.0.0.2\nzones=bl.test\n' \
    >"$T/state/blacklist/mta01"
printf 'status=clean\nchecked=2026-11-22T05:00:00Z\n' >"$T/state/blacklist/mta02"
for i in $(seq 50 69); do
    spool_msg route "LISTED$i" a@cust.test x@rcpt.test "Spam: verdict=ham score=0"
done
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.log"
is "listed mta01 gets none" 0 "$(ls "$SPOOL/send.mta01/new" | grep -c LISTED)"
is "clean mta02 gets all 20" 20 "$(ls "$SPOOL/send.mta02/new" | grep -c LISTED)"

# --explain says why, changes nothing
spool_msg route EXPL1 a@cust.test x@rcpt.test "Customer: c1" "Spam: verdict=ham score=0.1 threshold=5.0"
out=$("$ROUTE" -c "$T/smg.conf" --explain <"$SPOOL/route/new/EXPL1")
is "explain exits 0" 0 $?
like "explain: listed gateway skipped" 'gateway mta01: listed \(bl.test, checked 2026-11-22T05:00:00Z\), skipped' "$out"
like "explain: clean gateway" 'gateway mta02: clean' "$out"
like "explain: decision" '^decision: pool=good gateway=mta02 reason=ham queue=send.mta02$' "$out"
like "explain: customer line" '^customer: c1, spam ratio' "$out"
ok "explain left the message where it was" test -f "$SPOOL/route/new/EXPL1"
rm -f "$SPOOL/route/new/EXPL1"

# filter mode: the message with SMG-Route on stdout
out=$(printf 'Subject: bare\n\nbody\n' | "$ROUTE" -c "$T/smg.conf" --log stderr 2>/dev/null)
like "filter mode adds SMG-Route" '^SMG-Route: pool=good gateway=mta02 reason=ham$' "$out"
like "filter mode keeps the message" '^Subject: bare$' "$out"

# --spf: one quoted TXT string for a short record, nothing on stderr
out=$("$ROUTE" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "--spf" '"v=spf1 ip4:127.0.0.2 ip4:127.0.0.4 ip4:127.0.0.3 -all"' "$out"
is "--spf: short record, no warning" "" "$(cat "$T/spf.err")"

# a record, or an explanation, that did not reach standard output (a full
# disk, as /dev/full) is an I/O error, not a success with nothing written
"$ROUTE" -c "$T/smg.conf" --spf >/dev/full 2>"$T/spf.err"
is "--spf to a full disk: exit 74" 74 $?
like "--spf to a full disk: says so" '^smg-route: fatal: cannot write standard output: No space left on device$' "$(cat "$T/spf.err")"
printf 'Subject: bare\n\nbody\n' | "$ROUTE" -c "$T/smg.conf" --explain >/dev/full 2>"$T/spf.err"
is "--explain to a full disk: exit 74" 74 $?
"$ROUTE" -c "$T/smg.conf" --explain <"$T" >/dev/null 2>"$T/spf.err"
is "--explain from an unreadable stdin (a folder): exit 74" 74 $?
printf 'Subject: bare\n\nbody\n' | "$ROUTE" -c "$T/smg.conf" --log stderr >/dev/full 2>/dev/null
is "filter mode to a full disk: exit 74" 74 $?

# --spf: a gateway that hands its mail to a relay on another node is not
# listed by its bind address (receivers see the relay's), but named
gw_conf <<'EOF'
gateway mta02.relay = node2.test
EOF
out=$("$ROUTE" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "--spf with a bound relay: exit 0" 0 $?
is "--spf with a bound relay: its bind address not listed" \
    '"v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 -all"' "$out"
like "--spf with a bound relay: named on stderr" 'not listed.*: mta02 \(relay\)$' "$(cat "$T/spf.err")"
# a gateway bound to the any address leaves from an address the kernel
# picks: not listed either, and named as such; with no bind address of
# their own at all, the error names them
gw_conf <<'EOF'
gateway mta02.relay = node2.test
gateway mta01.bind = 0.0.0.0
EOF
out=$("$ROUTE" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "--spf with a bind to any address: the others listed" '"v=spf1 ip4:127.0.0.3 -all"' "$out"
like "--spf with a bind to any address: each named with its reason" \
    'not listed.*: mta01 \(bind to any address\), mta02 \(relay\)$' "$(cat "$T/spf.err")"
gw_conf <<'EOF'
gateway mta01.bind = ::
gateway mta02.relay = node2.test
gateway mta03.bind = 0.0.0.0
EOF
out=$("$ROUTE" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "--spf, no bind address of their own: exit 78" 78 $?
like "--spf, no bind address of their own: the gateways named" \
    'no \[gateway NAME\] group has a bind address of its own: mta01 \(bind to any address\), mta02 \(relay\), mta03 \(bind to any address\)$' \
    "$(cat "$T/spf.err")"
# a gateway with neither bind nor relay has no way out (smg-send refuses
# it): smg-route refuses it too, rather than route mail to a queue that
# no smg-send serves
gw_conf <<'EOF'
gateway mta01.bind = <unset>
EOF
out=$("$ROUTE" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "--spf, a gateway without bind nor relay: exit 78" 78 $?
like "--spf, a gateway without bind nor relay: named" \
    '\[gateway mta01\] has neither bind nor relay' "$(cat "$T/spf.err")"
printf 'Subject: nowhere\n\nbody\n' | "$ROUTE" -c "$T/smg.conf" --log stderr >/dev/null 2>"$T/nobind.err"
is "a pooled gateway without bind nor relay: exit 78" 78 $?
like "a pooled gateway without bind nor relay: named" \
    '\[gateway mta01\] has neither bind nor relay' "$(cat "$T/nobind.err")"
gw_conf </dev/null

# --spf with many IPv6 gateways, some spelt twice: canonical, once each,
# quoted strings of at most 255 bytes, a warning over 450 bytes
{
    echo "gateway mta01.bind = 2001:DB8::1"
    echo "gateway mta02.bind = 2001:db8:0:0:0:0:0:1"
    echo "gateway mta03.bind = 2001:0db8::0001"
    for i in $(seq 10 39); do
        echo "gateway v6$i.bind = 2001:db8:${i}::${i}:cafe"
    done
} | gw_conf
out=$("$ROUTE" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "--spf long: exit 0" 0 $?
spf_check() {
    printf '%s' "$out" | $PY3 -c '
import re, sys
line = sys.stdin.read()
parts = re.findall(r"\"([^\"]*)\"", line)
assert " ".join("\"%s\"" % p for p in parts) == line, "not quoted strings: " + line
rec = "".join(parts)
print(eval(sys.argv[1]))' "$1"
}
is "--spf long: several strings" True "$(spf_check 'len(parts) > 1')"
is "--spf long: each at most 255 bytes" True "$(spf_check 'all(len(p) <= 255 for p in parts)')"
is "--spf long: cut after spaces, between addresses" True \
    "$(spf_check 'all(p.endswith(" ") for p in parts[:-1])')"
is "--spf long: the strings join into the record" True \
    "$(spf_check 'rec.startswith("v=spf1 ip6:2001:db8::1 ip6:2001:db8:10::10:cafe ") and rec.endswith(" -all")')"
is "--spf long: 2001:DB8::1 and its other spellings once, lower case" 1 \
    "$(spf_check 'rec.split().count("ip6:2001:db8::1")')"
is "--spf long: every address" 31 "$(spf_check 'len(rec.split()) - 2')"
like "--spf long: warning over 450 bytes" \
    '^smg-route: warning: the SPF record is [0-9]+ bytes, over 450' "$(cat "$T/spf.err")"
gw_conf </dev/null

# a bad config exits 78 before touching the spool
spool_msg route CONF1 a@cust.test x@rcpt.test
gw_conf <<'EOF'
route.bad = mta09
EOF
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>"$T/err.log"
is "unknown gateway in a pool: exit 78" 78 $?
like "the error names the key" '\[route\] bad: no \[gateway mta09\] group' "$(cat "$T/err.log")"
ok "message untouched" test -f "$SPOOL/route/new/CONF1"
gw_conf <<'EOF'
route.customer_spam_ratio = 2
EOF
"$ROUTE" -c "$T/smg.conf" --spool --log stderr 2>"$T/err.log"
is "ratio out of range: exit 78" 78 $?

done_testing
