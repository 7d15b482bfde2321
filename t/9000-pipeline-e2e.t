#!/bin/bash
# 9000-pipeline-e2e.t - the whole gateway, through the real programs run by
# scripts/pipeline: a customer's message sent with swaks over STARTTLS and
# AUTH leaves DKIM-signed (verified by dkimpy) from a good gateway address;
# spam leaves from the bad gateway address; a virus never arrives and its
# sender gets an NDR; an unresolvable sender domain gets 550 at MAIL FROM;
# the rate limit gives 451; a forced-TLS pair towards a clear-text
# receiver is bounced and nothing travels in clear.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/peers.sh"
. "$srcdir/t/lib/recv.sh"
. "$srcdir/t/lib/sign.sh"
. "$srcdir/t/lib/gateway.sh"
MKMSG="$srcdir/t/data/scan-mkmsg.py"

# "the Internet": DNS, and receiving MTAs on 127.0.0.x
{
    gw_zone_base
    cat <<'Z'
tlsonly.test. MX 10 mx.tlsonly.test.
mx.tlsonly.test. A 127.0.0.11
Z
} >"$T/zone"
start_dns "$T/zone"
peer_port
start_mta rcpt 127.0.0.10
start_mta clear 127.0.0.11
start_mta senderbox 127.0.0.1

# the gateway's own files and config
gw_files
echo "sender.test tlsonly.test encrypt reject" >"$T/tls_policy"
echo "customer2 3/min" >"$T/ratelimits"
gw_conf <<EOF2
recv.rate_limit_table = $T/ratelimits
send.tls_policy = $T/tls_policy
EOF2
gw_start

send() {
    swaks --server 127.0.0.1 --port "$RECV_PORT" -tls --auth PLAIN \
        --auth-user "${USER_:-customer1}" --auth-password "${PASS_:-secret1}" \
        --helo client.test --timeout 20 "$@" 2>&1
}
# wait_for NAME N - wait up to 30 s until peer NAME has N messages
wait_for() {
    eventually 300 has_received "$1" "$2"
}
has_received() { [ "$(received "$1")" -ge "$2" ]; }
newest() { ls -t "$PEERS_DIR/$1"/* 2>/dev/null | grep -v '\.log$' | head -1; }

# 1. clean mail: signed, from a good gateway
out=$(send --from user@sender.test --to a@rcpt.test --header "Subject: hello" \
    --body "A perfectly ordinary message about the meeting tomorrow.")
like "clean mail accepted" '250 2.0.0 Ok: queued as' "$out"
ok "clean mail arrives at the recipient's MX" wait_for rcpt 1
f=$(newest rcpt)
like "it came from a good gateway address" '^X-Peer: 127\.0\.0\.[23]$' "$(cat "$f")"
like "it carries a DKIM signature for sender.test" '^DKIM-Signature: .*d=sender\.test' "$(cat "$f")"
like "dkimpy verifies it" "^pass a=rsa-sha256 d=sender.test" "$(verify_py "$f" | head -1)"
unlike "no SMG- field left the gateway" '^SMG-' "$(cat "$f")"
like "the gateway's Received: field is there" 'by out.test \(smg\) with ESMTPSA' "$(cat "$f")"

# 2. spam: from the bad gateway
out=$(send --from user@sender.test --to b@rcpt.test --header "Subject: offer" \
    --body 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X')
like "spam accepted by smg-recv" '250 2.0.0 Ok: queued as' "$out"
ok "spam arrives" wait_for rcpt 2
f=$(newest rcpt)
like "spam came from the bad gateway address" '^X-Peer: 127\.0\.0\.4$' "$(cat "$f")"

# 3. a virus never arrives; its sender gets an NDR
$PY3 "$MKMSG" eicar-b64 >"$T/virus.eml" || bail "cannot make the virus message"
out=$(send --from user@sender.test --to c@rcpt.test --data "@$T/virus.eml")
like "virus accepted by smg-recv (scanned after)" '250 2.0.0 Ok: queued as' "$out"
ok "the sender receives an NDR" wait_for senderbox 1
f=$(newest senderbox)
like "the NDR is a delivery-status report" 'report-type=delivery-status' "$(cat "$f")"
like "the NDR names the virus" '[Vv]irus|Eicar|EICAR' "$(cat "$f")"
like "the NDR went to the sender" '^X-Rcpt-To: user@sender.test$' "$(cat "$f")"
is "the virus did not reach the recipient" 2 "$(received rcpt)"
ok "the virus is in quarantine" test "$(find "$SPOOL/quarantine" -type f | wc -l)" -ge 1

# 4. unresolvable sender domain
out=$(send --from user@nowhere.test --to a@rcpt.test)
like "unresolvable sender domain: 550 5.1.8" '550 5.1.8 Sender Domain must resolve' "$out"

# 5. the rate limit
res=""
for i in 1 2 3 4; do
    res="$res $(USER_=customer2 PASS_=secret2 send --from user@sender.test --to d@rcpt.test \
        | grep -Eo '(250 2.0.0 Ok: queued|451 4.7.1 Ratelimit reached)' | head -1 | cut -c1-3)"
done
is "customer2 at 3/min: three accepted, the fourth 451" " 250 250 250 451" "$res"

# 6. forced TLS towards a clear-text receiver: bounced, nothing in clear
out=$(send --from user@sender.test --to x@tlsonly.test --header "Subject: secret")
like "forced-TLS message accepted" '250 2.0.0 Ok: queued as' "$out"
ok "its sender gets an NDR" wait_for senderbox 2
f=$(newest senderbox)
like "the NDR says TLS could not be established" 'TLS' "$(cat "$f")"
is "the clear-text receiver got no message" 0 "$(received clear)"
unlike "not even a MAIL FROM in clear" 'MAIL|mail from' "$(cat "$PEERS_DIR/clear/sessions.log" 2>/dev/null)"

ok "every stage ran: no stage restarted" test "$(grep -c 'restarting' "$T/pipeline.log")" -eq 0

# 7. a second pipeline on the address the first one listens on stops at
# once (it restarted its smg-recv every second for ever, which could not
# listen there, while its workers shared the spool)
rc=0
timeout 20 "$srcdir/scripts/pipeline" -c "$T/smg.conf" -b "$SMG_BIN" \
    -l "127.0.0.1:$RECV_PORT" 2>"$T/pipeline2.log" || rc=$?
is "a pipeline on a taken address exits 69" 69 "$rc"
like "it says the address is in use" "pipeline: 127\.0\.0\.1:$RECV_PORT is already in use" \
    "$(cat "$T/pipeline2.log")"
unlike "it started no program" 'running|restarting' "$(cat "$T/pipeline2.log")"
ok "the first pipeline still runs" kill -0 "$PIPE_PID"

# 8. a config whose path has a blank: every program gets the path whole (it
# was split into two arguments, and every program exited 64)
mkdir -p "$T/with blank"
cp "$T/smg.conf" "$T/with blank/smg.conf"
port3=$(free_port)
"$srcdir/scripts/pipeline" -c "$T/with blank/smg.conf" -b "$SMG_BIN" -l "127.0.0.1:$port3" \
    2>"$T/pipeline3.log" &
pid3=$!
at_exit "kill $pid3 2>/dev/null; wait $pid3 2>/dev/null"
ok "a pipeline with a blank in its config's path listens" wait_port "$port3"
banner=$(timeout 5 $PY3 -c "import socket,sys; s = socket.create_connection(('127.0.0.1', $port3), 5); print(s.recv(512).decode().strip())")
like "its smg-recv answers" '^220 ' "$banner"
sleep 1 # the pipeline polls its programs every second
kill -TERM "$pid3"
wait "$pid3"
is "it stops cleanly" 0 $?
unlike "no program of it exited" 'exited with status' "$(cat "$T/pipeline3.log")"

# 9. a program that stops the pipeline for a config error (here smg-send
# of a gateway with neither bind nor relay, which smg-recv -n does not
# check) makes the pipeline exit with its status, 78 (it exited 0, so
# scripts/run and any caller saw a clean stop); with its own spool and
# state, so that it takes none of the first pipeline's mail
mkdir -p "$T/spool4" "$T/state4"
sed -e 's/^\[gateway mta01\]$/[gateway nobind]\nhelo = nobind.example.net\n&/' \
    -e "s|^dir *=.*|dir = $T/spool4|" -e "s|^state_dir *=.*|state_dir = $T/state4|" \
    "$T/smg.conf" >"$T/with blank/bad.conf"
port4=$(free_port)
rc=0
timeout 20 "$srcdir/scripts/pipeline" -c "$T/with blank/bad.conf" -b "$SMG_BIN" \
    -l "127.0.0.1:$port4" 2>"$T/pipeline4.log" || rc=$?
is "a pipeline stopped by a config error exits 78" 78 "$rc"
like "it says why it stopped" 'exited with status 78 \(usage or config\): stopping' \
    "$(cat "$T/pipeline4.log")"
done_testing
