#!/bin/bash
# 7000-blcheck-lookup.t - smg-blcheck looks the gateways up in DNSBLs served
# by a real unbound and reads the answers as RFC 5782 says: listings with
# their TXT reason (IPv4, IPv6 nibbles, HELO names in a domain list), the
# test points, error codes and time-outs as errors, per-list code meanings;
# the table, --json, exit codes, --dry-run and config errors.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/data/blcheck-lib.sh"

start_dns "$srcdir/t/data/blcheck-lists.zone"

# listings: IPv4 with TXT, IPv6, a HELO name; a list that lists nothing
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test ok.test
domain_zones = dbl.test
notify = ops@example.net
EOF
blcheck --dry-run
is "listed: exit 1" 1 "$RC"
like "table header" '^GATEWAY +ADDRESS +ZONE +STATUS +SINCE +REASON' "$OUT"
like "IPv4 listing with its TXT reason" \
    '^mta01 +192\.0\.2\.1 +bl\.test +new +[0-9T:-]+Z +192\.0\.2\.1 listed: spam trap hits' "$OUT"
like "IPv6 listing (nibble format)" \
    '^mta02 +2001:db8::25 +bl\.test +new +.*IPv6 2001:db8::25 listed' "$OUT"
like "HELO name listed in the domain list" \
    '^mta01 +mta01\.example\.net +dbl\.test +new +.*helo name mta01\.example\.net listed' "$OUT"
unlike "the clean gateway is not in the table" 'mta03' "$OUT"
unlike "the list that lists nothing is not in the table" 'ok\.test' "$OUT"
is "dry run: no state file" no "$(test -e "$T/state/blcheck.state" && echo yes || echo no)"
is "dry run: no listed state for smg-route" no "$(test -e "$T/state/blacklist" && echo yes || echo no)"
is "dry run: no mail" 0 "$(mails)"
like "log: summary line" 'smg-blcheck\[[0-9]+\]: checked=[0-9]+, listed=3, new=3, cleared=0, errors=0, dry-run' "$LOG"
like "log: one line per listing" 'gateway=mta02, address=2001:db8::25, zone=bl\.test, status=new, reason=IPv6' "$LOG"

# --json: every result, the clean ones too
blcheck --dry-run --json
is "json: exit 1" 1 "$RC"
is "json: exit in the object" 1 "$(json_get 'j["exit"]')"
is "json: listed count" 3 "$(json_get 'j["listed"]')"
is "json: mta01 on bl.test listed with code 127.0.0.2" "new 127.0.0.2" \
    "$(json_get '[r["status"] + " " + r["answer"] for r in j["results"] if r["gateway"] == "mta01" and r["zone"] == "bl.test"][0]')"
is "json: mta02's IPv6 answer 127.0.0.3" "127.0.0.3" \
    "$(json_get '[r["answer"] for r in j["results"] if r["subject"] == "2001:db8::25" and r["zone"] == "bl.test"][0]')"
is "json: mta03 is clean everywhere" "clean clean clean" \
    "$(json_get '" ".join(r["status"] for r in j["results"] if r["gateway"] == "mta03")')"
is "json: HELO lookups are of kind name" "name" \
    "$(json_get '[r["kind"] for r in j["results"] if r["zone"] == "dbl.test"][0]')"
is "json: test points passed" "None None" \
    "$(json_get '" ".join(str(z["error"]) for z in j["zones"] if z["kind"] == "ip")')"

# --json is valid UTF-8 even when a TXT reason is not (Latin-1 bytes)
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = utf8.test
EOF
blcheck --dry-run --json
is "bad TXT bytes: exit 1" 1 "$RC"
is "json: valid UTF-8 throughout" ok \
    "$(printf '%s' "$OUT" | $PY3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8"); print("ok")' 2>&1 | tail -1)"
is "json: each bad byte of the reason is U+FFFD" 'M\ufffdller \ufffd listed' \
    "$(json_get '[r["reason"] for r in j["results"] if r["gateway"] == "mta01"][0].encode("unicode_escape").decode()')"

# the RFC 5782 test points as gateways: 127.0.0.2 listed, 127.0.0.1 not
blcheck_conf "$DNS_PORT" <<'EOF'
[gateway tp2]
bind = 127.0.0.2
[gateway tp1]
bind = 127.0.0.1
[blcheck]
zones = bl.test
EOF
blcheck --dry-run --json
is "test point 127.0.0.2 is listed" "new test point" \
    "$(json_get '[r["status"] + " " + r["reason"] for r in j["results"] if r["gateway"] == "tp2"][0]')"
is "test point 127.0.0.1 is not" "clean" \
    "$(json_get '[r["status"] for r in j["results"] if r["gateway"] == "tp1"][0]')"

# an error answer (127.255.255.254) is an error, not a listing: exit 75
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = err.test
test_points = no
EOF
blcheck --dry-run
is "error code: exit 75" 75 "$RC"
like "error code in the table" '^mta01 +192\.0\.2\.1 +err\.test +error +- +4\.4\.3 err\.test answered 127\.255\.255\.254: an error code, not a listing' "$OUT"
blcheck --dry-run --json
is "error code: nothing listed" 0 "$(json_get 'j["listed"]')"
is "error code: every lookup failed" 3 "$(json_get 'j["errors"]')"

# the same list with test points: the zone fails as a whole
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = err.test
EOF
blcheck --dry-run
is "error code at the test point: exit 75" 75 "$RC"
like "the zone's test point failure is shown" '^- +127\.0\.0\.2 +err\.test +error +- +test point 127\.0\.0\.2: 4\.4\.3 err\.test answered 127\.255\.255\.254' "$OUT"
like "log: test point failure" 'zone=err\.test, test_points=failed' "$LOG"

# a list that does not list 127.0.0.2 (dead), one that lists 127.0.0.1 (wildcard)
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = dead.test wild.test
EOF
blcheck --dry-run --json
is "dead and wildcard lists: exit 75" 75 "$RC"
like "dead list found by its test point" 'does not list its test point 127\.0\.0\.2' \
    "$(json_get '[z["error"] for z in j["zones"] if z["zone"] == "dead.test"][0]')"
like "wildcard list found by its test point" 'lists 127\.0\.0\.1' \
    "$(json_get '[z["error"] for z in j["zones"] if z["zone"] == "wild.test"][0]')"
is "their results are errors, not listings" "0 6" "$(json_get 'str(j["listed"]) + " " + str(j["errors"])')"

# a list that times out
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.timeout.test
test_points = no
parallel = 3
EOF
blcheck --dry-run
is "time-out: exit 75" 75 "$RC"
like "time-out is an error" '^mta02 +2001:db8::25 +bl\.timeout\.test +error +- +4\.4\.3 DNS lookup of .*bl\.timeout\.test timed out' "$OUT"

# listed somewhere and failing elsewhere: listed wins (exit 1)
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test err.test
test_points = no
EOF
blcheck --dry-run
is "listed and errors: exit 1" 1 "$RC"

# per-list return code meanings
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test
[dnsbl bl.test]
codes = 127.0.0.3=ignore 127.0.0.2=listed:SBL
EOF
blcheck --dry-run --json
is "127.0.0.3 ignored: mta02 clean" "clean" \
    "$(json_get '[r["status"] for r in j["results"] if r["gateway"] == "mta02"][0]')"
is "127.0.0.2 still a listing" "new" \
    "$(json_get '[r["status"] for r in j["results"] if r["gateway"] == "mta01"][0]')"
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test
test_points = no
[dnsbl bl.test]
codes = 127.0.0.2-127.0.0.3=error
EOF
blcheck --dry-run
is "codes configured as errors: exit 75" 75 "$RC"

# all clean: exit 0 and nothing printed (cron mails only when there is news)
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = ok.test
EOF
blcheck --dry-run
is "all clean: exit 0" 0 "$RC"
is "all clean: nothing on stdout" "" "$OUT"
blcheck --dry-run -v
like "-v: the clean rows too" '^mta03 +192\.0\.2\.3 +ok\.test +clean' "$OUT"

# config errors: exit 78 before any lookup
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test
[dnsbl bl.test]
codes = 127.0.0.2=maybe
EOF
blcheck --dry-run
is "bad code rule: exit 78" 78 "$RC"
like "bad code rule: named" '\[dnsbl bl\.test\] codes: bad return code rule "127\.0\.0\.2=maybe"' "$LOG"
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test
[dnsbl bl.test]
removal_url = http://127.0.0.1:1/x?ip={ipaddr}
EOF
blcheck --dry-run
is "unknown placeholder: exit 78" 78 "$RC"
like "unknown placeholder: named" 'unknown placeholder \{ipaddr\}' "$LOG"
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test
[gateway bad]
bind = mta.example.net
EOF
blcheck --dry-run
is "bind that is no IP: exit 78" 78 "$RC"
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
notify = ops@example.net
EOF
blcheck --dry-run
is "no zones: exit 78" 78 "$RC"
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = bl.test
parallel = 0
EOF
blcheck --dry-run
is "parallel out of range: exit 78" 78 "$RC"
# a bad operator address is found at start, not on the day of a listing
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = ok.test
notify = ops@example.net ops-at-example.net
EOF
blcheck --dry-run
is "bad notify address: exit 78 (nothing listed)" 78 "$RC"
like "  ... named with the key" '\[blcheck\] notify: "ops-at-example\.net"' "$LOG"
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = ok.test
notify = ops@example.net
sender = bl check@example.net
EOF
blcheck --dry-run
is "bad sender address: exit 78" 78 "$RC"
like "  ... named with the key" '\[blcheck\] sender: "bl check@example\.net"' "$LOG"

"$BLCHECK" --bogus >/dev/null 2>&1
is "bad option: exit 64" 64 "$?"

# the 05:00 schedule: crontab line, systemd timer and its service
cron="$srcdir/cron"
like "crontab: 05:00 daily as root" '^0 5 \* \* \* root /usr/sbin/smg-blcheck ' \
    "$(grep -v '^#' "$cron/smg-blcheck.cron")"
like "timer: OnCalendar 05:00" '^OnCalendar=\*-\*-\* 05:00:00$' "$(cat "$cron/smg-blcheck.timer")"
like "timer: Persistent" '^Persistent=true$' "$(cat "$cron/smg-blcheck.timer")"
like "timer: starts the service" '^Unit=smg-blcheck\.service$' "$(cat "$cron/smg-blcheck.timer")"
like "service: one-shot run of smg-blcheck" '^ExecStart=/usr/sbin/smg-blcheck ' \
    "$(cat "$cron/smg-blcheck.service")"
like "service: a one-shot" '^Type=oneshot$' "$(cat "$cron/smg-blcheck.service")"

# a gateway with nothing to look up (only a relay, no helo) gets no state
# for smg-route: not "clean, checked now", and not one left from an older
# config that gave it an address
mkdir -p "$T/state/blacklist"
printf 'status=listed\nchecked=2026-01-01T05:00:00Z\naddress=192.0.2.9\nzones=bl.test\n' \
    >"$T/state/blacklist/relay1"
blcheck_conf "$DNS_PORT" <<'EOF'
[gateway relay1]
relay = [192.0.2.50]:25
[blcheck]
zones = bl.test
EOF
blcheck
is "relay-only gateway: its old state removed" no \
    "$(test -e "$T/state/blacklist/relay1" && echo yes || echo no)"
like "  ... and logged as unchecked" 'gateway=relay1, status=unchecked \(nothing of it to look up\), its old state removed' "$LOG"
like "  ... while the others are written" '^status=listed$' "$(cat "$T/state/blacklist/mta01")"
blcheck
is "  ... and the next run writes none for it" no \
    "$(test -e "$T/state/blacklist/relay1" && echo yes || echo no)"

# a gateway bound to any address (0.0.0.0, ::) sends from an address the
# kernel picks: 0.0.0.0 is not looked up, and no "clean, checked now" is
# written for it (as smg-route --spf skips it)
blcheck_conf "$DNS_PORT" <<'EOF'
[gateway any4]
bind = 0.0.0.0
[gateway any6]
bind = [0:0::0]
[blcheck]
zones = bl.test
EOF
blcheck --json
is "bind to any address: no state for smg-route (IPv4)" no \
    "$(test -e "$T/state/blacklist/any4" && echo yes || echo no)"
is "  ... nor for :: (IPv6, in brackets)" no \
    "$(test -e "$T/state/blacklist/any6" && echo yes || echo no)"
is "  ... nothing of them in the results" 0 \
    "$(json_get 'len([r for r in j["results"] if r["gateway"] in ("any4", "any6")])')"
like "  ... logged as not looked up" '\[gateway any4\] bind: 0\.0\.0\.0 is any address' "$LOG"
like "  ... and as unchecked" 'gateway=any6, status=unchecked' "$LOG"

# a relay gateway's mail reaches receivers from the relay host: its bind
# (only the way there, as smg-route --spf takes it) is not looked up, and
# no "clean, checked now" is written for smg-route from a lookup of it
blcheck_conf "$DNS_PORT" <<'EOF'
[gateway relay2]
bind = 192.0.2.1
relay = [192.0.2.50]:25
[blcheck]
zones = bl.test
EOF
blcheck --json
is "relay gateway with a bind: its bind not looked up" 0 \
    "$(json_get 'len([r for r in j["results"] if r["gateway"] == "relay2"])')"
is "  ... no state for smg-route" no \
    "$(test -e "$T/state/blacklist/relay2" && echo yes || echo no)"
like "  ... logged as not looked up" '\[gateway relay2\] bind: 192\.0\.2\.1 only reaches the relay \[192\.0\.2\.50\]:25' "$LOG"
like "  ... and as unchecked" 'gateway=relay2, status=unchecked' "$LOG"

# an IPv4-mapped IPv6 bind (::ffff:a.b.c.d) sends from its IPv4 address,
# which is what an IP list lists: it is looked up as that (not as 32
# nibbles, which no list answers), and the same address written both ways
# is checked once
blcheck_conf "$DNS_PORT" <<'EOF'
[gateway mapped]
bind = [::ffff:192.0.2.1]
[gateway both]
bind = ::FFFF:192.0.2.3 192.0.2.3
[blcheck]
zones = bl.test
EOF
blcheck --dry-run --json
is "IPv4-mapped bind: looked up as its IPv4 address, listed" "192.0.2.1 new" \
    "$(json_get '" ".join(r["subject"] + " " + r["status"] for r in j["results"] if r["gateway"] == "mapped")')"
is "  ... the same address written both ways: checked once" "192.0.2.3" \
    "$(json_get '" ".join(r["subject"] for r in j["results"] if r["gateway"] == "both")')"
like "  ... and the log says so" '\[gateway both\] bind: 192\.0\.2\.3 is listed twice' "$LOG"

# a TXT reason with terminal commands (ESC, CSI as U+009B and as a bare
# octet, DEL): the table shows each as '?', so a list cannot command the
# operator's terminal
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = ctl.test
EOF
blcheck --dry-run
is "terminal commands in a reason: listed" 1 "$RC"
like "  ... each shown as ?" '^mta01 +192\.0\.2\.1 +ctl\.test +new +.* a\?\[2Jb\?c\?d\?e listed$' "$OUT"
is "  ... no control character or bad octet in the table" ok \
    "$(printf '%s' "$OUT" | $PY3 -c '
import sys, unicodedata
t = sys.stdin.buffer.read().decode("utf-8")
bad = [c for c in t if c != "\n" and unicodedata.category(c) == "Cc"]
print("ok" if not bad else repr(bad))' 2>&1 | tail -1)"

# a helo that is an IP address or an address literal is not asked of a
# domain list, which answers it with an error code (the DBL's 127.0.1.255)
# that would show as a listing
blcheck_conf "$DNS_PORT" <<'EOF'
[gateway iphelo]
bind = 192.0.2.3
helo = 192.0.2.7
[gateway lithelo]
bind = 192.0.2.3
helo = [192.0.2.7]
[blcheck]
zones = ok.test
domain_zones = dbl.test
EOF
blcheck --dry-run --json
is "helo an IP address: not looked up in a domain list" "" \
    "$(json_get '" ".join(r["subject"] + " " + r["status"] for r in j["results"] if r["gateway"] == "iphelo" and r["zone"] == "dbl.test")')"
is "  ... nor an address literal" "" \
    "$(json_get '" ".join(r["subject"] + " " + r["status"] for r in j["results"] if r["gateway"] == "lithelo" and r["zone"] == "dbl.test")')"
is "  ... its bind still is" "192.0.2.3 clean" \
    "$(json_get '" ".join(r["subject"] + " " + r["status"] for r in j["results"] if r["gateway"] == "iphelo")')"
like "  ... and the log says so" '\[gateway iphelo\] helo: 192\.0\.2\.7 is an address, not a name' "$LOG"
is "  ... the others' helo names still are" "mta01.example.net new" \
    "$(json_get '" ".join(r["subject"] + " " + r["status"] for r in j["results"] if r["gateway"] == "mta01" and r["zone"] == "dbl.test")')"

# RFC 5782's other test points: an IPv6-only list answers ::FFFF:7F00:2
# (not 127.0.0.2) and is trusted; a domain list must not list INVALID (one
# that answers every name fails); one that does not list TEST passes, as
# Spamhaus DBL, SURBL and URIBL publish test names of their own instead
blcheck_conf "$DNS_PORT" <<'EOF'
[blcheck]
zones = v6.test
domain_zones = dbl.test dbl.nolist.test dbl.all.test
EOF
blcheck --dry-run --json
is "IPv6-only list: its IPv6 test points pass" "None" \
    "$(json_get '" ".join(str(z["error"]) for z in j["zones"] if z["zone"] == "v6.test")')"
is "  ... and its listing is one" "new" \
    "$(json_get '" ".join(r["status"] for r in j["results"] if r["zone"] == "v6.test" and r["gateway"] == "mta02")')"
is "domain list with TEST: passes" "None" \
    "$(json_get '" ".join(str(z["error"]) for z in j["zones"] if z["zone"] == "dbl.test")')"
is "domain list without TEST (as Spamhaus DBL): passes" "None" \
    "$(json_get '" ".join(str(z["error"]) for z in j["zones"] if z["zone"] == "dbl.nolist.test")')"
like "domain list that lists INVALID: fails its test point" 'lists INVALID, which RFC 5782 forbids' \
    "$(json_get '[z["error"] for z in j["zones"] if z["zone"] == "dbl.all.test"][0]')"
is "  ... its lookups are errors, not listings" "error error error" \
    "$(json_get '" ".join(r["status"] for r in j["results"] if r["zone"] == "dbl.all.test")')"
blcheck --dry-run
like "  ... the table names the test point TEST" '^- +TEST +dbl\.all\.test +error ' "$OUT"

done_testing
