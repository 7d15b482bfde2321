# scripts/bench.d/send.sh - `scripts/bench send`: outbound delivery rate of
# smg-send against Postfix's smtp client, both relaying the same number
# of 5 KB messages to one smtp-sink on 127.0.0.1.
#
# Sourced by scripts/bench (bash), which provides lib.sh's helpers and
# pf_start/pf_count (the private Postfix instance of `recv`).  Both sides
# start with every message already in their queue and are timed until the
# queue is empty:
#   smg-send:  the messages are written straight into send.bench/new (as
#              smg-route would leave them); `smg-send --spool -P N` runs
#              until it has delivered them all (one gateway, relay to the
#              sink, [spool] sync = yes);
#   Postfix:   the messages are injected with smtp-source into the private
#              instance, which holds them (check_client_access static:HOLD);
#              then relayhost is pointed at the sink, they are released
#              (postsuper -H ALL, postqueue -f) and the time runs until
#              the queue is empty.  Postfix's defaults for concurrency
#              (20 per destination) and connection reuse apply.
# CPU is that of the sender's processes (a cgroup each), not the sink's.
# SPDX-License-Identifier: MIT
# shellcheck shell=bash

# send_gen DIR N SIZE - write N spool files of about SIZE bytes to
# DIR/send.bench/new
send_gen() {
    "$BENCH_PY" - "$1" "$2" "$3" <<'PY'
import os, sys
spool, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = os.path.join(spool, "send.bench")
for s in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(q, s), exist_ok=True)
line = "x" * 75 + "\n"
body = line * max(1, (size - 200) // 76)
pid = os.getpid()
for i in range(n):
    mid = "BENCH%dX%07d" % (pid, i)
    with open(os.path.join(q, "new", mid), "w") as f:
        f.write("SMG-Queue-ID: %s\nSMG-Sender: <bench@example.com>\n"
                "SMG-Recipient: <rcpt@example.org>\n"
                "SMG-Arrival: 2026-11-22T05:00:00Z\n"
                "SMG-Route: pool=good gateway=bench reason=ham\n"
                "From: <bench@example.com>\nTo: <rcpt@example.org>\n"
                "Subject: bench %d\nMessage-ID: <%s@example.com>\n\n%s"
                % (mid, i, mid, body))
PY
}

# send_smg_run N PROCS - deliver N messages with smg-send; prints its row
# and sets RUN_RATE and RUN_CPU
send_smg_run() {
    local n=$1 p=$2 dir=$BENCH_TMP/smgsend t0 t1 u0 u1 sent left rc=0
    discard "$dir/spool"
    send_gen "$dir/spool" "$n" 5120
    [ -n "$SEND_USER" ] && chown -R "$SEND_USER" "$dir/spool"
    sync
    u0=$(cpu_ns "$SEND_CG" "$$")
    t0=$(now)
    (
        cg_enter "$SEND_CG"
        exec timeout "${SMG_BENCH_TIMEOUT:-150}" "$SMG_BIN" -c "$dir/smg.conf" \
            --gateway bench --spool -P "$p" --log stderr
    ) </dev/null 2>"$dir/send.log" || rc=$?
    t1=$(now)
    u1=$(cpu_ns "$SEND_CG" "$$")
    sent=$(grep -c 'status=sent' "$dir/send.log" || true)
    left=$(count_files "$dir/spool/send.bench" "$dir/spool/deferred.bench")
    read -r RUN_RATE RUN_CPU < <(awk -v a="$sent" -v t0="$t0" -v t1="$t1" \
        -v u=$((u1 - u0)) 'BEGIN { printf "%.1f %.3f\n", a / (t1 - t0), a ? u / 1e6 / a : 0 }')
    printf '%-22s %6d/%-6d %8.2f %9.1f %10.3f\n' "smg-send -P $p" "$sent" "$n" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$RUN_RATE" "$RUN_CPU"
    if ((rc != 0 || left > 0)); then
        printf '        exit %d, %d messages left; first problems:\n' "$rc" "$left"
        grep -vE 'status=sent|: removed$|: from=' "$dir/send.log" | head -n 5 | sed 's/^/          /'
        RUN_FAILED=1
    fi
}

# send_pf_wait_count N SECONDS - wait until Postfix holds N messages
send_pf_wait_count() {
    local want=$1 n=$(($2 * 10))
    while ((n-- > 0)); do
        (($(pf_count) >= want)) && return 0
        sleep 0.1
    done
    return 1
}

# send_pf_inject N - queue N messages of 5 KB in Postfix (held)
send_pf_inject() {
    local before
    before=$(pf_count)
    smtp-source -s 10 -m "$1" -l 5120 -M client.example.com -f bench@example.com \
        -t rcpt@example.org "127.0.0.1:$PF_PORT" </dev/null >"$BENCH_TMP/source.send.log" 2>&1 ||
        return 1
    send_pf_wait_count $((before + $1)) 60
}

# send_pf_run N - release N held messages and time until the queue is
# empty; prints the row and sets RUN_RATE and RUN_CPU
send_pf_run() {
    local n=$1 t0 t1 u0 u1 s0 s1 left k=0
    s0=$(grep -c 'status=sent' "$PF_DIR/maillog" || true)
    u0=$(cpu_ns "$PF_CG" "$PF_PID")
    t0=$(now)
    postsuper -c "$PF_DIR/etc" -H ALL >/dev/null 2>&1
    postqueue -c "$PF_DIR/etc" -f >/dev/null 2>&1
    while (($(pf_count) > 0)) && ((k++ < ${SMG_BENCH_TIMEOUT:-150} * 10)); do
        sleep 0.1
    done
    t1=$(now)
    settle "$PF_CG" "$PF_PID"
    u1=$(cpu_ns "$PF_CG" "$PF_PID")
    sleep 0.5 # postlogd writes the last lines
    s1=$(grep -c 'status=sent' "$PF_DIR/maillog" || true)
    left=$(pf_count)
    read -r RUN_RATE RUN_CPU < <(awk -v a=$((s1 - s0)) -v t0="$t0" -v t1="$t1" \
        -v u=$((u1 - u0)) 'BEGIN { printf "%.1f %.3f\n", a / (t1 - t0), a ? u / 1e6 / a : 0 }')
    printf '%-22s %6d/%-6d %8.2f %9.1f %10.3f\n' "postfix smtp" $((s1 - s0)) "$n" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$RUN_RATE" "$RUN_CPU"
    if ((left > 0)); then
        printf '        %d messages left in the queue; the log says:\n' "$left"
        grep -E 'status=(deferred|bounced)|warning|fatal' "$PF_DIR/maillog" | tail -n 3 |
            sed 's/^/          /'
        RUN_FAILED=1
    fi
}

# bench_send - smg-send and Postfix's smtp client to the same smtp-sink
bench_send() {
    local n=${SMG_BENCH_SEND_MESSAGES:-10000} procs=${SMG_BENCH_SEND_PROCESSES:-4}
    local dir sink_port sink_pid have_smg=0 have_pf=0 why_pf="" status=0
    local user=${SMG_BENCH_USER:-nobody} user_line="" rs=0 rp=0 cs=0 cp=0

    ensure_tools smtp-sink smtp-source ss pgrep
    bench_tmpdir
    RUN_FAILED=0 SEND_CG="" PF_CG="" SEND_USER=""
    ensure_smg_build smg-send
    [ -n "$SMG_BIN" ] || { note "smg-send is not available: $SMG_BIN_WHY"; status=1; }
    if [ "$(id -u)" -ne 0 ]; then
        why_pf="the Postfix reference needs root (postfix start)"
    elif ! command -v postfix >/dev/null || ! id postfix >/dev/null 2>&1; then
        why_pf="postfix (and its mail_owner user postfix) is not installed"
    fi

    # the sink both senders deliver to
    sink_port=$(free_port)
    smtp-sink -u "$user" "127.0.0.1:$sink_port" 256 </dev/null >"$BENCH_TMP/sink.log" 2>&1 &
    sink_pid=$!
    at_exit "kill_tree $sink_pid"
    wait_listen "$sink_port" "$sink_pid" 10 ||
        { note "smtp-sink did not start: $(cat "$BENCH_TMP/sink.log")"; return 1; }

    echo "== send: outbound delivery of $n messages of 5 KB, one recipient each =="
    echo "sink:     smtp-sink on 127.0.0.1:$sink_port (PIPELINING; it keeps nothing)"
    echo "smg-send: ${SMG_BIN:-not available ($SMG_BIN_WHY)}"
    echo "          one gateway relaying to the sink, --spool -P $procs, [spool] sync = yes,"
    echo "          messages already in send.bench/new; timed until it exits"
    echo "postfix:  $(postconf -d -h mail_version 2>/dev/null || echo '?'), private instance," \
        "relayhost = the sink, default concurrency"
    echo "          messages injected and held first, then released; timed until the queue is empty"
    echo "disk:     $(fs_type "$BENCH_TMP") at $BENCH_TMP"
    echo

    if [ -n "$SMG_BIN" ]; then
        dir=$BENCH_TMP/smgsend
        mkdir -p "$dir/state"
        if [ "$(id -u)" -eq 0 ]; then
            if id "$user" >/dev/null 2>&1; then
                user_line="user = $user"
                SEND_USER=$user
                chown "$user" "$dir/state"
            else
                note "no user $user (SMG_BENCH_USER)"
                status=1
            fi
        fi
        cat >"$dir/smg.conf" <<EOF
[spool]
dir = $dir/spool
state_dir = $dir/state
sync = yes
$user_line
[dns]
nameservers = 127.0.0.1
[gateway bench]
bind = 127.0.0.1
helo = bench.example.net
relay = [127.0.0.1]:$sink_port
[send]
bounce_queue = sign
EOF
        cg_new smgsend SEND_CG
        have_smg=1
    fi
    if [ -z "$why_pf" ] && pf_start; then
        # the recv instance, plus delivery: smtp to the sink as relayhost
        cat >>"$PF_DIR/etc/main.cf" <<EOF
relayhost = [127.0.0.1]:$sink_port
smtp_bind_address = 127.0.0.1
smtp_tls_security_level = none
EOF
        printf 'smtp      unix  -       -       n       -       -       smtp\n' \
            >>"$PF_DIR/etc/master.cf"
        if postfix -c "$PF_DIR/etc" reload >/dev/null 2>&1; then
            have_pf=1
        else
            note "postfix reload failed"
            status=1
        fi
    elif [ -n "$why_pf" ]; then
        note "no Postfix reference: $why_pf"
        status=1
    else
        status=1
    fi
    ((have_smg || have_pf)) || { note "nothing to measure"; return 1; }
    echo "CPU:      $(cpu_method "${SEND_CG:-${PF_CG:-}}"), the sender's processes only"
    echo

    # warm-up, not counted: processes, caches, the first queue entries
    if ((have_smg)); then
        send_smg_run 200 "$procs" >/dev/null
    fi
    if ((have_pf)); then
        if send_pf_inject 200; then
            send_pf_run 200 >/dev/null
        else
            note "Postfix did not queue the warm-up messages"
            have_pf=0 status=1
        fi
    fi
    RUN_FAILED=0
    echo "warm-up:  200 messages through each, not counted"
    echo
    if ((have_pf)) && ! send_pf_inject "$n"; then
        note "Postfix did not queue $n messages (it has $(pf_count))"
        have_pf=0 status=1
    fi
    printf '%-22s %-13s %8s %9s %10s\n' sender delivered seconds msg/s "CPU ms/msg"
    if ((have_smg)); then
        send_smg_run "$n" "$procs"
        rs=$RUN_RATE cs=$RUN_CPU
    fi
    if ((have_pf)); then
        send_pf_run "$n"
        rp=$RUN_RATE cp=$RUN_CPU
    fi
    if ((have_smg && have_pf)); then
        awk -v rs="$rs" -v rp="$rp" -v cs="$cs" -v cp="$cp" 'BEGIN {
            printf "%-22s %-13s %8s %9s %10s\n", "smg/postfix", "", "",
                (rp > 0 && rs > 0 ? sprintf("x%.2f", rs / rp) : "-"),
                (cp > 0 && cs > 0 ? sprintf("x%.2f", cs / cp) : "-") }'
        echo "(msg/s above x1: smg-send is faster; CPU below x1: it is cheaper; target x2 or more)"
    fi
    ((RUN_FAILED == 0)) || status=1
    return "$status"
}
