#!/bin/bash
# 8000-queue-list.t - smg-queue list and show on a spool with messages in
# every kind of queue (stage queues, send.*, deferred.* with a retry time
# and a last error, hold, quarantine, corrupt, a claimed file in cur/):
# the text listing, the JSON listing (parsed by Python's json), a listing
# of chosen queues, show (the file as it is, and as JSON), and the exit
# codes for an unknown ID, bad usage, a missing spool, a bad config and
# standard output that cannot be written.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/send.sh"

Q="$SMG_BIN/smg-queue"
gw_conf </dev/null
NOW=$(date +%s)

# the spool, written directly in the maildir layout
spool_msg check C1 a@cust.test "x@rcpt.test y@rcpt.test"
spool_msg scan S1 b@cust.test x@rcpt.test "Spam: verdict=ham score=0.1 threshold=5.0"
spool_msg sign G1 '<>' a@cust.test "Bounce-Of: C0"
spool_msg route R1 a@cust.test x@rcpt.test
spool_msg send.mta01 M1 a@cust.test "r1@rcpt.test r2@rcpt.test r3@rcpt.test r4@rcpt.test r5@rcpt.test r6@rcpt.test r7@rcpt.test" \
    "Route: pool=good gateway=mta01 reason=ham"
ARRIVAL=2026-11-20T05:00:00Z spool_msg deferred.mta02 D1 a@cust.test x@slow.test \
    "Route: pool=good gateway=mta02 reason=ham" \
    'Delivery: attempts=3 gateway=mta02 first=2026-11-20T05:00:05Z last="451 4.7.1 greylisted, try later" next=2030-01-01T00:00:00Z'
touch -d @1893456000 "$SPOOL/deferred.mta02/new/D1" # 2030-01-01T00:00:00Z
spool_msg hold H1 a@cust.test x@tls.test "Route: pool=good gateway=mta01 reason=ham" \
    'Delivery: attempts=1 gateway=mta01 last="TLS is required but not offered" held=2026-11-22T05:00:00Z'
spool_msg quarantine V1 c@cust.test x@rcpt.test "Virus: verdict=infected name=Eicar-Test-Signature"
mkdir -p "$SPOOL/corrupt/new" "$SPOOL/corrupt/tmp" "$SPOOL/corrupt/cur"
printf 'SMG-Queue-ID: K1\nSMG-Bogus: what\n\nbody\n' >"$SPOOL/corrupt/new/K1"
spool_msg check A1 a@cust.test x@rcpt.test
mv "$SPOOL/check/new/A1" "$SPOOL/check/cur/A1" # claimed by a worker

# text
out=$("$Q" -c "$T/smg.conf" --log stderr list 2>"$T/err")
is "list exits 0" 0 $?
is "list writes nothing on stderr" "" "$(cat "$T/err")"
like "check heading" '^check: 2 messages$' "$out"
like "C1 line: age, size, sender, recipients" \
    '^  C1  age=[0-9]+s  size=[0-9]+  from=<a@cust.test>  to=<x@rcpt.test>,<y@rcpt.test>$' "$out"
like "claimed file is active" '^      active: claimed by a worker$' "$out"
like "null sender" '^  G1  .*from=<>  to=<a@cust.test>$' "$out"
like "many recipients shortened" '^  M1  .*to=<r1@rcpt.test>,.*<r5@rcpt.test>,\.\.\. \(7 recipients\)$' "$out"
like "deferred heading" '^deferred.mta02: 1 message$' "$out"
like "deferred age from SMG-Arrival" '^  D1  age=[0-9]+d ' "$out"
like "last error from SMG-Delivery" '^      last error: 451 4.7.1 greylisted, try later$' "$out"
like "next attempt: the file mtime" '^      next attempt: 2030-01-01T00:00:00Z \(in [0-9]+d\)$' "$out"
like "held mail has its last error" '^      last error: TLS is required but not offered$' "$out"
like "quarantine" '^quarantine: 1 message$' "$out"
like "corrupt file with its problem" '^      problem: .*unknown field: SMG-Bogus' "$out"
like "total" '^total: 10 messages in 9 queues$' "$out"
# queue order: the pipeline's
order=$(printf '%s\n' "$out" | sed -n 's/^\([a-z0-9.]*\): [0-9]* messages*$/\1/p' | tr '\n' ' ')
is "queues in pipeline order" "check scan sign route send.mta01 deferred.mta02 hold quarantine corrupt " "$order"

out=$("$Q" -c "$T/smg.conf" list hold deferred.mta02)
is "list of chosen queues exits 0" 0 $?
like "  has hold" '^hold: 1 message$' "$out"
unlike "  not check" '^check:' "$out"
like "  total of those" '^total: 2 messages in 2 queues$' "$out"

# JSON, read back with Python
"$Q" -c "$T/smg.conf" list --json >"$T/list.json"
is "list --json exits 0" 0 $?
ok "json.tool accepts it" /usr/bin/python3 -m json.tool "$T/list.json" /dev/null
check=$($PY3 - "$T/list.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
qs = {q["name"]: q for q in d["queues"]}
m = {e["id"]: e for q in d["queues"] for e in q["messages"]}
out = []
out.append("names=" + ",".join(q["name"] for q in d["queues"]))
out.append("total=%d" % d["total"])
out.append("counts=" + ",".join("%s:%d" % (q["name"], q["count"]) for q in d["queues"]))
out.append("C1=%s|%s|%s|%s" % (m["C1"]["queue"], m["C1"]["state"], m["C1"]["sender"],
                               " ".join(m["C1"]["recipients"])))
out.append("A1=%s" % m["A1"]["state"])
out.append("G1.sender=%r" % m["G1"]["sender"])
out.append("M1.n=%d" % len(m["M1"]["recipients"]))
d1 = m["D1"]
out.append("D1=%s|%s|%s|%s" % (d1["last_error"], d1["next_attempt"], d1["arrival"],
                               d1["age"] > 2 * 86400))
out.append("C1.next=%r" % m["C1"]["next_attempt"])
out.append("H1.last=%s" % m["H1"]["last_error"])
out.append("K1.problem=%s" % ("SMG-Bogus" in m["K1"]["problem"]))
out.append("size=%s" % (m["C1"]["size"] > 100))
print("\n".join(out))
PY
)
like "json: every standard queue, empty ones too" \
    '^names=check,scan,sign,route,send.mta01,deferred.mta02,hold,quarantine,corrupt$' "$check"
like "json: total" '^total=10$' "$check"
like "json: counts" '^counts=check:2,scan:1,sign:1,route:1,send.mta01:1,deferred.mta02:1,hold:1,quarantine:1,corrupt:1$' "$check"
like "json: C1" '^C1=check\|queued\|a@cust.test\|x@rcpt.test y@rcpt.test$' "$check"
like "json: claimed file active" '^A1=active$' "$check"
like "json: null sender is empty" "^G1.sender=''$" "$check"
like "json: all recipients" '^M1.n=7$' "$check"
like "json: deferred: last error, next attempt, arrival, age" \
    '^D1=451 4.7.1 greylisted, try later\|2030-01-01T00:00:00Z\|2026-11-20T05:00:00Z\|True$' "$check"
like "json: no next attempt outside deferred" '^C1.next=None$' "$check"
like "json: held mail's last error" '^H1.last=TLS is required but not offered$' "$check"
like "json: corrupt problem" '^K1.problem=True$' "$check"
like "json: size" '^size=True$' "$check"

# show: the file as it is, wherever it is
"$Q" -c "$T/smg.conf" show D1 >"$T/show.out"
is "show exits 0" 0 $?
ok "show prints the file byte for byte" cmp -s "$T/show.out" "$SPOOL/deferred.mta02/new/D1"
"$Q" -c "$T/smg.conf" show A1 >"$T/show.out"
ok "show finds a claimed message in cur/" cmp -s "$T/show.out" "$SPOOL/check/cur/A1"
"$Q" -c "$T/smg.conf" show --json H1 >"$T/show.json"
is "show --json exits 0" 0 $?
res=$($PY3 - "$T/show.json" "$SPOOL/hold/new/H1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["queue"], d["id"], d["content"] == open(sys.argv[2]).read(), d["last_error"])
PY
)
is "show --json: queue, id, content, last error" "hold H1 True TLS is required but not offered" "$res"
printf 'SMG-Queue-ID: B8\nSMG-Sender: <a@cust.test>\nSMG-Recipient: <x@rcpt.test>\n\n\377\376 latin1 body\n' \
    >"$SPOOL/route/new/B8"
"$Q" -c "$T/smg.conf" show --json B8 >"$T/show.json"
res=$($PY3 - "$T/show.json" "$SPOOL/route/new/B8" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
print("content" in d, base64.b64decode(d["content_base64"]) == open(sys.argv[2], "rb").read())
PY
)
is "show --json: a file that is not UTF-8 comes as base64" "False True" "$res"
"$Q" -c "$T/smg.conf" list --json >"$T/list.json"
ok "list --json still valid JSON with that file" /usr/bin/python3 -m json.tool "$T/list.json" /dev/null

# an empty file (a finished one on its way to the pool) is no message
: >"$SPOOL/check/cur/EMPTY1"
: >"$SPOOL/check/new/EMPTY2"
"$Q" -c "$T/smg.conf" show EMPTY1 >/dev/null 2>&1
is "show of an empty file: no such message" 1 $?
unlike "list leaves empty files out" 'EMPTY' "$("$Q" -c "$T/smg.conf" list 2>&1)"
rm -f "$SPOOL/check/cur/EMPTY1" "$SPOOL/check/new/EMPTY2"

out=$("$Q" -c "$T/smg.conf" show NOSUCH 2>&1)
is "show of an unknown ID exits 1" 1 $?
like "  and says so" '^smg-queue: fatal: NOSUCH: 5.1.0 no such message in the spool$' "$out"

# standard output that cannot be written: 74, and a line that says so
"$Q" -c "$T/smg.conf" --log stderr list >/dev/full 2>"$T/err"
is "list to a full device: 74" 74 $?
like "  says why" '^smg-queue: fatal: cannot write standard output: No space left on device$' "$(cat "$T/err")"
"$Q" -c "$T/smg.conf" --log stderr show --json C1 >/dev/full 2>"$T/err"
is "show to a full device: 74" 74 $?
like "  says why" '^smg-queue: fatal: C1: cannot write standard output: No space left on device$' "$(cat "$T/err")"

# what a terminal would take as a control sequence never reaches it: the
# envelope refuses C0 controls and DEL, but a remote server's reply (last=)
# or a file put in the spool by hand may hold a C1 control (U+009B, CSI)
# or octets that are not UTF-8
mkdir -p "$SPOOL/hold/new" "$SPOOL/hold/cur" "$SPOOL/hold/tmp"
printf 'SMG-Queue-ID: E1\nSMG-Sender: <\377x@cust.test>\nSMG-Recipient: <\302\23331m@rcpt.test>\nSMG-Delivery: attempts=1 last="451 \302\2332J\233H gr\303\274n"\nSMG-Held: from=check at=\302\2330m by=operator\n\nbody\n' \
    >"$SPOOL/hold/new/E1"
out=$("$Q" -c "$T/smg.conf" list hold)
is "list with C1 controls exits 0" 0 $?
ok "  no C1 control or bad UTF-8 in the text listing" \
    /usr/bin/python3 -c 'import sys; t = sys.stdin.buffer.read().decode("utf-8"); sys.exit(any(0x80 <= ord(c) <= 0x9f for c in t))' <<<"$out"
like "  each becomes ?, UTF-8 text kept" '^      last error: 451 \?2J\?H grün$' "$out"
like "  in the addresses too" '^  E1  .*from=<\?x@cust.test>  to=<\?31m@rcpt.test>$' "$out"
rm -f "$SPOOL/hold/new/E1"

# usage and configuration errors
"$Q" -c "$T/smg.conf" >/dev/null 2>&1
is "no command: 64" 64 $?
"$Q" -c "$T/smg.conf" show >/dev/null 2>&1
is "show without ID: 64" 64 $?
"$Q" -c "$T/smg.conf" show ../../etc/passwd >/dev/null 2>&1
is "a path as ID: 64" 64 $?
"$Q" -c "$T/smg.conf" hold --json C1 >/dev/null 2>&1
is "--json with hold: 64" 64 $?
"$Q" -c "$T/smg.conf" hold --force C1 >/dev/null 2>&1
is "--force with hold: 64" 64 $?
"$Q" -c "$T/smg.conf" frobnicate C1 >/dev/null 2>&1
is "unknown command: 64" 64 $?
ok "C1 untouched by the refused commands" test -f "$SPOOL/check/new/C1"
sed "s|^dir = .*|dir = $T/nospool|" "$T/smg.conf" >"$T/nospool.conf"
out=$("$Q" -c "$T/nospool.conf" list 2>&1)
is "missing spool: 78" 78 $?
like "  names it" 'nospool' "$out"
ok "  and does not create it" test ! -e "$T/nospool"
printf '[spool]\ndir = %s\nbogus_key = 1\n' "$SPOOL" >"$T/bad.conf"
out=$("$Q" -c "$T/bad.conf" list 2>&1)
is "bad config: 78" 78 $?
like "  with file and key" 'bad.conf:3: \[spool\] bogus_key' "$out"

done_testing
