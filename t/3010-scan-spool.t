#!/bin/bash
# 3010-scan-spool.t - smg-scan in spool and watch mode: clean mail goes to
# sign/, infected mail to quarantine/ with an NDR in sign/; every message
# is in exactly one place; a message too large to scan is held; an
# unusable database leaves the queue alone
# (exit 75), and a message failed on for now waits behind the others; a repeated run replaces its NDR; two workers share a queue;
# watch mode reloads a changed database between messages, and retries a
# failed reload only after reload_interval; old quarantine
# is expired.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/scan.sh"

make_db
write_conf </dev/null

# an unusable database first: nothing may move
enqueue S1 eicar-zip
enqueue S2 clean
write_conf <<EOF
scan.database = $T/missing
EOF
run_scan --spool
is "missing database: exit 75" 75 "$RC"
is "S1 stays in scan/new" "scan/new/S1" "$(places S1)"
is "S2 stays in scan/new" "scan/new/S2" "$(places S2)"
mkdir -p "$T/bad" && cp "$T/db/"* "$T/bad/" && echo 'Bad:0:*:xyz' >"$T/bad/bad.ndb"
write_conf <<EOF
scan.database = $T/bad
EOF
run_scan --spool
is "corrupt database: exit 75" 75 "$RC"
is "S1 still in scan/new" "scan/new/S1" "$(places S1)"
like "fatal line logged" 'antivirus database .*bad: Malformed database' "$(cat "$T/scan.log")"
# libclamav calls a message it could not unpack "clean" when its temporary
# folder cannot be made: that is a temporary failure, and nothing moves
write_conf <<EOF
scan.tmpdir = $T/no-such-folder
EOF
: >"$T/scan.log"
run_scan --spool
is "unusable tmpdir: exit 75" 75 "$RC"
is "S1 (EICAR) stays in scan/new" "scan/new/S1" "$(places S1)"
is "S2 (clean) stays in scan/new" "scan/new/S2" "$(places S2)"
like "the reason is logged" 'libclamav: .*temporary directory.*no-such-folder' "$(cat "$T/scan.log")"
# the message failed on waits a minute, behind the others: were it put back
# as the oldest, every worker would take it first and fail again, and one
# message that always fails would stop the queue
like "S1 deferred, logged" 'S1: status=deferred, delay=60s' "$(cat "$T/scan.log")"
ok "S1's next try is a minute away" \
    test "$(stat -c %Y "$SPOOL/scan/new/S1")" -ge $(($(date +%s) + 55))
: >"$T/scan.log"
run_scan --spool
is "the next run takes S2 and stops at it: exit 75" 75 "$RC"
like "S2 is tried, S1 is not" 'S2: status=deferred' "$(cat "$T/scan.log")"
unlike "S1 is not tried again" 'S1:' "$(cat "$T/scan.log")"
touch "$SPOOL/scan/new/S1" "$SPOOL/scan/new/S2" # their minute is over

# the real run
write_conf </dev/null
enqueue S3 eicar-b64
enqueue S4 eicar-nested
enqueue S5 clean-attach
enqueue S6 body-sig
: >"$T/scan.log"
run_scan --spool
is "spool run: exit 0" 0 "$RC"
for id in S2 S5; do
    is "$id clean: in sign/new only" "sign/new/$id" "$(places "$id")"
    like "$id: verdict in the envelope" '^SMG-Virus: verdict=clean engine=ClamAV' \
        "$(grep '^SMG-Virus' "$SPOOL/sign/new/$id")"
    like "$id: log line" "$id: verdict=clean, size=[0-9]+, scan_time=[0-9.]+s, status=passed, queue=sign" \
        "$(cat "$T/scan.log")"
done
for id in S1 S3 S4 S6; do
    is "$id infected: in quarantine/new, NDR in sign/new" \
        "quarantine/new/$id sign/new/${id}N" "$(echo $(places "$id") $(places "${id}N"))"
    like "$id: infected verdict in the quarantined file" '^SMG-Virus: verdict=infected .*virus=Smg-Test-' \
        "$(grep '^SMG-Virus' "$SPOOL/quarantine/new/$id")"
    like "$id: log line with virus, time and NDR ID" \
        "$id: verdict=infected, virus=Smg-Test-[A-Za-z.]+, size=[0-9]+, scan_time=[0-9.]+s, ndr=${id}N, status=passed, queue=quarantine" \
        "$(cat "$T/scan.log")"
    like "$id: log links the NDR" "$id: extra=${id}N, queue=sign" "$(cat "$T/scan.log")"
done
is "scan/new and scan/cur are empty" "0 0" \
    "$(count_files "$SPOOL/scan/new") $(count_files "$SPOOL/scan/cur")"
like "the quarantined file is plain text" 'Subject: eicar nested' "$(cat "$SPOOL/quarantine/new/S4")"

# a repeated run (crash after the NDR, before the input was removed)
# replaces the NDR rather than sending two
cp "$SPOOL/quarantine/new/S3" "$SPOOL/scan/cur/S3"
rm "$SPOOL/quarantine/new/S3"
: >"$T/scan.log"
run_scan --spool
is "recovery run: exit 0" 0 "$RC"
is "S3 recovered from cur/ and quarantined again" "quarantine/new/S3" "$(places S3)"
is "one NDR for S3" "sign/new/S3N" "$(places S3N)"
like "the rescan replaced the old verdict" '^1$' "$(grep -c '^SMG-Virus' "$SPOOL/quarantine/new/S3")"

# two workers at once: each message processed exactly once
for i in $(seq 1 30); do
    case $((i % 3)) in
        0) enqueue "W$i" eicar-zip ;;
        *) enqueue "W$i" clean ;;
    esac
done
: >"$T/scan.log"
"$SMG_SCAN" -c "$T/smg.conf" --log stderr --spool 2>>"$T/w1.log" &
p1=$!
"$SMG_SCAN" -c "$T/smg.conf" --log stderr --spool 2>>"$T/w2.log" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
is "two workers: both exit 0" "0 0" "$r1 $r2"
bad=0
for i in $(seq 1 30); do
    want="sign/new/W$i"
    [ $((i % 3)) -eq 0 ] && want="quarantine/new/W$i"
    [ "$(places "W$i")" = "$want" ] || { bad=$((bad + 1)); diag "W$i: $(places "W$i")"; }
    n=$(cat "$T/w1.log" "$T/w2.log" | grep -c ": W$i: verdict=")
    [ "$n" = 1 ] || { bad=$((bad + 1)); diag "W$i scanned $n times"; }
done
is "every message in its one place, scanned once" 0 "$bad"
is "ten NDRs" 10 "$(ls "$SPOOL/sign/new" | grep -c '^W[0-9]*N$')"

# watch mode: the database is reloaded between messages when it changes
rm -rf "$T/db2" "$T/db2-new"
make_db "$T/db2" hdb
write_conf <<EOF
scan.database = $T/db2
EOF
: >"$T/watch.log"
"$SMG_SCAN" -c "$T/smg.conf" --log stderr --watch 2>>"$T/watch.log" &
wpid=$!
at_exit "kill $wpid 2>/dev/null"
# wait_for FILE REGEX - up to 30 s for a line in FILE
wait_for() {
    for _ in $(seq 1 300); do
        grep -Eq -- "$2" "$1" && return 0
        sleep 0.1
    done
    return 1
}
enqueue R1 body-sig
ok "watch: R1 scanned" wait_for "$T/watch.log" 'R1: verdict='
like "watch: body signature unknown before the reload" 'R1: verdict=clean' "$(cat "$T/watch.log")"
make_db "$T/db2-new" body
mv "$T/db2-new/body.ndb" "$T/db2/"
# the folder is checked whenever the queue runs empty: a message wakes it
enqueue R0 clean
ok "watch: database reloaded" wait_for "$T/watch.log" 'database reloaded: signatures=2'
enqueue R2 body-sig
ok "watch: R2 scanned" wait_for "$T/watch.log" 'R2: verdict='
like "watch: body signature found after the reload" 'R2: verdict=infected, virus=Smg-Test-Body' \
    "$(cat "$T/watch.log")"
is "watch: R1 passed, R2 quarantined" "sign/new/R1 quarantine/new/R2" "$(places R1) $(places R2)"
# a file taken away (a local signature that quarantines good mail) takes
# its signatures with it at the next check, without a restart
mv "$T/db2/body.ndb" "$T/body.ndb.saved"
enqueue R4 clean
ok "watch: database reloaded after a file was removed" \
    wait_for "$T/watch.log" 'database reloaded: signatures=1'
enqueue R3 body-sig
ok "watch: R3 scanned" wait_for "$T/watch.log" 'R3: verdict='
like "watch: the removed signature is gone" 'R3: verdict=clean' "$(cat "$T/watch.log")"
is "watch: R3 passed" "sign/new/R3" "$(places R3)"
kill -TERM $wpid
wait $wpid
is "watch: SIGTERM ends it with exit 0" 0 $?
mv "$T/body.ndb.saved" "$T/db2/body.ndb"

# a database that fails to load is tried again after reload_interval, not
# at every wake-up (each try loads all of it: with the real databases many
# seconds of CPU and the memory of a second engine)
write_conf <<EOF
scan.database = $T/db2
scan.reload_interval = 4
EOF
: >"$T/watch2.log"
"$SMG_SCAN" -c "$T/smg.conf" --log stderr --watch 2>>"$T/watch2.log" &
wpid=$!
at_exit "kill $wpid 2>/dev/null"
enqueue F0 clean
ok "broken reload: F0 scanned" wait_for "$T/watch2.log" 'F0: verdict='
echo 'Bad:0:*:xyz' >"$T/db2/zz-bad.ndb"
enqueue F1 clean
ok "broken reload: the first try fails" wait_for "$T/watch2.log" 'database reload failed'
for id in F2 F3 F4; do
    enqueue $id body-sig
    wait_for "$T/watch2.log" "$id: verdict=" || diag "$id not scanned"
done
sleep 0.5
is "broken reload: not tried again at each message within reload_interval" 1 \
    "$(grep -c 'database reload failed' "$T/watch2.log")"
like "broken reload: the loaded engine still scans" 'F4: verdict=infected, virus=Smg-Test-Body' \
    "$(cat "$T/watch2.log")"
sleep 4
enqueue F5 clean
ok "broken reload: F5 scanned" wait_for "$T/watch2.log" 'F5: verdict='
sleep 0.5
is "broken reload: tried again once reload_interval has passed" 2 \
    "$(grep -c 'database reload failed' "$T/watch2.log")"
rm -f "$T/db2/zz-bad.ndb"
kill -TERM $wpid
wait $wpid
is "broken reload: SIGTERM ends it with exit 0" 0 $?

# a message larger than max_file_size was not scanned: held, not passed
write_conf <<'EOF'
scan.max_file_size = 1024
EOF
mkdir -p "$SPOOL/scan/tmp"
{
    printf 'SMG-Queue-ID: B1\nSMG-Sender: <user@sender.test>\nSMG-Recipient: <r@rcpt.test>\n'
    printf 'Subject: big\n\nX5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n'
    for _ in $(seq 1 60); do printf '%070d\n' 0; done
} >"$SPOOL/scan/tmp/B1" && mv "$SPOOL/scan/tmp/B1" "$SPOOL/scan/new/B1"
enqueue B2 eicar-plain
: >"$T/scan.log"
run_scan --spool
is "unscannable message: the run goes on (exit 0)" 0 "$RC"
is "B1 (larger than max_file_size) is held" "hold/new/B1" "$(places B1)"
like "held with the reason" 'B1: status=hold, reason=5\.3\.4 message not scanned: [0-9]+ bytes, more than \[scan\] max_file_size \(1024\)' \
    "$(cat "$T/scan.log")"
is "B2 (small) scanned and quarantined" "quarantine/new/B2" "$(places B2)"

# quarantine retention: old files go, recent ones stay
write_conf <<'EOF'
scan.quarantine_retention = 7d
EOF
touch -d '10 days ago' "$SPOOL/quarantine/new/S1"
touch -d '3 days ago' "$SPOOL/quarantine/new/S4"
: >"$T/scan.log"
run_scan --spool
is "expiry run: exit 0" 0 "$RC"
is "S1 (10 days) expired" "" "$(places S1)"
is "S4 (3 days) kept" "quarantine/new/S4" "$(places S4)"
like "expiry logged" 'S1: status=expired, queue=quarantine' "$(cat "$T/scan.log")"
touch -d '8 days ago' "$SPOOL/quarantine/new/S6"
run_scan --expire-quarantine
is "--expire-quarantine: exit 0" 0 "$RC"
is "--expire-quarantine removes S6" "" "$(places S6)"
write_conf <<'EOF'
scan.quarantine_retention = 0
EOF
touch -d '400 days ago' "$SPOOL/quarantine/new/S4"
# a batch's quarantine file that a crash left in tmp/: gone after 36 hours
# (retention or not), a younger one may be a live batch's
printf 'x\n' >"$SPOOL/quarantine/tmp/T1"
printf 'x\n' >"$SPOOL/quarantine/tmp/T2"
touch -d '37 hours ago' "$SPOOL/quarantine/tmp/T1"
touch -d '35 hours ago' "$SPOOL/quarantine/tmp/T2"
run_scan --expire-quarantine
is "retention 0 keeps everything" "quarantine/new/S4" "$(places S4)"
is "quarantine/tmp: a file of 37 hours removed" "" "$(places T1)"
is "quarantine/tmp: a file of 35 hours kept" "quarantine/tmp/T2" "$(places T2)"
rm -f "$SPOOL/quarantine/tmp/T2"

# a tmpfs with room for libclamav's folders but not its files: the scan
# logs errors and returns "clean" with nothing unpacked, and afterwards the
# folder looks usable again, so the message is held for an operator
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=1m,nr_inodes=3 tmpfs "$T/tiny"; then
    at_exit "umount '$T/tiny'"
    enqueue S0 eicar-b64
    write_conf <<EOF
scan.tmpdir = $T/tiny
EOF
    : >"$T/scan.log"
    run_scan --spool
    is "error with a usable tmpdir: the run goes on (exit 0)" 0 "$RC"
    is "S0 (EICAR, not unpacked) is held, not passed" "hold/new/S0" "$(places S0)"
    like "held with libclamav's error" 'S0: status=hold, reason=.*libclamav: ' "$(cat "$T/scan.log")"
    # the same trouble with a limit alert as well: still not "clean"
    umount "$T/tiny"
    mount -t tmpfs -o size=1m,nr_inodes=4 tmpfs "$T/tiny"
    enqueue S00 clean-attach
    write_conf <<EOF
scan.tmpdir = $T/tiny
scan.max_files = 2
EOF
    run_scan --spool
    is "error and a limit: exit 0" 0 "$RC"
    is "S00 (parts not saved, MaxFiles) is held, not passed" "hold/new/S00" "$(places S00)"
    # a tmpfs that stays full fails the folder test: a temporary failure
    umount "$T/tiny"
    mount -t tmpfs -o size=64k tmpfs "$T/tiny"
    dd if=/dev/zero of="$T/tiny/fill" bs=4k 2>/dev/null
    enqueue S000 clean-attach
    write_conf <<EOF
scan.tmpdir = $T/tiny
EOF
    : >"$T/scan.log"
    run_scan --spool
    is "full tmpfs: exit 75" 75 "$RC"
    is "S000 stays in scan/new" "scan/new/S000" "$(places S000)"
else
    ok "mount a tmpfs without inodes to spare (needs root)" false
fi

done_testing
