#!/bin/bash
# 2040-check-bayes.t - the Bayes classifier through smg-check on a small
# synthetic set this test makes (never the real corpus): --learn-spam and
# --learn-ham from folders and from stdin (empty messages refused), then
# every new message of another draw is classified right; readers keep
# classifying while learners replace the database; a corrupt database is
# reported (exit 78, file named) and never overwritten.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/data/check-lib.sh"

write_conf </dev/null
synth "$T/train" 40 1
synth "$T/test" 20 2

run_check --learn-spam "$T/train/spam" --learn-ham "$T/train/ham"
is "learn from folders: exit 0" 0 "$RC"
like "learn: counts told" '^learned 40 spam and 40 ham \(0 unreadable\); .*/state/bayes\.db: 40 spam, 40 ham, [0-9]+ tokens$' \
    "$(cat "$T/out")"
run_check --learn-ham - <"$T/test/ham/000"
is "learn from stdin: exit 0" 0 "$RC"
like "learn from stdin: one more ham" 'learned 0 spam and 1 ham.*: 40 spam, 41 ham' "$(cat "$T/out")"
# an empty message (a zero-length file, an empty stdin) is not learned:
# it counted as one more ham or spam with nothing in it
: >"$T/empty.eml"
run_check --learn-ham - --learn-spam "$T/empty.eml" </dev/null
is "learn empty messages: exit 65" 65 "$RC"
like "learn empty messages: none counted" 'learned 0 spam and 0 ham \(2 unreadable\).*: 40 spam, 41 ham' \
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

# readers while learners replace the database
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
    "$CHECK" -c "$T/smg.conf" --learn-spam "$T/train/spam" --learn-ham "$T/train/ham" >/dev/null 2>&1 \
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
like "no count lost: 40 + 8 x 40 spam, 41 + 8 x 40 + 1 ham" ': 360 spam, 362 ham' \
    "$("$CHECK" -c "$T/smg.conf" --learn-ham "$T/test/ham/001" 2>/dev/null)"

# a corrupt database
db="$T/state/bayes.db"
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
