#!/bin/bash
# 9020-pipeline-faults.t - kill -9 under load: the whole gateway run by
# scripts/pipeline (two workers per stage) takes a steady stream of
# messages from an SMTP client (STARTTLS, AUTH) while a killer sends
# SIGKILL to a random smg-check, smg-scan, smg-sign, smg-route, smg-send or
# smg-recv session process at random moments, a few dozen times; the
# pipeline restarts each worker, whose restart recovers the message it had
# claimed.  At the end every queue must drain, and every message that got
# a 250 must have been delivered (ham and spam) or bounced (a 550 from
# the recipient's MX: an NDR to its sender) at least once: nothing lost.
# Duplicates are counted and reported.  Delivery is at-least-once (see
# smg-spool(7)): a kill between a stage's rename into the next queue and
# the removal of its own copy repeats that one message, and a kill of
# smg-send between the receiver's 250 and the removal of the file sends it
# again.  Each kill interrupts at most one message (each worker handles one
# at a time), so the test allows at most one duplicate per kill and fails
# above that.  SMG_FAULT_SEED=N replays the same choice of victims and
# intervals (the timing of the machine still differs).
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/peers.sh"
. "$srcdir/t/lib/recv.sh"
. "$srcdir/t/lib/sign.sh"
. "$srcdir/t/lib/gateway.sh"
MKMSG="$srcdir/t/data/scan-mkmsg.py"
LOAD_MESSAGES=${SMG_FAULT_MESSAGES:-400}
LOAD_RATE=25           # messages per second from the client
DRAIN_LIMIT=60         # seconds for the queues to empty after the load
SEED=${SMG_FAULT_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
diag "seed $SEED (SMG_FAULT_SEED=$SEED replays the victims and intervals)"

# "the Internet": DNS, the recipients' MX, an MX that refuses perm*
# recipients, and the sender's own MX for the NDRs
{
    gw_zone_base
    cat <<'Z'
bounce.test. MX 10 mx.bounce.test.
mx.bounce.test. A 127.0.0.12
Z
} >"$T/zone"
start_dns "$T/zone"
peer_port
start_mta rcpt 127.0.0.10
start_script bounce 127.0.0.12 normal
start_mta senderbox 127.0.0.1

# the gateway's own files and config, as in 9000-pipeline-e2e.t
gw_files
gw_conf <<'EOF2'
send.backoff_min = 1
send.backoff_max = 2
EOF2
gw_start -w 2

# The client: LOAD_MESSAGES messages at LOAD_RATE a second over three
# sessions at a time, 20 to a session (STARTTLS, AUTH PLAIN).  Message SEQ has Message-ID
# <fSEQ.RUN@sender.test>; one in ten is spam (GTUBE: the bad gateway), one
# in ten goes to perm@bounce.test (550 there: an NDR), the rest is ham.
# Each attempt writes a line to OUT: "SEQ KIND QUEUE-ID" after a 250,
# "SEQ KIND - REPLY" otherwise; a dropped session (its smg-recv process
# was killed) is reconnected and the next message gets a new SEQ.
cat >"$T/load.py" <<'PY'
import smtplib, ssl, sys, threading, time
port, n, rate, run, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
CLIENTS = 3
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
log = open(out, "w", buffering=1)
lock = threading.Lock()
start = time.monotonic()

def record(line):
    with lock:
        log.write(line + "\n")

def client(k):
    s = None
    in_session = 0
    for seq in range(k, n + 1, CLIENTS):
        time.sleep(max(0.0, start + seq / rate - time.monotonic()))
        kind = "spam" if seq % 10 == 3 else "bounce" if seq % 10 == 7 else "ham"
        rcpt = "perm%d@bounce.test" % seq if kind == "bounce" else "u%d@rcpt.test" % seq
        body = GTUBE if kind == "spam" else "Status report number %d.\nAll systems nominal.\n" % seq
        msg = ("From: <user@sender.test>\r\nTo: <%s>\r\nSubject: fault test %d\r\n"
               "Message-ID: <f%d.%s@sender.test>\r\n\r\n%s\r\n" % (rcpt, seq, seq, run, body))
        try:
            if s is None:
                s = smtplib.SMTP("127.0.0.1", port, "client.test", timeout=20)
                s.starttls(context=ctx)
                s.ehlo("client.test")
                s.login("customer1", "secret1")
                in_session = 0
            code, reply = s.mail("user@sender.test")
            if code == 250:
                code, reply = s.rcpt(rcpt)
            if code == 250:
                code, reply = s.data(msg)
            else:
                s.rset()
            reply = reply.decode("utf-8", "replace")
            if code == 250 and "queued as " in reply:
                record("%d %s %s" % (seq, kind, reply.split("queued as ")[1].split()[0]))
            else:
                record("%d %s - %d %s" % (seq, kind, code, reply))
            in_session += 1
            if in_session >= 20:
                s.quit()
                s = None
        except (smtplib.SMTPException, OSError) as e:
            record("%d %s - %s" % (seq, kind, repr(e)))
            try:
                s.close()
            except Exception:
                pass
            s = None
    if s is not None:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass

threads = [threading.Thread(target=client, args=(k,)) for k in range(1, CLIENTS + 1)]
for t in threads:
    t.start()
for t in threads:
    t.join()
PY
RUN=$SEED.$$

# victims NAME - the pids of this pipeline's workers of smg-NAME; for recv
# the session processes (children of the listener), not the listener
victims() {
    if [ "$1" = recv ]; then
        for l in $(pgrep -P "$PIPE_PID" -f "smg-recv -c $T/smg.conf"); do
            pgrep -P "$l"
        done
    else
        pgrep -P "$PIPE_PID" -f "smg-$1 -c $T/smg.conf"
    fi
}

# killer - until the client ends, every 0.15 to 0.6 s kill -9 one process
# of a program taken in turn from a shuffled list of the six
killer() {
    progs=(check scan sign route send recv)
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        for i in 5 4 3 2 1; do # Fisher-Yates
            j=$((RANDOM % (i + 1)))
            t=${progs[i]} progs[i]=${progs[j]} progs[j]=$t
        done
        for p in "${progs[@]}"; do
            sleep "0.$((150 + RANDOM % 450))"
            kill -0 "$LOAD_PID" 2>/dev/null || break
            mapfile -t v < <(victims "$p")
            [ ${#v[@]} -gt 0 ] || continue
            pid=${v[$((RANDOM % ${#v[@]}))]}
            kill -9 "$pid" 2>/dev/null && echo "$p $pid" >>"$T/kills"
        done
    done
}

: >"$T/kills"
$PY3 "$T/load.py" "$RECV_PORT" "$LOAD_MESSAGES" "$LOAD_RATE" "$RUN" "$T/sent" \
    2>"$T/load.err" &
LOAD_PID=$!
killer
wait "$LOAD_PID"
is "the client ran to its end" 0 $?
kills=$(wc -l <"$T/kills")
diag "$kills kills: $(cut -d' ' -f1 "$T/kills" | sort | uniq -c | awk '{ printf "%s%s %s", s, $2, $1; s = ", " }')"
for p in check scan sign route send recv; do
    ok "smg-$p was killed at least once" grep -q "^$p " "$T/kills"
done

acked=$(awk '$3 != "-"' "$T/sent" | wc -l)
attempts=$(wc -l <"$T/sent")
diag "$attempts messages sent, $acked acknowledged with 250" \
    "$(awk '$3 == "-"' "$T/sent" | head -5)"
ok "most messages got a 250 (the rest met a killed session)" \
    test "$acked" -ge $((attempts * 8 / 10))

# every queue drains: nothing in any new/ or cur/ but hold, quarantine,
# corrupt (checked below)
left() {
    find "$SPOOL" -mindepth 2 -maxdepth 2 -type d \( -name new -o -name cur \) \
        ! -path "$SPOOL/hold/*" ! -path "$SPOOL/quarantine/*" ! -path "$SPOOL/corrupt/*" \
        -exec find {} -type f \; | wc -l
}
i=0
while [ "$(left)" -gt 0 ] && [ $i -lt $((DRAIN_LIMIT * 5)) ]; do
    sleep 0.2
    i=$((i + 1))
done
ok "every queue drained within $DRAIN_LIMIT s after the load" test "$(left)" -eq 0
diag "drained $((i / 5)) s after the load"
[ "$(left)" -eq 0 ] || diag "left:" "$(find "$SPOOL" -path '*/new/*' -o -path '*/cur/*' | head -10)"
is "nothing held" 0 "$(find "$SPOOL/hold" -type f 2>/dev/null | wc -l)"
is "nothing corrupt" 0 "$(find "$SPOOL/corrupt" -type f 2>/dev/null | wc -l)"
is "nothing quarantined" 0 "$(find "$SPOOL/quarantine" -type f 2>/dev/null | wc -l)"
# the receivers have written the last message they took
sleep 1

# Tally: for each SEQ, how many copies arrived (ham and spam at rcpt, the
# NDR for bounce at senderbox), and what each copy looked like.
$PY3 - "$T/sent" "$PEERS_DIR" "$RUN" >"$T/tally" <<'PY'
import os, re, sys
sent, peers, run = sys.argv[1], sys.argv[2], sys.argv[3]
acked, kind_of = {}, {}
for line in open(sent):
    f = line.split()
    kind_of[int(f[0])] = f[1]
    if f[2] != "-":
        acked[int(f[0])] = f[2]
tok = re.compile(r"<f(\d+)\.%s@sender\.test>" % re.escape(run))
copies, bad, wrongpeer = {}, [], []
for box in ("rcpt", "senderbox"):
    d = os.path.join(peers, box)
    for name in sorted(os.listdir(d)):
        if not name.endswith(".eml"):
            continue
        text = open(os.path.join(d, name), "rb").read().decode("utf-8", "replace")
        seqs = set(int(m) for m in tok.findall(text))
        if len(seqs) != 1:
            bad.append("%s/%s: %d tokens" % (box, name, len(seqs)))
            continue
        seq = seqs.pop()
        copies[seq] = copies.get(seq, 0) + 1
        kind = kind_of.get(seq, "?")
        head = text.split("\n\n", 1)[0]
        if box == "rcpt":
            if kind == "bounce":
                bad.append("%s/%s: f%d should have bounced" % (box, name, seq))
            if head.count("\nDKIM-Signature:") != 1:
                bad.append("%s/%s: %d DKIM-Signature fields" % (box, name, head.count("\nDKIM-Signature:")))
            if re.search(r"^SMG-", head, re.M):
                bad.append("%s/%s: an SMG- field left the gateway" % (box, name))
            peer = re.search(r"^X-Peer: (\S+)", head, re.M).group(1)
            want = ("127.0.0.4",) if kind == "spam" else ("127.0.0.2", "127.0.0.3")
            if peer not in want:
                wrongpeer.append("%s/%s: f%d (%s) from %s" % (box, name, seq, kind, peer))
        elif kind != "bounce" or "report-type=delivery-status" not in text:
            bad.append("%s/%s: f%d (%s) is not an NDR" % (box, name, seq, kind))
lost = sorted(s for s in acked if copies.get(s, 0) == 0)
dups = sum(c - 1 for s, c in copies.items() if c > 1)
duped = sorted(s for s, c in copies.items() if c > 1)
unacked = sorted(s for s in copies if s not in acked)
print("lost %d %s" % (len(lost), " ".join("f%d=%s" % (s, acked[s]) for s in lost[:20])))
print("dups %d %s" % (dups, " ".join("f%d(%s)x%d" % (s, kind_of[s], copies[s]) for s in duped[:20])))
print("unacked %d %s" % (len(unacked), " ".join("f%d" % s for s in unacked[:20])))
print("delivered %d" % sum(1 for s in acked if kind_of[s] != "bounce" and copies.get(s)))
print("bounced %d" % sum(1 for s in acked if kind_of[s] == "bounce" and copies.get(s)))
print("bad %d %s" % (len(bad), "; ".join(bad[:10])))
print("wrongpeer %d %s" % (len(wrongpeer), "; ".join(wrongpeer[:10])))
PY
field() { awk -v k="$1" '$1 == k { print $2 }' "$T/tally"; }
detail() { awk -v k="$1" '$1 == k { $1 = ""; $2 = ""; sub(/^  /, ""); print }' "$T/tally"; }
diag "$(field delivered) delivered, $(field bounced) bounced (NDR to the sender)," \
    "$(field dups) duplicates $(detail dups)" \
    "$(field unacked) copies of messages that never got a 250 (session killed after the write)"
is "no acknowledged message was lost" 0 "$(field lost)"
[ "$(field lost)" -eq 0 ] || diag "lost: $(detail lost)" \
    "their log lines:" "$(for q in $(detail lost | grep -o '=[^ ]*' | tr -d = | head -5); do
        grep -h "$q" "$T/pipeline.log"; done | head -40)"
ok "duplicates ($(field dups)) at most one per kill ($kills)" test "$(field dups)" -le "$kills"
is "every copy is the message it should be, signed once, with no SMG- field" 0 "$(field bad)"
[ "$(field bad)" -eq 0 ] || diag "$(detail bad)"
is "ham left from a good gateway, spam from the bad one" 0 "$(field wrongpeer)"
[ "$(field wrongpeer)" -eq 0 ] || diag "$(detail wrongpeer)"
ok "the pipeline still runs" kill -0 "$PIPE_PID"
# scripts/pipeline polls its workers every second
# (a worker may also end by itself, e.g. exit 75 when the loaded machine
# makes a lookup time out; those restarts are shown, not counted)
stage_kills=$(grep -vc '^recv ' "$T/kills")
restarted_all() { [ "$(grep -c 'status 137; restarting' "$T/pipeline.log")" -ge "$stage_kills" ]; }
eventually 50 restarted_all
is "every killed stage worker was restarted" "$stage_kills" \
    "$(grep -c 'status 137; restarting' "$T/pipeline.log")"
diag "$(grep 'exited with status' "$T/pipeline.log" | grep -vc 'status 137;') other restarts" \
    "$(grep 'exited with status' "$T/pipeline.log" | grep -v 'status 137;' | head -5)"
is "no worker ended by itself but for a temporary failure (75): no crash" "" \
    "$(grep 'exited with status' "$T/pipeline.log" | grep -vE 'status (137|75);' | head -5)"
diag "$(grep -c 'status=recovered' "$T/pipeline.log") messages recovered from a cur/ by a restarted worker"
unlike "no stage stopped for a usage or config error" 'usage or config' "$(cat "$T/pipeline.log")"
done_testing
