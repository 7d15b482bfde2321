#!/bin/bash
# 2030-check-dns.t - what smg-check asks the DNS, against unbound on
# loopback: URI domains on a configured blocklist (uri_dnsbl_zones) fire
# URI_DNSBL (UTF-8 hosts in their A-label form; of many link domains a
# sample not chosen by their order); unlisted domains, error
# codes and time-outs do not (a time-out is noted in the log, the mail is
# scored all the same, and that list is not asked for the other links);
# --sender runs smg-recv's sender-domain check and tells what it found.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/data/check-lib.sh"

start_dns "$srcdir/t/data/check-dns.zone"
now=$(date -u '+%a, %d %b %Y %H:%M:%S +0000')
mail_with() {
    printf 'From: a@work.test\nTo: b@example.net\nSubject: link\nDate: %s\nMessage-ID: <l@work.test>\n\nsee %s\n' \
        "$now" "$1"
}
write_conf <<EOF2
uri_dnsbl_zones = uribl.test
EOF2
cat >>"$T/smg.conf" <<EOF2
[dns]
nameservers = $DNS_SERVER
timeout = 1
attempts = 1
EOF2

out=$(mail_with "http://www.listed.test/offer" | "$CHECK" -c "$T/smg.conf" --explain 2>/dev/null)
like "listed URI domain: URI_DNSBL fires" '3\.00  URI_DNSBL  .*\[listed\.test in uribl\.test\]' "$out"
out=$(mail_with "http://sub.deep.listed.test/x" | "$CHECK" -c "$T/smg.conf" 2>/dev/null | head -n 1)
like "a host under the listed domain fires too" 'tests=URI_DNSBL' "$out"
# a link whose name DNS cannot hold (a label over 63 octets) is skipped,
# and does not make the list count as failed for the message's other links
long=$(printf 'a%.0s' $(seq 70))
out=$(mail_with "http://$long.test/x http://www.listed.test/offer" | "$CHECK" -c "$T/smg.conf" \
    --log stderr 2>"$T/err" | head -n 1)
like "a 70-octet label before a listed link: URI_DNSBL still fires" 'tests=.*URI_DNSBL' "$out"
unlike "  ... and no tempfail is noted for the list" 'uri_dnsbl=tempfail' "$(cat "$T/err")"
out=$(mail_with "http://clean.test/x" | "$CHECK" -c "$T/smg.conf" 2>/dev/null | head -n 1)
unlike "unlisted domain: silent" 'URI_DNSBL' "$out"
out=$(mail_with "http://refused.test/x" | "$CHECK" -c "$T/smg.conf" 2>/dev/null | head -n 1)
unlike "an error code is no listing" 'URI_DNSBL' "$out"
out=$(mail_with "http://192.0.2.1/x" | "$CHECK" -c "$T/smg.conf" 2>/dev/null | head -n 1)
unlike "an IP address is not looked up in a domain list" 'URI_DNSBL' "$out"
# a UTF-8 host is looked up in the A-label form the list holds: IDNA 2008,
# or IDNA 2003 for the symbols it refuses (a browser still visits those)
out=$(mail_with "http://www.bücher.test/x" | "$CHECK" -c "$T/smg.conf" --explain 2>/dev/null)
like "UTF-8 link: its A-label is looked up" 'URI_DNSBL  .*\[xn--bcher-kva\.test in uribl\.test\]' "$out"
out=$(mail_with "http://www。listed。test/x" | "$CHECK" -c "$T/smg.conf" --explain 2>/dev/null)
like "ideographic full stops divide labels" 'URI_DNSBL  .*\[listed\.test in uribl\.test\]' "$out"
out=$(mail_with "http://i❤.test/x" | "$CHECK" -c "$T/smg.conf" --explain 2>/dev/null)
like "emoji link: looked up as IDNA 2003 names it" 'URI_DNSBL  .*\[xn--i-7iq\.test in uribl\.test\]' "$out"

# more link domains than uri_dnsbl_max (10): ten harmless links put first
# no longer hide the eleventh.  Which ten are asked is a fixed function of
# the domains (so --explain agrees with the stage); with these it includes
# listed.test, and the log says how many were left out
pad=$(for i in $(seq 10); do printf 'http://pad%d.test/x ' "$i"; done)
out=$(mail_with "${pad}http://www.listed.test/offer" | "$CHECK" -c "$T/smg.conf" --log stderr \
    2>"$T/err" | head -n 1)
like "ten harmless link domains first: the listed eleventh is still looked up" 'tests=.*URI_DNSBL' "$out"
like "  ... and the log says 10 of the 11 domains were asked" 'uri_dnsbl=10 of 11 domains' "$(cat "$T/err")"
out=$(mail_with "${pad}http://www.listed.test/offer" | "$CHECK" -c "$T/smg.conf" --explain 2>/dev/null)
like "  ... --explain chooses the same" 'URI_DNSBL  .*\[listed\.test in uribl\.test\]' "$out"

# a list that times out: scored without it, noted
write_conf <<EOF2
uri_dnsbl_zones = timeout.test uribl.test
EOF2
cat >>"$T/smg.conf" <<EOF2
[dns]
nameservers = $DNS_SERVER
timeout = 1
attempts = 1
EOF2
RC=0
mail_with "http://www.listed.test/offer" | "$CHECK" -c "$T/smg.conf" --log stderr >"$T/out" 2>"$T/err" || RC=$?
is "time-out on one list: exit 0 (scored)" 0 "$RC"
like "the other list still answers" 'tests=URI_DNSBL' "$(head -n 1 "$T/out")"
like "the time-out is noted in the log line" 'uri_dnsbl=tempfail\(listed\.test\.timeout\.test\)' "$(cat "$T/err")"
# a list that timed out is not asked again for the message's other
# domains (each lookup waited the whole time-out: 10 links, 10 time-outs);
# the lists that answer still are
RC=0
mail_with "http://clean.test/a http://www.clean2.test/b http://www.listed.test/c" \
    | "$CHECK" -c "$T/smg.conf" --log stderr >"$T/out" 2>"$T/err" || RC=$?
is "three links, a list timing out: exit 0 (scored)" 0 "$RC"
like "the list that answers is asked for every link" 'tests=URI_DNSBL' "$(head -n 1 "$T/out")"
is "the list that timed out was asked once" 1 "$(grep -o 'uri_dnsbl=tempfail([^)]*timeout\.test)' "$T/err" | wc -l)"

# --sender
sender() {
    RC=0
    "$CHECK" -c "$T/smg.conf" --sender "$1" >"$T/out" 2>&1 || RC=$?
    echo "$RC $(cat "$T/out")"
}
like "--sender MX domain" '^0 mx\.test: ok \(mx\), server 127\.0\.0\.1:[0-9]+: accepted$' "$(sender u@mx.test)"
like "--sender A-only domain" '^0 a-only\.test: ok \(a\)' "$(sender u@a-only.test)"
like "--sender NXDOMAIN" '^1 nxdomain\.test: none \(nxdomain\).*550 5\.1\.8 Sender Domain must resolve$' \
    "$(sender u@nxdomain.test)"
like "--sender null MX" '^1 nullmx\.test: nullmx \(null mx\)' "$(sender u@nullmx.test)"
like "--sender null MX beside another MX: a null MX, as smg-send takes it" \
    '^1 mixednull\.test: nullmx \(null mx\)' "$(sender u@mixednull.test)"
like "--sender no MX, A or AAAA" '^1 txt-only\.test: none' "$(sender u@txt-only.test)"
like "--sender time-out: 451, exit 75" '^75 x\.timeout\.test: 4\.4\.3 .*451 4\.4\.3' "$(sender u@x.timeout.test)"
like "--sender null sender" '^0 <>: null sender' "$(sender '<>')"
like "--sender address literal" '^0 \[192\.0\.2\.1\]: address literal' "$(sender 'u@[192.0.2.1]')"
like "--sender not an address" '^64 .*not an address' "$(sender nobody)"
like "--sender UTF-8 domain: its A-labels looked up, both shown" \
    '^0 bücher\.test \(xn--bcher-kva\.test\): ok \(mx\)' "$(sender u@bücher.test)"
like "--sender a name IDNA 2008 refuses: 501 5.1.7, as smg-recv" \
    '^1 a☃b\.test: not a valid domain name .*: refused with 501 5\.1\.7$' "$(sender u@a☃b.test)"
sed 's/^nameservers = .*/nameservers = 127.0.0.1:notaport/' "$T/smg.conf" >"$T/bad.conf"
RC=0
"$CHECK" -c "$T/bad.conf" --sender u@mx.test >"$T/out" 2>"$T/err" || RC=$?
is "--sender with a bad [dns] nameservers: exit 78 (config), not 75" 78 "$RC"
like "--sender with a bad [dns] nameservers: the error names the key" \
    'smg-check: .*bad\.conf: \[dns\] nameservers: bad DNS server address' "$(cat "$T/err")"
is "--sender with a bad [dns] nameservers: no '451' claimed" "" "$(grep -c 451 "$T/out" "$T/err" | grep -v ':0$')"
done_testing
