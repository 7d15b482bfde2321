#!/bin/bash
# 8010-queue-change.t - smg-queue hold / release / requeue / delete on a
# spool written in the maildir layout: hold and release round trips back
# to the right queue (a stage queue, send.GW for mail held from deferred.GW
# or held by smg-send, --to for mail a stage held), the SMG-Held field
# (readable by the stages, removed on release), requeue of deferred mail,
# delete (corrupt/ only with --force), the exit codes, that every message
# is in exactly one place afterwards, and the log line of each action;
# run as a user who may not open a message, a change leaves it alone.
# The real smg-route then processes released mail.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/send.sh"

Q="$SMG_BIN/smg-queue"
gw_conf </dev/null
NOW=1795323600 # 2026-11-22T05:00:00Z, given to smg-queue with --now

# places ID - where the spool holds ID: "queue/sub" words, sorted
places() {
    (cd "$SPOOL" && ls -d */new/"$1" */cur/"$1" 2>/dev/null | sed 's|/[^/]*$||' | sort | tr '\n' ' ' | sed 's/ $//')
}
# q ARGS - run smg-queue, log on $T/log, output on $T/out; prints the exit code
q() {
    "$Q" -c "$T/smg.conf" --log stderr --now "$NOW" "$@" >"$T/out" 2>>"$T/log"
    echo $?
}

# hold and release of a message in a stage queue
spool_msg route R1 a@cust.test "x@rcpt.test y@rcpt.test" "Spam: verdict=ham score=0.1 threshold=5.0"
cp "$SPOOL/route/new/R1" "$T/R1.orig"
is "hold R1: exit 0" 0 "$(q hold R1)"
is "  says what it did" "R1: route -> hold" "$(cat "$T/out")"
is "  R1 only in hold" "hold/new" "$(places R1)"
is "  SMG-Held field" "from=route at=2026-11-22T05:00:00Z by=operator" "$(field SMG-Held "$SPOOL/hold/new/R1")"
like "  log line" 'smg-queue\[[0-9]+\]: R1: action=hold, from=route, to=hold, status=done' "$(cat "$T/log")"
"$SMG_BIN/smg-route" -c "$T/smg.conf" --log stderr <"$SPOOL/hold/new/R1" >/dev/null 2>"$T/route.err"
is "  a stage reads a file with SMG-Held (filter mode exit 0)" 0 $?
"$SMG_BIN/smg-route" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.err"
is "  smg-route --spool leaves held mail alone" "hold/new" "$(places R1)"
out=$("$Q" -c "$T/smg.conf" list hold)
like "  list shows who held it" '^      held: from=route at=2026-11-22T05:00:00Z by=operator$' "$out"
is "hold R1 again: 64 (refused)" 64 "$(q hold R1)"
like "  log says refused" 'R1: action=hold, from=hold, status=refused, reason=5.0.0 it is in hold/' "$(cat "$T/log")"
is "release R1: exit 0" 0 "$(q release R1)"
is "  says what it did" "R1: hold -> route" "$(cat "$T/out")"
is "  R1 back in route only" "route/new" "$(places R1)"
ok "  byte for byte as before" cmp -s "$T/R1.orig" "$SPOOL/route/new/R1"
like "  log line" 'R1: action=release, from=hold, to=route, status=done' "$(cat "$T/log")"
is "release R1 again: 64 (not held)" 64 "$(q release R1)"
"$SMG_BIN/smg-route" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.err"
like "smg-route routes the released message" '^send.mta0[12]/new$' "$(places R1)"

# mail held from a deferred queue goes to send.GW on release
spool_msg deferred.mta02 D1 a@cust.test x@slow.test "Route: pool=good gateway=mta02 reason=ham" \
    'Delivery: attempts=2 gateway=mta02 last="451 4.7.1 try later"'
touch -d @1893456000 "$SPOOL/deferred.mta02/new/D1"
is "hold a deferred message" 0 "$(q hold D1)"
is "  in hold" "hold/new" "$(places D1)"
is "release it" 0 "$(q release D1)"
is "  to send.mta02 for an attempt now" "send.mta02/new" "$(places D1)"
is "  without SMG-Held" "" "$(field SMG-Held "$SPOOL/send.mta02/new/D1")"

# mail smg-send held (TLS policy hold): back to its gateway
spool_msg hold T1 a@cust.test x@tls.test "Route: pool=good gateway=mta02 reason=ham" \
    'Delivery: attempts=1 gateway=mta01 last="TLS is required" held=2026-11-22T04:00:00Z'
cp "$SPOOL/hold/new/T1" "$T/T1.orig"
is "release of smg-send's hold: 0" 0 "$(q release T1)"
is "  to send.GW of SMG-Delivery" "send.mta01/new" "$(places T1)"
ok "  unchanged" cmp -s "$T/T1.orig" "$SPOOL/send.mta01/new/T1"
# a held part (ID+T+attempt) carries the original ID in SMG-Queue-ID
spool_msg hold T2T1 a@cust.test x@tls.test "Route: pool=good gateway=mta03 reason=spam" \
    'Delivery: attempts=1 last="TLS is required" held=2026-11-22T04:00:00Z'
sed -i 's/^SMG-Queue-ID: T2T1$/SMG-Queue-ID: T2/' "$SPOOL/hold/new/T2T1"
is "release of a held part: 0" 0 "$(q release T2T1)"
is "  to send.GW of SMG-Route" "send.mta03/new" "$(places T2T1)"
is "  its SMG-Queue-ID is its file name" "T2T1" "$(field SMG-Queue-ID "$SPOOL/send.mta03/new/T2T1")"

# mail a stage held (no origin recorded): needs --to
spool_msg hold P1 a@cust.test x@rcpt.test
is "release without origin: 64" 64 "$(q release P1)"
like "  asks for --to" 'origin unknown.*--to QUEUE' "$(cat "$T/log")"
is "  still held" "hold/new" "$(places P1)"
is "release --to an unknown gateway: 64" 64 "$(q release --to send.mta99 P1)"
is "release --to hold: 64" 64 "$(q release --to hold P1)"
is "release --to sign: 0" 0 "$(q release --to sign P1)"
is "  in sign" "sign/new" "$(places P1)"
is "hold of quarantined mail: 64" 64 "$(spool_msg quarantine V1 a@cust.test x@rcpt.test; q hold V1)"
is "  left in quarantine" "quarantine/new" "$(places V1)"

# requeue
spool_msg deferred.mta01 D2 a@cust.test x@slow.test 'Delivery: attempts=4 gateway=mta01 last="421 busy"'
touch -d @1893456000 "$SPOOL/deferred.mta01/new/D2"
cp "$SPOOL/deferred.mta01/new/D2" "$T/D2.orig"
is "requeue D2: 0" 0 "$(q requeue D2)"
is "  says what it did" "D2: deferred.mta01 -> send.mta01" "$(cat "$T/out")"
is "  in send.mta01 only" "send.mta01/new" "$(places D2)"
is "  mtime now" "$NOW" "$(stat -c %Y "$SPOOL/send.mta01/new/D2")"
ok "  unchanged" cmp -s "$T/D2.orig" "$SPOOL/send.mta01/new/D2"
like "  log line" 'D2: action=requeue, from=deferred.mta01, to=send.mta01, status=done' "$(cat "$T/log")"
is "requeue of mail not deferred: 64" 64 "$(q requeue D2)"
is "  left in send.mta01" "send.mta01/new" "$(places D2)"
is "  with its mtime" "$NOW" "$(stat -c %Y "$SPOOL/send.mta01/new/D2")"
is "requeue of an unknown ID: 1" 1 "$(q requeue NOSUCH)"
# a gateway taken out of the configuration: no worker serves send.mta99
spool_msg deferred.mta99 D3 a@cust.test x@slow.test "Route: pool=good gateway=mta99 reason=ham" \
    'Delivery: attempts=3 gateway=mta99 last="421 busy"'
is "requeue of mail for a gateway no longer configured: 0" 0 "$(q requeue D3)"
is "  says what it did" "D3: deferred.mta99 -> route" "$(cat "$T/out")"
is "  in route, to be routed to a gateway there is" "route/new" "$(places D3)"
"$SMG_BIN/smg-route" -c "$T/smg.conf" --spool --log stderr 2>>"$T/route.err"
like "  smg-route sends it through a good gateway" '^send.mta0[12]/new$' "$(places D3)"

# delete
is "delete R1: 0" 0 "$(q delete R1)"
like "  says so" '^R1: deleted from send.mta0[12]$' "$(cat "$T/out")"
is "  gone" "" "$(places R1)"
like "  log line" 'R1: action=delete, from=send.mta0[12], to=none, status=done' "$(cat "$T/log")"
is "delete of an unknown ID: 1" 1 "$(q delete R1)"
like "  log says notfound" 'R1: action=delete, from=none, status=notfound' "$(cat "$T/log")"
mkdir -p "$SPOOL/corrupt/new" "$SPOOL/corrupt/cur" "$SPOOL/corrupt/tmp"
printf 'garbage\n' >"$SPOOL/corrupt/new/K1"
is "delete of a corrupt file: 64" 64 "$(q delete K1)"
like "  says --force" 'corrupt files are kept; delete with --force' "$(cat "$T/log")"
is "  kept" "corrupt/new" "$(places K1)"
is "delete --force: 0" 0 "$(q delete --force K1)"
is "  gone" "" "$(places K1)"

# nothing was left behind in any cur/ or tmp/
is "no file in any cur/" "" "$(cd "$SPOOL" && ls */cur/ 2>/dev/null | grep -v ':$' | grep -v '^$')"
is "no file in any tmp/" "" "$(cd "$SPOOL" && ls */tmp/ 2>/dev/null | grep -v ':$' | grep -v '^$')"

# a worker that died after handing a message on leaves it in its cur/ too:
# smg-queue acts on the copy furthest along and removes the leftover, so
# that a held or deleted message does not go out from the leftover later;
# an empty file in cur/ (on its way to the pool) is no copy at all
spool_msg send.mta01 L1 a@cust.test x@rcpt.test
mkdir -p "$SPOOL/route/cur"
: >"$SPOOL/route/cur/L1"
is "an empty leftover: hold L1 exits 0" 0 "$(q hold L1)"
is "  the real copy was held" "L1: send.mta01 -> hold" "$(cat "$T/out")"
is "  L1 in hold; the empty file is left to recovery" "hold/new route/cur" "$(places L1)"
rm -f "$SPOOL/route/cur/L1"
spool_msg send.mta01 L2 a@cust.test x@rcpt.test
cp "$SPOOL/send.mta01/new/L2" "$SPOOL/route/cur/L2"
is "a leftover with content: delete L2 exits 0" 0 "$(q delete L2)"
is "  no copy left anywhere" "" "$(places L2)"
like "  the leftover's removal is logged" 'L2: queue=route, status=removed, reason=a dead worker.s leftover \(the message is in send.mta01\)' \
    "$(cat "$T/log")"

# a copy in new/ is the message, whatever its queue's place in the listing:
# a release cut short leaves hold/cur/ID behind the released route/new/ID
spool_msg route L3 a@cust.test x@rcpt.test
mkdir -p "$SPOOL/hold/cur"
cp "$SPOOL/route/new/L3" "$SPOOL/hold/cur/L3"
"$Q" -c "$T/smg.conf" show L3 >/dev/null 2>&1
is "show changes nothing" "hold/cur route/new" "$(places L3)"
is "delete L3 (the released copy, and the leftover): exit 0" 0 "$(q delete L3)"
is "  no copy left" "" "$(places L3)"

# run by a user without the workers' rights (here nobody, with the
# folders open to all but the message its owner's alone), a change fails
# and leaves the message where it is: smg_spool_claim's setting aside of
# a file a worker cannot open (corrupt/, under a fresh ID) is not for
# smg-queue, whose own rights are at fault
if [ "$(id -u)" -eq 0 ]; then
    spool_msg route U1 a@cust.test x@rcpt.test
    chmod 600 "$SPOOL/route/new/U1"
    mkdir -p "$SPOOL/corrupt/new" "$SPOOL/corrupt/tmp" "$SPOOL/corrupt/cur" "$SPOOL/hold/new" \
        "$SPOOL/hold/tmp" "$SPOOL/hold/cur"
    find "$SPOOL" -type d -exec chmod 777 {} +
    chmod 644 "$T/smg.conf"
    : >"$T/log"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$Q" -c "$T/smg.conf" --log stderr hold U1 >"$T/out" 2>>"$T/log"
    is "hold by a user who cannot open the file: 75" 75 $?
    like "  says why" 'smg-queue: fatal: U1: 4.3.0 cannot open .*/route/new/U1: Permission denied' "$(cat "$T/log")"
    is "  U1 left in route/new" "route/new" "$(places U1)"
    is "  nothing set aside in corrupt/" 0 "$(ls "$SPOOL/corrupt/new" | wc -l)"
else
    skip "a user who cannot open the file" "needs root (to run smg-queue as nobody)"
fi

done_testing
