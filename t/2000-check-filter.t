#!/bin/bash
# 2000-check-filter.t - smg-check in filter mode and its tools on crafted
# messages: GTUBE is always spam (exit 1), a plain message is ham (exit 0),
# the SMG-Spam field is added in front of the message (envelope fields
# kept), rules fire and do not fire, --explain and --score report, and
# config, rules and usage errors exit 78 and 64 with a clear message.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/data/check-lib.sh"

write_conf </dev/null

# GTUBE, with no database at all
msg gtube >"$T/gtube.eml"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/gtube.eml" >"$T/out" 2>"$T/err" || RC=$?
is "GTUBE: exit 1" 1 "$RC"
like "GTUBE: SMG-Spam field first" \
    '^SMG-Spam: verdict=spam score=10[0-9][0-9]\.[0-9]{2} threshold=5\.00 tests=GTUBE' \
    "$(head -n 1 "$T/out")"
is "GTUBE: the message follows unchanged" "$(cat "$T/gtube.eml")" "$(tail -n +2 "$T/out")"

# GTUBE stays spam even when the threshold is absurd and rules are off
cat >"$T/off.rules" <<'EOF2'
score DATE_MISSING 0
EOF2
write_conf <<EOF2
threshold = 900
local_rules = $T/off.rules
bayes = no
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/gtube.eml" >"$T/out" 2>/dev/null || RC=$?
is "GTUBE over a threshold of 900: still spam" 1 "$RC"

# a plain message is ham
write_conf </dev/null
msg ham >"$T/ham.eml"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/ham.eml" >"$T/out" 2>/dev/null || RC=$?
is "plain message: exit 0" 0 "$RC"
is "plain message: ham, no rule fired" "SMG-Spam: verdict=ham score=0.00 threshold=5.00 tests=" \
    "$(head -n 1 "$T/out")"

# a spool file in filter mode keeps its envelope, the verdict joins it
{
    printf 'SMG-Queue-ID: F1\nSMG-Sender: <a@b.test>\nSMG-Recipient: <c@d.test>\n'
    printf 'SMG-Spam: verdict=ham score=0.00 threshold=5.00 tests=OLD\n'
    cat "$T/gtube.eml"
} >"$T/env.eml"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/env.eml" >"$T/out" 2>/dev/null || RC=$?
is "envelope file: exit 1" 1 "$RC"
is "envelope kept, old verdict replaced" \
    "SMG-Queue-ID: F1|SMG-Sender: <a@b.test>|SMG-Recipient: <c@d.test>|SMG-Spam: verdict=spam" \
    "$(head -n 4 "$T/out" | sed 's/ score=.*//' | tr '\n' '|' | sed 's/|$//')"
is "one SMG-Spam field" 1 "$(grep -c '^SMG-Spam:' "$T/out")"

# SMG-* fields further down a bare message's header are the sender's: a
# claimed verdict there went on beside the real one; now only ours is left
{
    printf 'From: a@b.test\nSMG-Spam: verdict=ham score=0.00 threshold=5.00 tests=\n'
    printf 'SMG-Route: pool=good\n  gateway=mta01\nSubject: claims\n\n%s\nSMG-Spam: body text stays\n' \
        'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
} >"$T/claim.eml"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/claim.eml" >"$T/out" 2>/dev/null || RC=$?
is "claimed verdict in the header: exit 1" 1 "$RC"
is "only our verdict in the header, the sender's SMG-* fields gone" \
    "SMG-Spam: verdict=spam|From: a@b.test|Subject: claims" \
    "$(sed -n '1,/^$/p' "$T/out" | sed 's/ score=.*//; /^$/d' | tr '\n' '|' | sed 's/|$//')"
is "the body is untouched" "SMG-Spam: body text stays" "$(tail -n 1 "$T/out")"
# --explain and --score score what the stage scores: without those fields
# (GTUBE in one of them made the tools say spam where the stage said ham)
{
    printf 'From: a@b.test\nSubject: tools\nDate: %s\nMessage-ID: <t1@b.test>\n' \
        "$(date -u '+%a, %d %b %Y %H:%M:%S +0000')"
    printf 'SMG-Note: %s\n\nhello\n' \
        'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
} >"$T/below.eml"
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/below.eml" >"$T/out" 2>/dev/null || RC=$?
is "GTUBE in a sender's SMG-* field: the stage says ham" "0 SMG-Spam: verdict=ham" \
    "$RC $(head -n 1 "$T/out" | sed 's/ score=.*//')"
RC=0
"$CHECK" -c "$T/smg.conf" --explain <"$T/below.eml" >"$T/out" 2>/dev/null || RC=$?
is "--explain says what the stage says" "0 SMG-Spam: verdict=ham" \
    "$RC $(tail -n 1 "$T/out" | sed 's/ score=.*//')"
RC=0
"$CHECK" -c "$T/smg.conf" --score "$T/below.eml" >"$T/out" 2>/dev/null || RC=$?
is "--score says what the stage says" "0 $T/below.eml: verdict=ham" \
    "$RC $(sed 's/ score=.*//' "$T/out")"

# rules fire on a crafted message (QP-encoded HTML with an obfuscated link)
msg html >"$T/html.eml"
out=$("$CHECK" -c "$T/smg.conf" <"$T/html.eml" 2>/dev/null | head -n 1)
like "URI_NUMERIC_IP fires" 'tests=.*URI_NUMERIC_IP' "$out"
like "LINK_MISMATCH fires" 'tests=.*LINK_MISMATCH' "$out"
like "HTML_ONLY fires" 'tests=.*HTML_ONLY' "$out"
unlike "no DNS list configured: URI_DNSBL silent" 'URI_DNSBL' "$out"
unlike "DATE_MISSING silent on a dated message" 'DATE_MISSING' "$out"
printf 'From: x@y.test\nSubject: hello\n\nno date, no id\n' >"$T/nodate.eml"
out=$("$CHECK" -c "$T/smg.conf" <"$T/nodate.eml" 2>/dev/null | head -n 1)
like "DATE_MISSING and MSGID_MISSING fire" 'tests=DATE_MISSING,MSGID_MISSING' "$out"

# a local rule, and a score change of a shipped rule
cat >"$T/local.rules" <<'EOF2'
body   LOCAL_PROJECT  6.0  /\bproject meeting\b/i
describe LOCAL_PROJECT a local rule
score  DATE_MISSING   3.0
EOF2
write_conf <<EOF2
local_rules = $T/local.rules
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/ham.eml" >"$T/out" 2>/dev/null || RC=$?
is "local rule makes the ham spam: exit 1" 1 "$RC"
like "local rule in the tests" 'score=6\.00 .*tests=LOCAL_PROJECT' "$(head -n 1 "$T/out")"
like "changed score applies" 'score=3\.50 ' "$("$CHECK" -c "$T/smg.conf" <"$T/nodate.eml" 2>/dev/null | head -n 1)"

# --explain
RC=0
"$CHECK" -c "$T/smg.conf" --explain <"$T/ham.eml" >"$T/out" 2>/dev/null || RC=$?
is "--explain: exit 1 for spam" 1 "$RC"
like "--explain: verdict line" '^verdict: spam, score 6\.00, threshold 5\.00' "$(cat "$T/out")"
like "--explain: the rule with its description and match" \
    '6\.00  LOCAL_PROJECT  a local rule \[project meeting\]' "$(cat "$T/out")"
like "--explain: Bayes and rspamd parts" 'bayes: not used: .* fewer than 5 of each' "$(cat "$T/out")"
like "--explain: the SMG-Spam field last" '^SMG-Spam: verdict=spam' "$(tail -n 1 "$T/out")"

# --score over a folder
mkdir -p "$T/dir"
cp "$T/gtube.eml" "$T/dir/1"
cp "$T/nodate.eml" "$T/dir/2"
write_conf </dev/null
RC=0
"$CHECK" -c "$T/smg.conf" --score "$T/dir" >"$T/out" 2>/dev/null || RC=$?
is "--score: exit 0" 0 "$RC"
is "--score: one line per file" "$T/dir/1: verdict=spam|$T/dir/2: verdict=ham" \
    "$(sed 's/ score=.*//' "$T/out" | tr '\n' '|' | sed 's/|$//')"

# errors
write_conf <<'EOF2'
no_such_key = 1
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/ham.eml" >/dev/null 2>"$T/err" || RC=$?
is "unknown key: exit 78" 78 "$RC"
like "unknown key: file, line and key" 'smg\.conf:[0-9]+: \[check\] no_such_key: unknown key' "$(cat "$T/err")"
printf 'body BAD 1 /(unclosed/\n' >"$T/bad.rules"
write_conf <<EOF2
local_rules = $T/bad.rules
EOF2
RC=0
"$CHECK" -c "$T/smg.conf" <"$T/ham.eml" >/dev/null 2>"$T/err" || RC=$?
is "bad rules file: exit 78" 78 "$RC"
like "bad rules file: file and line" 'bad\.rules:1: bad regular expression' "$(cat "$T/err")"
write_conf </dev/null
RC=0
"$CHECK" -c "$T/smg.conf" --explain --score x >/dev/null 2>&1 || RC=$?
is "two tools at once: exit 64" 64 "$RC"
RC=0
"$CHECK" -c "$T/smg.conf" --bogus >/dev/null 2>&1 || RC=$?
is "unknown option: exit 64" 64 "$RC"
for bad in foo -1 " 5" 10x 99999999999999999999999; do
    RC=0
    "$CHECK" -c "$T/smg.conf" --spool --max "$bad" >/dev/null 2>&1 || RC=$?
    is "--max '$bad': exit 64" 64 "$RC"
done
RC=0
"$CHECK" -c "$T/smg.conf" --learn-spam "$T/empty-nothing-here" >/dev/null 2>"$T/err" || RC=$?
is "learning from nothing: exit 66" 66 "$RC"
done_testing
