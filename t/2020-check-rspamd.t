#!/bin/bash
# 2020-check-rspamd.t - the rspamd backend: a peer that accepts and never
# answers makes smg-check time out and fall back to its built-in scorers
# (the mail is scored, not failed); a peer that answers as rspamd does is
# merged into the score or used alone, and receives the envelope in
# rspamd's request headers; a refused connection also falls back; a
# rspamd_url that is not http(s) is a config error (exit 78).
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/data/check-lib.sh"

# start_peer MODE ARGS... - start check-rspamd.py; sets PEER_PORT
start_peer() {
    pf="$T/peer.$1.port"
    rm -f "$pf"
    $PY3 "$srcdir/t/data/check-rspamd.py" "$1" "$pf" "${@:2}" >"$T/peer.$1.log" 2>&1 &
    peer_pid=$!
    at_exit "kill $peer_pid"
    eventually 100 test -s "$pf"
    [ -s "$pf" ] || bail "the $1 peer did not start: $(cat "$T/peer.$1.log")"
    PEER_PORT=$(cat "$pf")
}

# time-out: the built-in verdict stands
start_peer silent
write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
rspamd_timeout = 1
EOF2
msg gtube >"$T/gtube.eml"
RC=0
"$CHECK" -c "$T/smg.conf" --log stderr <"$T/gtube.eml" >"$T/out" 2>"$T/err" || RC=$?
is "silent rspamd, GTUBE: still spam (exit 1)" 1 "$RC"
like "built-in verdict, no RSPAMD test" '^SMG-Spam: verdict=spam .*tests=GTUBE$' "$(head -n 1 "$T/out")"
like "the time-out is logged" 'rspamd failed, using the built-in score: 4\.4\.2 rspamd .* timed out after 1000 ms' \
    "$(cat "$T/err")"
like "the log line notes rspamd=timeout" '-: verdict=spam.*rspamd=timeout' "$(cat "$T/err")"

# spool mode: a time-out never holds the mail
enqueue R1 ham
: >"$T/check.log"
run_check --spool
is "spool with silent rspamd: exit 0" 0 "$RC"
is "R1 passed to scan/new" "scan/new/R1" "$(places R1)"
like "R1: log line with rspamd=timeout" 'R1: verdict=ham.*rspamd=timeout.*status=passed, queue=scan' \
    "$(cat "$T/check.log")"

# a refused connection: same fallback
port=$(free_port)
write_conf <<EOF2
rspamd_url = http://127.0.0.1:$port/checkv2
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" --log stderr <"$T/gtube.eml" >"$T/out" 2>"$T/err" || RC=$?
is "refused rspamd: exit 1 from the built-in verdict" 1 "$RC"
like "refused rspamd: logged as an error" 'rspamd=error' "$(cat "$T/err")"

# a URL that is no http or https URL is a config error at start, not an
# "rspamd=error" on every message while rspamd is never asked
write_conf <<EOF2
rspamd_url = 127.0.0.1:11333
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" --log stderr <"$T/gtube.eml" >"$T/out" 2>"$T/err" || RC=$?
is "rspamd_url without a scheme: exit 78" 78 "$RC"
like "rspamd_url without a scheme: file and key told" \
    'fatal: 4\.3\.5 .*smg\.conf: \[check\] rspamd_url 127\.0\.0\.1:11333: not an http or https URL' \
    "$(cat "$T/err")"
enqueue R0 ham
RC=0
"$CHECK" -c "$T/smg.conf" --log stderr --spool >/dev/null 2>&1 || RC=$?
is "spool mode: exit 78 before touching the spool" "78 check/new/R0" "$RC $(places R0)"

# an answering rspamd, merged
start_peer answer 4.5 "$T/requests.log"
write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
EOF2
enqueue R2 ham
: >"$T/check.log"
run_check --spool
is "merged: exit 0" 0 "$RC"
like "merged: rspamd's 4.5 added to ours" '^SMG-Spam: verdict=ham score=4\.50 threshold=5\.00 tests=RSPAMD$' \
    "$(grep '^SMG-Spam' "$SPOOL/scan/new/R2")"
like "the request carried the envelope" \
    '^POST /checkv2 HTTP/1\.1 from=bounce@work\.test rcpt=someone@example\.net ip=192\.0\.2\.10 helo=app\.work\.test queue=R2 user=cust1 size=[0-9]+$' \
    "$(tail -n 1 "$T/requests.log")"
is "the message went without the SMG-* fields" "$(msg ham | wc -c)" \
    "$(tail -n 1 "$T/requests.log" | sed 's/.*size=//')"
write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
rspamd_weight = 2
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/gtube.eml" >"$T/out" 2>/dev/null || RC=$?
like "merged with weight 2: 1000 + 9" '^SMG-Spam: verdict=spam score=1009\.00 .*tests=GTUBE,RSPAMD$' \
    "$(head -n 1 "$T/out")"

# GTUBE stays spam whatever rspamd says: a score of -2000 (merged or
# alone) must not let the operators' test string pass as ham
start_peer answer -2000 "$T/requests2.log"
for mode in merge only; do
    write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
rspamd_mode = $mode
EOF2
    RC=0
    "$CHECK" -c "$T/smg.conf" <"$T/gtube.eml" >"$T/out" 2>/dev/null || RC=$?
    is "rspamd -2000 ($mode), GTUBE: still spam (exit 1)" 1 "$RC"
    like "rspamd -2000 ($mode): verdict spam, the score as it is" \
        '^SMG-Spam: verdict=spam score=-[0-9.]+ .*GTUBE' "$(head -n 1 "$T/out")"
done

# rspamd alone
start_peer answer 4.5 "$T/requests.log"
msg spam >"$T/spam.eml"
write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
rspamd_mode = only
local_rules = $T/pushy.rules
EOF2
printf 'body PUSHY 20 /casino/\n' >"$T/pushy.rules"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/spam.eml" >"$T/out" 2>/dev/null || RC=$?
is "rspamd only: our rules do not count (exit 0)" 0 "$RC"
like "rspamd only: its score alone" '^SMG-Spam: verdict=ham score=4\.50 ' "$(head -n 1 "$T/out")"
done_testing
