#!/bin/bash
# 2040-check-bayes.t - the Bayes classifier through smg-check on a small
# synthetic set this test makes (never the real corpus): --learn-spam and
# --learn-ham from folders and from stdin (empty messages refused), then
# every new message of another draw is classified right; a folder learned
# again counts only its new messages, a message learned as the other class
# moves (its counts and its tokens'), a version 1 database is read and
# upgraded; readers keep classifying while learners replace the database;
# a corrupt database is reported (exit 78, file named) and never
# overwritten.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/data/check-lib.sh"

write_conf </dev/null
synth "$T/train" 40 1
synth "$T/test" 20 2

run_check --learn-spam "$T/train/spam" --learn-ham "$T/train/ham"
is "learn from folders: exit 0" 0 "$RC"
cp "$T/out" "$T/out.first"
like "learn: counts told" '^learned 40 spam and 40 ham \(0 moved from the other class, 0 already learned, 0 unreadable\); .*/state/bayes\.db: 40 spam, 40 ham, [0-9]+ tokens$' \
    "$(cat "$T/out")"
run_check --learn-ham - <"$T/test/ham/000"
is "learn from stdin: exit 0" 0 "$RC"
like "learn from stdin: one more ham" 'learned 0 spam and 1 ham.*: 40 spam, 41 ham' "$(cat "$T/out")"
# an empty message (a zero-length file, an empty stdin) is not learned:
# it counted as one more ham or spam with nothing in it
: >"$T/empty.eml"
run_check --learn-ham - --learn-spam "$T/empty.eml" </dev/null
is "learn empty messages: exit 65" 65 "$RC"
like "learn empty messages: none counted" 'learned 0 spam and 0 ham \(0 moved from the other class, 0 already learned, 2 unreadable\).*: 40 spam, 41 ham' \
    "$(cat "$T/out")"
like "learn empty messages: each told" 'empty\.eml: 5\.6\.0 empty message: nothing to learn' \
    "$(cat "$T/check.log")"

run_check --score "$T/test/spam" "$T/test/ham"
is "--score the new draw: exit 0" 0 "$RC"
is "all 20 new spam are spam" 20 "$(grep -c '/test/spam/[0-9]*: verdict=spam .*BAYES_99' "$T/out")"
is "all 20 new ham are ham" 20 "$(grep -c '/test/ham/[0-9]*: verdict=ham .*BAYES_00' "$T/out")"
msg spam >"$T/s.eml"
RC=0
"$CHECK" -c "$T/smg.conf" --explain <"$T/s.eml" >"$T/out" 2>/dev/null || RC=$?
is "--explain a spam: exit 1" 1 "$RC"
like "--explain shows the classifier's part" 'bayes: +[+]8\.00  p=1\.0000 BAYES_99' "$(cat "$T/out")"
like "--explain shows tokens that moved it" '0\.9[0-9]+ +spam [0-9]+ +ham 0 +casino' "$(cat "$T/out")"

# learned folders are remembered: the nightly run over a growing folder
# counts only what is new (it counted every old message again each night)
db="$T/state/bayes.db"
before=$(md5sum <"$db")
tokens=$(sed -En 's/.* ([0-9]+) tokens$/\1/p' "$T/out.first" 2>/dev/null)
run_check --learn-spam "$T/train/spam" --learn-ham "$T/train/ham"
is "learn the same folders again: exit 0" 0 "$RC"
like "learn again: nothing counted, all 80 already learned" \
    '^learned 0 spam and 0 ham \(0 moved from the other class, 80 already learned, 0 unreadable\); .*: 40 spam, 41 ham, '"$tokens"' tokens$' \
    "$(cat "$T/out")"
is "learn again: the database is unchanged" "$before" "$(md5sum <"$db")"
mkdir -p "$T/grow"
cp "$T/train/spam/"* "$T/grow/"
cp "$T/test/spam/000" "$T/grow/new"
run_check --learn-spam "$T/grow"
like "a grown folder: only its new message counted" \
    '^learned 1 spam and 0 ham \(0 moved from the other class, 40 already learned, 0 unreadable\); .*: 41 spam, 41 ham' \
    "$(cat "$T/out")"
{
    printf 'SMG-Queue-ID: Q1\nSMG-Sender: <bounce@work.test>\nSMG-Recipient: <someone@example.net>\n'
    cat "$T/train/spam/001"
} | run_check --learn-spam -
like "a spool file of a learned message, on stdin: already learned" \
    '^learned 0 spam and 0 ham \(0 moved from the other class, 1 already learned, 0 unreadable\); .*: 41 spam, 41 ham' \
    "$(cat "$T/out")"
# the operator corrects a mistake: learned as spam, then as ham
printf 'From: odd@deals.test\nTo: someone@example.net\nSubject: odd\nDate: %s\nMessage-ID: <odd@deals.test>\n\nzzunique casino\n' \
    "$(date -u '+%a, %d %b %Y %H:%M:%S +0000')" >"$T/odd.eml"
run_check --learn-spam "$T/odd.eml"
like "a message learned as spam" 'learned 1 spam and 0 ham .*: 42 spam, 41 ham' "$(cat "$T/out")"
"$CHECK" -c "$T/smg.conf" --explain <"$T/odd.eml" >"$T/out" 2>/dev/null || true
like "its word: 1 spam, 0 ham" 'spam 1 +ham 0 +zzunique$' "$(cat "$T/out")"
run_check --learn-ham "$T/odd.eml"
is "learned again as ham: exit 0" 0 "$RC"
like "it moved: one spam fewer, one ham more" \
    '^learned 0 spam and 1 ham \(1 moved from the other class, 0 already learned, 0 unreadable\); .*: 41 spam, 42 ham' \
    "$(cat "$T/out")"
"$CHECK" -c "$T/smg.conf" --explain <"$T/odd.eml" >"$T/out" 2>/dev/null || true
like "its word moved too: 0 spam, 1 ham" 'spam 0 +ham 1 +zzunique$' "$(cat "$T/out")"
run_check --learn-ham "$T/odd.eml"
like "as ham once more: already learned" \
    '^learned 0 spam and 0 ham \(0 moved from the other class, 1 already learned, 0 unreadable\); .*: 41 spam, 42 ham' \
    "$(cat "$T/out")"

# a version 1 database (before the digests: the header's last 16 bytes
# zero, no digests after the records) is read, and upgraded by a learner
$PY3 - "$T/v1.db" <<'EOF2'
import struct, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return h
def tok(w):
    return fnv(w.encode()) & ~1
recs = sorted([(tok("casino"), 30, 0), (tok("meeting"), 0, 30)])
body = b"".join(struct.pack("=QII", *r) for r in recs)
head = b"SMGBAYS1" + struct.pack("=IIQQQQ", 1, 0x01020304, 30, 30, len(recs), fnv(body)) + bytes(16)
open(sys.argv[1], "wb").write(head + body)
EOF2
cp "$T/v1.db" "$db"
RC=0
"$CHECK" -c "$T/smg.conf" --explain <"$T/s.eml" >"$T/out" 2>"$T/err" || RC=$?
is "a version 1 database is read: --explain exit 1 (spam)" 1 "$RC"
like "with its counts" 'spam 30 +ham 0 +casino' "$(cat "$T/out")"
run_check --learn-spam "$T/train/spam" --learn-ham "$T/train/ham"
is "learning into it: exit 0" 0 "$RC"
like "learning into it: old and new counts" \
    '^learned 40 spam and 40 ham \(0 moved from the other class, 0 already learned, 0 unreadable\); .*: 70 spam, 70 ham' \
    "$(cat "$T/out")"
is "it is version 2 now" 2 "$(od -An -tu4 -j8 -N4 "$db" | tr -d ' ')"
run_check --learn-spam "$T/train/spam" --learn-ham "$T/train/ham"
like "and remembers what it learned" 'learned 0 spam and 0 ham \(0 moved from the other class, 80 already learned, 0 unreadable\).*: 70 spam, 70 ham' \
    "$(cat "$T/out")"

# readers while learners replace the database: each learner learns a
# draw of its own and one they all learn (counted once)
for i in 1 2 3 4 5 6 7 8; do synth "$T/c$i" 40 $((10 + i)); done
synth "$T/cshared" 5 9
: >"$T/readers.err"
for r in 1 2 3; do
    (
        fails=0
        for i in $(seq 1 15); do
            n=$("$CHECK" -c "$T/smg.conf" --score "$T/test/spam" 2>>"$T/readers.err" | grep -c 'verdict=spam') || true
            [ "$n" = 20 ] || fails=$((fails + 1))
        done
        echo "$fails" >"$T/reader.$r"
    ) &
done
lfails=0
for i in $(seq 1 8); do
    "$CHECK" -c "$T/smg.conf" --learn-spam "$T/c$i/spam" --learn-ham "$T/c$i/ham" \
        --learn-spam "$T/cshared/spam" --learn-ham "$T/cshared/ham" >/dev/null 2>&1 \
        || lfails=$((lfails + 1))
done
wait
is "8 learners committed while readers read" 0 "$lfails"
for r in 1 2 3; do
    is "reader $r: every run classified all 20 spam" 0 "$(cat "$T/reader.$r")"
done
is "readers saw no error" "" "$(grep -v 'smg-check\[[0-9]*\]: ' "$T/readers.err" | head -n 3)"
run_check --score "$T/test/ham/000"
like "database has everything learned" 'BAYES_00' "$(cat "$T/out")"
like "no count lost, none twice: 70 + 8 x 40 + 5 spam, 70 + 8 x 40 + 5 + 1 ham" ': 395 spam, 396 ham' \
    "$("$CHECK" -c "$T/smg.conf" --learn-ham "$T/test/ham/001" 2>/dev/null)"

# a corrupt database
head -c 100 "$db" >"$T/cut.db"
cp "$T/cut.db" "$db"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/s.eml" >/dev/null 2>"$T/err" || RC=$?
is "corrupt database: exit 78" 78 "$RC"
like "corrupt database: clear message with the file name" \
    "fatal: 4\.3\.5 Bayes database $db is corrupt: .*remove it and learn again" "$(cat "$T/err")"
RC=0
"$CHECK" -c "$T/smg.conf" --learn-spam "$T/train/spam" >/dev/null 2>"$T/err" || RC=$?
is "learning onto it: exit 78" 78 "$RC"
is "the corrupt file was not overwritten" "$(md5sum <"$T/cut.db")" "$(md5sum <"$db")"
write_conf <<'EOF2'
bayes = no
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/s.eml" >/dev/null 2>&1 || RC=$?
ok "bayes = no works around it (exit 0 or 1)" test "$RC" -le 1
done_testing
