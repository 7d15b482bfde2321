#!/bin/bash
# 7020-blcheck-removal.t - removal requests: a real HTTP server on loopback
# (t/data/blcheck-httpd.py) receives the configured request (method, URL
# and body templates filled and escaped, header lines); the result is in
# the state and the mail; it is made once; a provider that answers 500 is
# recorded and retried on the next run until it succeeds; a list with a
# manual form gets the prefilled link in the mail; a JSON body stays valid
# UTF-8 when the TXT reason is not; a run killed after its mail went does
# not make its requests again.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/data/blcheck-lib.sh"

start_dns "$srcdir/t/data/blcheck-lists.zone"

HTTP_LOG="$T/http.log"
HTTP_FAIL="$T/http.fail"
: >"$HTTP_LOG"
$PY3 "$srcdir/t/data/blcheck-httpd.py" "$T/http.port" "$HTTP_LOG" "$HTTP_FAIL" \
    >"$T/httpd.out" 2>&1 &
httpd_pid=$!
at_exit "kill $httpd_pid"
eventually 100 test -s "$T/http.port"
HTTP_PORT=$(cat "$T/http.port" 2>/dev/null)
[ -n "$HTTP_PORT" ] || bail "the HTTP server did not start: $(cat "$T/httpd.out")"

conf() {
    blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = bl.test
domain_zones = dbl.test
notify = ops@example.net
state_file = $T/state/$1.state
[dnsbl bl.test]
provider = Test BL
removal_url = http://127.0.0.1:$HTTP_PORT/remove?ip={ip}&zone={zone}&gw={gateway}
removal_method = POST
removal_body = {"ip": "{ip}", "gateway": "{gateway}", "reason": "{reason}", "helo": "{helo}"}
removal_headers = Content-Type: application/json | X-Api-Key: s3cret-key
[dnsbl dbl.test]
removal_form = https://dbl.example/removal?name={subject}&ip={ip}
EOF
}

# requests: the nth line of the server's log as JSON, field by expression
req() {
    sed -n "$1p" "$HTTP_LOG" | $PY3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print(eval(sys.argv[1]))' "$2"
}
nreq() { wc -l <"$HTTP_LOG" | tr -d ' '; }

# --- a new listing: one request per listed address ----------------------------
conf one
blcheck
is "listed: exit 1" 1 "$RC"
is "two requests (mta01's IPv4, mta02's IPv6)" 2 "$(nreq)"
line=$(grep -n 'gw=mta01' "$HTTP_LOG" | head -1 | cut -d: -f1)
is "method POST" POST "$(req "$line" 'r["method"]')"
is "URL: path and query filled in" "/remove?ip=192.0.2.1&zone=bl.test&gw=mta01" \
    "$(req "$line" 'r["path"]')"
is "body: JSON filled in and escaped" \
    "192.0.2.1|mta01|192.0.2.1 listed: spam trap hits, see https://bl.test/q?ip=192.0.2.1|mta01.example.net" \
    "$(req "$line" '"|".join(json.loads(r["body"])[k] for k in ("ip", "gateway", "reason", "helo"))')"
is "header: Content-Type" "application/json" "$(req "$line" 'r["headers"]["content-type"]')"
is "header: X-Api-Key" "s3cret-key" "$(req "$line" 'r["headers"]["x-api-key"]')"
like "header: User-Agent" '^smg-blcheck/' "$(req "$line" 'r["headers"]["user-agent"]')"
line6=$(grep -n 'gw=mta02' "$HTTP_LOG" | head -1 | cut -d: -f1)
is "IPv6 address percent-encoded in the URL" "/remove?ip=2001%3Adb8%3A%3A25&zone=bl.test&gw=mta02" \
    "$(req "$line6" 'r["path"]')"
state=$(cat "$T/state/one.state")
like "state: removal sent" '^removal=sent$' "$state"
like "state: the result" "^removal_detail=POST http://127\.0\.0\.1:$HTTP_PORT/remove: HTTP 200$" "$state"
like "state: one attempt" '^removal_attempts=1$' "$state"
mail=$(cat "$(newest_mail)")
like "mail: provider named" '^  list:     bl\.test \(Test BL\)$' "$mail"
like "mail: the request made and its result" "^  removal:  requested: POST http://127\.0\.0\.1:$HTTP_PORT/remove: HTTP 200$" "$mail"
like "mail: the manual form, prefilled" '^  removal:  by hand: open https://dbl\.example/removal\?name=mta01\.example\.net&ip=192\.0\.2\.1$' "$mail"
unlike "mail: no secret header" 's3cret' "$mail"
unlike "mail: no query string of the request (may hold keys)" 'remove\?ip' "$mail"
like "log: removal logged" 'gateway=mta01, address=192\.0\.2\.1, zone=bl\.test, removal=sent, attempt=1, result=POST' "$LOG"
unlike "log: no secret header" 's3cret' "$(cat "$T/blcheck.log")"

blcheck
is "next run: no second request" 2 "$(nreq)"

# --- a provider that fails: recorded, retried next run -------------------------
: >"$HTTP_LOG"
touch "$HTTP_FAIL"
conf two
blcheck
is "failing provider: exit 1 (listed)" 1 "$RC"
is "failing provider: the requests were made" 2 "$(nreq)"
state=$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/p' "$T/state/two.state")
like "state: removal failed" '^removal=failed$' "$state"
like "state: HTTP 500 recorded" 'HTTP 500$' "$state"
mail=$(cat "$(newest_mail)")
like "mail: the failure, to be retried" '^  removal:  FAILED \(attempt 1\): POST .*: HTTP 500; retried on the next run$' "$mail"
like "log: failure logged" 'removal=failed, attempt=1, result=POST .*HTTP 500' "$LOG"

blcheck
is "still failing: retried" 4 "$(nreq)"
like "state: second attempt" '^removal_attempts=2$' \
    "$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/p' "$T/state/two.state")"
nmail=$(mails)

rm -f "$HTTP_FAIL"
blcheck
is "provider back: retried once more" 6 "$(nreq)"
state=$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/p' "$T/state/two.state")
like "state: removal sent at last" '^removal=sent$' "$state"
like "state: third attempt" '^removal_attempts=3$' "$state"
is "no new mail for a retried request" "$nmail" "$(mails)"

blcheck
is "done: no more requests" 6 "$(nreq)"

# --- a provider that cannot be reached -------------------------------------------
dead_port=$(free_port)
blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = bl.test
notify = ops@example.net
state_file = $T/state/three.state
[dnsbl bl.test]
removal_url = http://127.0.0.1:$dead_port/remove/{ip}
EOF
blcheck
is "unreachable provider: exit 1 (listed)" 1 "$RC"
like "state: connection failure recorded" \
    "^removal_detail=4\.4\.1 GET http://127\.0\.0\.1:$dead_port/remove/192\.0\.2\.1: " \
    "$(cat "$T/state/three.state")"

# --- a dry run makes no request --------------------------------------------------
: >"$HTTP_LOG"
conf four
blcheck --dry-run
is "dry run: no request" 0 "$(nreq)"

# --- removal_requests = no: nothing sent, the mail says so ----------------------
blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = bl.test
notify = ops@example.net
state_file = $T/state/five.state
removal_requests = no
[dnsbl bl.test]
removal_url = http://127.0.0.1:$HTTP_PORT/remove/{ip}
EOF
blcheck
is "removal_requests = no: no request" 0 "$(nreq)"
like "removal_requests = no: said in the mail" 'removal:  not requested \(removal_requests = no\)' \
    "$(cat "$(newest_mail)")"

# --- a reason that is not UTF-8: the JSON body is valid UTF-8 all the same -----
: >"$HTTP_LOG"
blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = utf8.test
state_file = $T/state/six.state
[dnsbl utf8.test]
removal_url = http://127.0.0.1:$HTTP_PORT/remove
removal_body = {"ip": "{ip}", "reason": "{reason}"}
removal_headers = Content-Type: application/json
EOF
blcheck
is "bad TXT bytes: one request" 1 "$(nreq)"
is "JSON body sent as valid UTF-8" True "$(req 1 'r["body_utf8"]')"
is "JSON body: each bad byte is U+FFFD" 'M\ufffdller \ufffd listed' \
    "$(req 1 'json.loads(r["body"])["reason"].encode("unicode_escape").decode()')"


# --- killed after the mail went, before the state was written ------------------
# a sendmail that takes the mail and then kills smg-blcheck (SIGKILL: a
# crash, a reboot): the removal requests made must not be made again on
# the next run; the mail may come again (at least once, never lost)
: >"$HTTP_LOG"
cat >"$T/sendmail-kill" <<EOF
#!/bin/sh
cat >>"$T/killed.msg"
kill -9 \$PPID
EOF
cat >"$T/sendmail-ok" <<EOF
#!/bin/sh
cat >>"$T/ok.msg"
EOF
chmod +x "$T/sendmail-kill" "$T/sendmail-ok"
crash_conf() {
    blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = bl.test
notify = ops@example.net
sendmail = $1
state_file = $T/state/seven.state
[dnsbl bl.test]
removal_url = http://127.0.0.1:$HTTP_PORT/remove?ip={ip}
EOF
}
crash_conf "$T/sendmail-kill"
blcheck
is "killed after the mail: killed (SIGKILL)" 137 "$RC"
is "killed after the mail: two requests made" 2 "$(nreq)"
like "killed after the mail: the mail went" '^Subject: smg-blcheck: 2 new listings' "$(cat "$T/killed.msg")"
ok "killed after the mail: the requests made are in the state" \
    grep -q '^removal=sent$' "$T/state/seven.state"
since1=$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/s/^since=//p' "$T/state/seven.state")
crash_conf "$T/sendmail-ok"
sleep 1 # a later second, so that a renewed "since" would show
blcheck
is "next run: exit 1 (listed)" 1 "$RC"
is "next run: no request made again" 2 "$(nreq)"
is "next run: since kept" "$since1" \
    "$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/s/^since=//p' "$T/state/seven.state")"
like "next run: the mail comes again (at least once)" '^Subject: smg-blcheck: 2 new listings' "$(cat "$T/ok.msg")"
like "next run: the request made is in the mail" 'removal:  requested: GET http' "$(cat "$T/ok.msg")"
rm -f "$T/ok.msg"
blcheck
ok "then: told once" test ! -e "$T/ok.msg"

# --- two gateways on one address, a list named twice: one request -----------
# a list delists an address: mta04 shares mta01's 192.0.2.1, so the one
# request made for it stands for both gateways, on this run and the next
: >"$HTTP_LOG"
blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = bl.test BL.test
notify = ops@example.net
state_file = $T/state/eight.state
[dnsbl bl.test]
removal_url = http://127.0.0.1:$HTTP_PORT/remove?ip={ip}&gw={gateway}
[gateway mta04]
bind = 192.0.2.1 192.0.2.1
helo = mta04.example.net
EOF
blcheck
is "shared address: exit 1 (listed)" 1 "$RC"
is "shared address: one request for 192.0.2.1, one for mta02's" 2 "$(nreq)"
is "shared address: 192.0.2.1 asked for once" 1 "$(grep -c 'ip=192\.0\.2\.1&' "$HTTP_LOG")"
like "shared address: the other gateway's entry has the request's result" '^removal=sent$' \
    "$(sed -n '/^\[mta04 192.0.2.1 bl.test\]/,/^$/p' "$T/state/eight.state")"
like "shared address: logged as shared" 'zone=bl\.test, removal=sent, shared=' "$LOG"
like "a list named twice: checked once, and said" 'BL\.test is listed twice; checked once' "$LOG"
like "a list named twice, an address bound twice: four lookups, three listings" \
    'checked=4, listed=3,' "$LOG"
blcheck
is "shared address: next run makes none again" 2 "$(nreq)"

# --- the same address written two ways: one request -------------------------
# mta05's 2001:DB8:0::25 is mta02's 2001:db8::25, and mta06's HELO name in
# capitals is mta01's: a list delists the address (the name), not a
# spelling of it; an address bound twice in two spellings is looked up once
: >"$HTTP_LOG"
blcheck_conf "$DNS_PORT" <<EOF
[blcheck]
zones = bl.test
domain_zones = dbl.test
notify = ops@example.net
state_file = $T/state/nine.state
[dnsbl bl.test]
removal_url = http://127.0.0.1:$HTTP_PORT/remove?ip={ip}&gw={gateway}
[dnsbl dbl.test]
removal_url = http://127.0.0.1:$HTTP_PORT/remove?name={subject}&gw={gateway}
[gateway mta05]
bind = 2001:DB8:0::25 [2001:db8::25]
[gateway mta06]
bind = 192.0.2.3
helo = MTA01.example.net
EOF
blcheck
is "two spellings: exit 1 (listed)" 1 "$RC"
is "two spellings: one request per address and name" 3 "$(nreq)"
is "two spellings: the IPv6 address asked for once" 1 "$(grep -ci 'ip=2001%3adb8' "$HTTP_LOG")"
is "two spellings: the HELO name asked for once" 1 "$(grep -ci 'name=mta01\.example\.net&' "$HTTP_LOG")"
like "two spellings: an address bound twice is looked up once" \
    'gateway=mta05, address=2001:DB8:0::25, zone=bl\.test, removal=sent, shared=mta02' "$LOG"
unlike "  ... not under its second spelling" 'gateway=mta05, address=2001:db8::25' "$LOG"
like "  ... and said" '\[gateway mta05\] bind: 2001:db8::25 is listed twice; checked once' "$LOG"

# --- the state cannot be saved: no request goes, so none goes twice ----------
# Each request is marked in the state on disk (removal=pending) before it
# is sent; when that fails (here: the temporary file's name is taken by a
# folder), the run sends none, and a later run that can save sends each
# once.
conf savefail
mkdir "$T/state/savefail.state.tmp"
before=$(nreq)
blcheck
is "state not savable: exit 75" 75 "$RC"
is "  ... no removal request sent" "$before" "$(nreq)"
like "  ... the log says why" 'removal=not sent \(the state cannot be saved first' "$LOG"
blcheck
is "  ... nor on the next run that cannot save" "$before" "$(nreq)"
rmdir "$T/state/savefail.state.tmp"
blcheck
is "state savable again: the requests go, once each" "$((before + 2))" "$(nreq)"
like "  ... recorded as sent" '^removal=sent$' "$(cat "$T/state/savefail.state")"
like "  ... after one attempt" '^removal_attempts=1$' "$(cat "$T/state/savefail.state")"
blcheck
is "  ... and not again" "$((before + 2))" "$(nreq)"

# a request marked pending by a run that died before its result was
# recorded is not sent again, and the mail says to check with the list
sed -i 's/^removal=sent$/removal=pending/' "$T/state/savefail.state"
blcheck
is "pending request: not sent again" "$((before + 2))" "$(nreq)"

done_testing
