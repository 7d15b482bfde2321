#!/bin/bash
# 2010-check-spool.t - smg-check in spool mode: every message from
# check/new ends in scan/new, exactly there, with its SMG-Spam verdict and
# its envelope; a log line per message; the customer's counters in
# STATE_DIR/spamstats count ham and spam; a malformed envelope goes to
# corrupt/; a corrupt Bayes database stops the run (exit 78) with the
# messages left in check/new; a leftover in check/cur is recovered.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/data/check-lib.sh"

write_conf </dev/null
enqueue S1 gtube
enqueue S2 ham
enqueue S3 html
run_check --spool
is "spool run: exit 0" 0 "$RC"
for id in S1 S2 S3; do
    is "$id: in scan/new only" "scan/new/$id" "$(places "$id")"
done
is "check/new and check/cur are empty" "0 0" \
    "$(count_files "$SPOOL/check/new") $(count_files "$SPOOL/check/cur")"
like "S1: spam verdict in the envelope" '^SMG-Spam: verdict=spam score=[0-9.]+ threshold=5\.00 tests=GTUBE' \
    "$(grep '^SMG-Spam' "$SPOOL/scan/new/S1")"
like "S2: ham verdict" '^SMG-Spam: verdict=ham ' "$(grep '^SMG-Spam' "$SPOOL/scan/new/S2")"
is "S1: envelope kept in order" "SMG-Queue-ID: S1|SMG-Sender: <bounce@work.test>|SMG-Recipient: <someone@example.net>" \
    "$(head -n 3 "$SPOOL/scan/new/S1" | tr '\n' '|' | sed 's/|$//')"
like "S1: message body kept" 'GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL' "$(tail -n 1 "$SPOOL/scan/new/S1")"
like "S1: log line" 'smg-check\[[0-9]+\]: S1: verdict=spam, score=[0-9.]+, threshold=5\.00, tests=GTUBE.*status=passed, queue=scan' \
    "$(cat "$T/check.log")"
like "S2: log line notes the untrained classifier" 'S2: verdict=ham, score=0\.00, threshold=5\.00, tests=, bayes=untrained, .*queue=scan' \
    "$(cat "$T/check.log")"

# the per-customer counters
stats="$T/state/spamstats/cust1"
ok "counters file for the customer" test -f "$stats"
like "counters: 2 ham and 1 spam this hour" '^[0-9]+ 2 1$' "$(tail -n 1 "$stats")"
like "counters: format header" '^# smg spamstats 1: hour-start ham spam$' "$(head -n 1 "$stats")"
hour=$(tail -n 1 "$stats" | cut -d' ' -f1)
is "counters: hour start is a multiple of 3600" 0 "$((hour % 3600))"

# filter mode does not count
"$CHECK" -c "$T/smg.conf" <"$SPOOL/scan/new/S2" >/dev/null 2>&1 || true
like "filter mode leaves the counters alone" '^[0-9]+ 2 1$' "$(tail -n 1 "$stats")"

# counters off
write_conf <<'EOF2'
spamstats = no
EOF2
enqueue S4 ham
run_check --spool
is "spamstats = no: exit 0" 0 "$RC"
like "spamstats = no: not counted" '^[0-9]+ 2 1$' "$(tail -n 1 "$stats")"

# smg's own reports ([send] bounce_queue = check) name the customer they
# are about, but no verdict of theirs is one on the customer's mail
write_conf </dev/null
{
    printf 'SMG-Queue-ID: N1\nSMG-Sender: <>\nSMG-Recipient: <bounce@work.test>\n'
    printf 'SMG-Customer: cust1\nSMG-Arrival: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    msg gtube
} >"$SPOOL/check/tmp/N1"
mv "$SPOOL/check/tmp/N1" "$SPOOL/check/new/N1"
run_check --spool
is "a report (no SMG-Client): exit 0, scored, to scan" "0 scan/new/N1" "$RC $(places N1)"
like "  the report is spam" '^SMG-Spam: verdict=spam ' "$(grep '^SMG-Spam' "$SPOOL/scan/new/N1")"
like "  not counted for the customer" '^[0-9]+ 2 1$' "$(tail -n 1 "$stats")"

# a message whose hand-off fails (scan/ cannot be made) is scored again
# at its next try: it is counted once, when it is handed on
enqueue H1 ham
mv "$SPOOL/scan" "$T/scan.away" && : >"$SPOOL/scan"
run_check --spool
is "hand-off fails: exit 75, H1 back in check/" "75 check/new/H1" "$RC $(places H1)"
like "  not counted" '^[0-9]+ 2 1$' "$(tail -n 1 "$stats")"
rm "$SPOOL/scan" && mv "$T/scan.away" "$SPOOL/scan"
touch "$SPOOL/check/new/H1" # its minute of waiting is over
run_check --spool
is "the next try hands it on" "0 scan/new/H1" "$RC $(places H1)"
like "  and counts it once" '^[0-9]+ 3 1$' "$(tail -n 1 "$stats")"

# a malformed envelope
write_conf </dev/null
mkdir -p "$SPOOL/check/new"
printf 'SMG-Queue-ID: S5\nSMG-Bogus: x\n\nbody\n' >"$SPOOL/check/new/S5"
run_check --spool
is "malformed envelope: run goes on (exit 0)" 0 "$RC"
like "S5 kept in corrupt/" '^corrupt/(new/)?S5' "$(places S5)"

# a second malformed file with the same ID does not replace the first
printf 'SMG-Queue-ID: S5\nSMG-Bogus: y\n\nbody\n' >"$SPOOL/check/new/S5"
run_check --spool
is "a second S5 for corrupt/: both kept" 2 "$(grep -l 'SMG-Bogus' "$SPOOL"/corrupt/new/* | wc -l)"
like "  the second under a fresh ID, logged" 'S5: corrupt/ has a file of that ID; this one is kept as [0-9A-Z]+' \
    "$(cat "$T/check.log")"

# a file whose name is no queue ID goes to corrupt/ too (not left unseen)
msg ham >"$SPOOL/check/new/msg:2,S"
run_check --spool
is "a name that is no queue ID: exit 0" 0 "$RC"
ok "  gone from check/new" test ! -e "$SPOOL/check/new/msg:2,S"
like "  logged with its name and new ID" 'msg:2,S: queue=check, status=corrupt, reason=not a queue ID, moved to corrupt/ as [0-9A-Z]+' \
    "$(cat "$T/check.log")"
is "  its content kept in corrupt/" 1 "$(grep -l '^Subject: project meeting' "$SPOOL"/corrupt/new/* | wc -l)"

# a file the worker cannot open does not stop the queue
if [ "$(id -u)" -eq 0 ]; then
    sed -i 's/^user = root$/user = nobody/' "$T/smg.conf"
    chown -R nobody "$SPOOL" "$T/state"
    enqueue U1 ham
    enqueue U2 ham
    chown nobody "$SPOOL/check/new/U2"
    chown root "$SPOOL/check/new/U1"
    chmod 600 "$SPOOL/check/new/U1"
    touch -d '1 minute ago' "$SPOOL/check/new/U1" # the oldest, tried first
    : >"$T/check.log"
    run_check --spool
    is "an unreadable file: the run goes on (exit 0)" 0 "$RC"
    is "  U2 passed to scan" "scan/new/U2" "$(places U2)"
    like "  U1 moved to corrupt/, logged" 'U1: queue=check, status=corrupt, reason=cannot open: Permission denied, moved to corrupt/' \
        "$(cat "$T/check.log")"
    sed -i 's/^user = nobody$/user = root/' "$T/smg.conf"
    write_conf </dev/null
else
    skip "an unreadable file" "needs root (a file the worker's user cannot open)"
fi

# a corrupt database stops the run, nothing moves
enqueue S6 ham
echo 'this is not a Bayes database, not at all, not even close to one!!' >"$T/state/bayes.db"
: >"$T/check.log"
run_check --spool
is "corrupt database: exit 78" 78 "$RC"
is "S6 stays in check/new" "check/new/S6" "$(places S6)"
like "the database is named in the error" 'Bayes database .*/state/bayes\.db is corrupt' "$(cat "$T/check.log")"
rm -f "$T/state/bayes.db"

# a leftover in check/cur (a worker died) is recovered
mkdir -p "$SPOOL/check/cur"
mv "$SPOOL/check/new/S6" "$SPOOL/check/cur/S6"
run_check --spool
is "recovery: exit 0" 0 "$RC"
is "S6 recovered to scan/new" "scan/new/S6" "$(places S6)"

# watch mode: a database learned while the worker waits is used for the
# next message (the worker reopens it between messages)
write_conf <<'EOF2'
spamstats = no
EOF2
rm -f "$T/state/bayes.db"
synth "$T/set" 10 3
: >"$T/watch.log"
"$CHECK" -c "$T/smg.conf" --log stderr --watch --max 2 >/dev/null 2>"$T/watch.log" &
watch_pid=$!
at_exit "kill $watch_pid"
enqueue W1 spam
placed() { [ "$(places "$1")" = "$2" ]; }
eventually 100 placed W1 scan/new/W1
is "watch: W1 passed" "scan/new/W1" "$(places W1)"
unlike "watch: W1 scored without Bayes" 'BAYES_' "$(grep '^SMG-Spam' "$SPOOL/scan/new/W1")"
"$CHECK" -c "$T/smg.conf" --learn-spam "$T/set/spam" --learn-ham "$T/set/ham" >/dev/null 2>&1
enqueue W2 spam
RC=0
wait "$watch_pid" || RC=$?
is "watch: exits 0 after --max 2 messages" 0 "$RC"
is "watch: W2 passed" "scan/new/W2" "$(places W2)"
like "watch: W2 scored with the database learned meanwhile" 'tests=.*BAYES_99' \
    "$(grep '^SMG-Spam' "$SPOOL/scan/new/W2")"
done_testing
