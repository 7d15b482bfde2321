# scripts/bench.d/pipeline.sh - `scripts/bench pipeline [--quick]`: the
# whole gateway end to end against Postfix with the OpenDKIM and
# clamav-milter milters, relaying the same messages to the same sink.
#
# Sourced by scripts/bench (bash), which provides lib.sh's helpers and
# pf_start/pf_stop (the private Postfix instance of `recv`).  One run:
#   smg:      smtp-source -> smg-recv -> smg-check -> smg-scan -> smg-sign
#             -> smg-route -> smg-send -> smtp-sink, every program started
#             here in watch mode (as scripts/pipeline does), each stage in
#             a cgroup of its own for its CPU time, [spool] sync = yes.
#             Each program's stderr goes through bench.d/stamp.pl, which
#             puts the time to the microsecond before every log line: the
#             latency of a message is the time of smg-send's status=sent
#             line minus that of smg-recv's status=queued line (written
#             just before the 250).  Two passes: the peak (smtp-source,
#             SESSIONS connections at once, as fast as it goes), then the
#             latency pass at half the peak's end-to-end rate
#             (bench.d/rate-source.py, a fixed schedule).
#   Postfix:  a private instance (smtpd -> cleanup -> qmgr -> smtp ->
#             smtp-sink as relayhost) with smtpd_milters = opendkim
#             (signing, the same key) and clamav-milter (clamd, the same
#             signature database); the peak pass only.  Its latency is
#             Postfix's own delay= (from the message's arrival at MAIL
#             FROM to the sink's reply, 10 ms resolution).
# Throughput is end to end: messages delivered over the time from the
# first connection to the last delivery.  Both sides deliver to one
# smtp-sink (not counted).  Same messages: smtp-source -l 5120 from
# bench@example.com to rcpt@example.org, one per connection.  The ClamAV
# database is built here (EICAR and $SMG_BENCH_PIPELINE_SIGS random body
# and MD5 signatures); the DKIM key is a fresh RSA-2048 one.
# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# BENCH_* and SMG_BIN come from scripts/bench and lib.sh.
# shellcheck disable=SC2153

PL_STAGES=(recv check scan sign route send)
# programs, cgroups and (when there are no cgroups) pids by stage name
declare -A PL_BIN PL_CG PL_PIDS

# pl_spawn NAME STAGE LOG CMD... - start CMD in the cgroup of STAGE (if
# there is one), its stderr time-stamped line by line into LOG (appended)
# through a FIFO; add its pid to PL_PIDS[STAGE] and set PL_PID
pl_spawn() {
    local name=$1 cg=${PL_CG[$2]:-} log=$3 fifo stamp_pid stage=$2
    shift 3
    fifo=$BENCH_TMP/pipeline/fifo.$name.$RANDOM
    mkfifo "$fifo"
    perl "$BENCH_D/stamp.pl" <"$fifo" >>"$log" &
    stamp_pid=$!
    at_exit "kill_tree $stamp_pid"
    (
        cg_enter "$cg"
        exec "$@"
    ) </dev/null >/dev/null 2>"$fifo" &
    PL_PID=$!
    PL_PIDS[$stage]="${PL_PIDS[$stage]:-} $PL_PID"
    at_exit "kill_tree $PL_PID"
}

# pl_db DIR - the ClamAV database of both sides
pl_db() {
    local mkmsg=$BENCH_TOP/t/data/scan-mkmsg.py
    "$BENCH_PY" "$mkmsg" sigs "$1" all >/dev/null || die "sigtool cannot build the database"
    "$BENCH_PY" "$mkmsg" bench-sigs "$1" "${SMG_BENCH_PIPELINE_SIGS:-50000}" ||
        die "cannot write the random signatures"
}

# pl_smg_start SINKPORT - the smg gateway: config, spool, every program;
# sets PL_RECV_PORT and PL_DIR
pl_smg_start() {
    local sink=$1 d=$BENCH_TMP/pipeline/smg user=${SMG_BENCH_USER:-nobody}
    local user_line="" i w=${SMG_BENCH_PIPELINE_WORKERS:-2} p
    local sp=${SMG_BENCH_PIPELINE_SEND_PROCESSES:-2}
    PL_DIR=$d
    mkdir -p "$d/spool/check/tmp" "$d/spool/check/new" "$d/spool/check/cur" \
        "$d/state" "$BENCH_MEM/smg-scan"
    if [ "$(id -u)" -eq 0 ]; then
        id "$user" >/dev/null 2>&1 || die "no user $user (SMG_BENCH_USER)"
        user_line="user = $user"
        chown -R "$user" "$d/spool" "$d/state" "$BENCH_MEM/smg-scan"
    fi
    PL_RECV_PORT=$(free_port)
    cat >"$d/smg.conf" <<EOF
[spool]
dir = $d/spool
state_dir = $d/state
sync = ${SMG_BENCH_PIPELINE_SYNC:-yes}
dirsync = ${SMG_BENCH_PIPELINE_DIRSYNC:-auto}
$user_line
[dns]
nameservers = 127.0.0.1:1
timeout = 1
[recv]
hostname = bench.example.net
auth = off
tls = no
sender_domain_check = no
[check]
rules = $BENCH_TOP/data/rules/smg.rules
bayes = no
[scan]
database = $BENCH_TMP/pipeline/db
tmpdir = $BENCH_MEM/smg-scan
hostname = bench.example.net
[sign]
keytable = $BENCH_TMP/pipeline/KeyTable
signingtable = refile:$BENCH_TMP/pipeline/SigningTable
[route]
good = good1
bad = bad1
[gateway good1]
bind = 127.0.0.1
helo = good1.example.net
relay = [127.0.0.1]:$sink
[gateway bad1]
bind = 127.0.0.1
helo = bad1.example.net
relay = [127.0.0.1]:$sink
[send]
processes = $sp
EOF
    for p in "${PL_STAGES[@]}"; do
        cg_new "smg-$p" "PL_CG[$p]"
        : >"$d/log.$p"
    done
    pl_spawn recv recv "$d/log.recv" "${PL_BIN[recv]}" -c "$d/smg.conf" \
        --log stderr --listen "127.0.0.1:$PL_RECV_PORT"
    for p in check scan sign route; do
        for ((i = 1; i <= w; i++)); do
            pl_spawn "$p$i" "$p" "$d/log.$p" "${PL_BIN[$p]}" -c "$d/smg.conf" \
                --log stderr --watch
        done
    done
    for g in good1 bad1; do
        pl_spawn "send-$g" send "$d/log.send" "${PL_BIN[send]}" -c "$d/smg.conf" \
            --log stderr --gateway "$g" --watch
    done
    wait_listen "$PL_RECV_PORT" "" 10 || {
        note "smg-recv did not start; the logs:"
        tail -n 3 "$d"/log.* | sed 's/^/    /' >&2
        return 1
    }
    # the stages have loaded their engines when their logs say nothing new
    sleep 2
}

# pl_smg_sent - number of status=sent lines of smg-send
pl_smg_sent() { grep -c 'status=sent' "$PL_DIR/log.send" || true; }

# pl_pf_sent - number of status=sent lines in the Postfix instance's log
pl_pf_sent() { grep -c 'status=sent' "$PF_DIR/maillog" || true; }

# pl_dead STAGE... - print "STAGE (pid PID)" for the first process of these
# stages that has ended; fail if all live
pl_dead() {
    local p pid
    for p in "$@"; do
        for pid in ${PL_PIDS[$p]:-}; do
            alive "$pid" || { echo "$p (pid $pid)"; return 0; }
        done
    done
    return 1
}

# pl_wait_sent COUNTFN WANT - wait until COUNTFN reaches WANT, for at most
# SMG_BENCH_PIPELINE_TIMEOUT seconds; print the time it did (or the last
# poll); fail on time-out, or at once when a process of the side counted
# has ended (a stage that exits 78 on its config is not restarted here,
# and nothing would ever arrive)
pl_wait_sent() {
    local n=$((${SMG_BENCH_PIPELINE_TIMEOUT:-600} * 20)) dead
    local -a side=(postfix opendkim clamav-milter clamd)
    [ "$1" = pl_smg_sent ] && side=("${PL_STAGES[@]}")
    while (($($1) < $2)); do
        ((n-- > 0)) || { now; return 1; }
        if ((n % 20 == 0)) && dead=$(pl_dead "${side[@]}"); then
            note "$dead has exited; its log is in $BENCH_TMP/pipeline"
            now
            return 1
        fi
        sleep 0.05
    done
    now
}

# pl_cpu STAGE - CPU ns of STAGE: its cgroup, or the sum over its pids
pl_cpu() {
    local pid t=0
    if [ -n "${PL_CG[$1]:-}" ]; then
        cpu_ns "${PL_CG[$1]}" ""
        return
    fi
    for pid in ${PL_PIDS[$1]:-}; do
        t=$((t + $(cpu_ns "" "$pid" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

# pl_cpu_all - print "stage=ns ..." for every stage or component started
pl_cpu_all() {
    local p
    for p in "${!PL_PIDS[@]}"; do
        printf '%s=%s ' "$p" "$(pl_cpu "$p")"
    done
    echo
}

# pl_latency T0 - the latency of every message queued since T0 that was
# sent: "COUNT P50 P99 MAX" in ms
pl_latency() {
    awk -v t0="$1" '
        FNR == NR {
            if ($0 ~ /status=queued/ && $1 >= t0) { id = $3; sub(/:$/, "", id); q[id] = $1 }
            next
        }
        /status=sent/ { id = $3; sub(/:$/, "", id); if (id in q) print ($1 - q[id]) * 1000 }
    ' "$PL_DIR/log.recv" "$PL_DIR/log.send" | sort -n | pl_percentiles
}

# pl_percentiles - numbers on stdin, sorted: "COUNT P50 P99 MAX"
pl_percentiles() {
    awk '{ a[NR] = $1 }
        function rank(p,   i) { i = int(p * NR + 0.999999); return a[i < 1 ? 1 : i] }
        END {
            if (NR == 0) { print "0 0 0 0"; exit }
            printf "%d %.1f %.1f %.1f\n", NR, rank(0.5), rank(0.99), a[NR]
        }'
}

# pl_cpu_rows BEFORE AFTER COUNT LABEL... - one row per cgroup: CPU s and
# ms per message, and the total; sets PL_CPU_TOTAL (ms/msg)
pl_cpu_rows() {
    local before=$1 after=$2 count=$3
    shift 3
    awk -v b="$before" -v a="$after" -v n="$count" -v order="$*" 'BEGIN {
        split(b, bb, " "); for (i in bb) { split(bb[i], kv, "="); B[kv[1]] = kv[2] }
        split(a, aa, " "); for (i in aa) { split(aa[i], kv, "="); A[kv[1]] = kv[2] }
        k = split(order, o, " ")
        for (i = 1; i <= k; i++) {
            u = (A[o[i]] - B[o[i]]) / 1e9; t += u
            printf "    %-15s %9.2f s %9.3f ms/msg\n", o[i], u, (n ? u * 1000 / n : 0)
        }
        printf "    %-15s %9.2f s %9.3f ms/msg\n", "total", t, (n ? t * 1000 / n : 0)
        printf "%.3f\n", (n ? t * 1000 / n : 0) > "/dev/stderr"
    }' 2>"$BENCH_TMP/pipeline/cpu.total"
    PL_CPU_TOTAL=$(cat "$BENCH_TMP/pipeline/cpu.total")
}

# pl_source PORT COUNT LOG - smtp-source, COUNT messages of 5 KB over
# SESSIONS connections at once, one message per connection
pl_source() {
    timeout "${SMG_BENCH_PIPELINE_TIMEOUT:-600}" smtp-source -s "${SMG_BENCH_SESSIONS:-10}" \
        -m "$2" -l 5120 -M client.example.com -f bench@example.com -t rcpt@example.org \
        "127.0.0.1:$1" </dev/null >"$3" 2>&1
}

# pl_smg_peak N - the peak pass through smg; sets PL_RATE, PL_ACC_RATE,
# PL_CPU_TOTAL and prints the rows
pl_smg_peak() {
    local n=$1 s0 t0 ta t1 c0 c1 lat rc=0 sent
    s0=$(pl_smg_sent)
    sync
    c0=$(pl_cpu_all)
    t0=$(now)
    pl_source "$PL_RECV_PORT" "$n" "$BENCH_TMP/pipeline/source.smg.log" || rc=$?
    ta=$(now)
    t1=$(pl_wait_sent pl_smg_sent $((s0 + n))) || {
        note "smg delivered $(($(pl_smg_sent) - s0)) of $n in time"
        PL_FAILED=1
    }
    # the time of the last status=sent line is the end of the run
    t1=$(awk '/status=sent/ { t = $1 } END { print t }' "$PL_DIR/log.send")
    settle "${PL_CG[send]:-}" "${PL_PIDS[send]%% *}"
    c1=$(pl_cpu_all)
    sent=$(($(pl_smg_sent) - s0))
    read -r PL_RATE PL_ACC_RATE < <(awk -v n="$sent" -v t0="$t0" -v ta="$ta" -v t1="$t1" \
        'BEGIN { printf "%.1f %.1f\n", n / (t1 - t0), n / (ta - t0) }')
    lat=$(pl_latency "$t0")
    ((rc == 0)) || { note "smtp-source exited $rc"; tail -n 3 "$BENCH_TMP/pipeline/source.smg.log" >&2; PL_FAILED=1; }
    printf '  peak: %d of %d delivered in %.2f s: %s msg/s end to end (smg-recv accepted them at %s msg/s)\n' \
        "$sent" "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$PL_RATE" "$PL_ACC_RATE"
    pl_lat_row "250 to delivery" "$lat"
    echo "  (at the peak the client outruns the pipeline: the latency is mostly the backlog)"
    printf '  deliveries/s by tenth of the run: %s\n' "$(awk -v t0="$t0" -v t1="$t1" '
        /status=sent/ && $1 >= t0 && $1 <= t1 { b = int(($1 - t0) / (t1 - t0) * 10); c[b > 9 ? 9 : b]++ }
        END { for (i = 0; i < 10; i++) printf "%d ", c[i] / ((t1 - t0) / 10) }' "$PL_DIR/log.send")"
    echo "  CPU by stage (its cgroup; smg-recv includes its session processes):"
    pl_cpu_rows "$c0" "$c1" "$sent" "${PL_STAGES[@]}"
}

# pl_lat_row LABEL "COUNT P50 P99 MAX" - print a latency row
pl_lat_row() {
    local count p50 p99 max
    read -r count p50 p99 max <<<"$2"
    printf '  latency, %s: p50 %s ms, p99 %s ms, max %s ms (%d messages)\n' \
        "$1" "$p50" "$p99" "$max" "$count"
}

# pl_smg_half RATE N - the latency pass at RATE msg/s; sets PL_HALF_P99
pl_smg_half() {
    local rate=$1 n=$2 s0 t0 out lat sent ok secs late
    s0=$(pl_smg_sent)
    t0=$(now)
    out=$("$BENCH_PY" "$BENCH_D/rate-source.py" 127.0.0.1 "$PL_RECV_PORT" "$rate" "$n" 5120 \
        bench@example.com rcpt@example.org 2>"$BENCH_TMP/pipeline/rate-source.err") ||
        { note "rate-source.py failed: $(tail -n 3 "$BENCH_TMP/pipeline/rate-source.err")"; PL_FAILED=1; }
    read -r sent ok secs late <<<"$out"
    pl_wait_sent pl_smg_sent $((s0 + ${ok:-0})) >/dev/null ||
        { note "smg delivered $(($(pl_smg_sent) - s0)) of $ok in time"; PL_FAILED=1; }
    lat=$(pl_latency "$t0")
    printf '  half rate: %s of %s messages accepted at %s msg/s (%.2f s; client lag p99 %s ms)\n' \
        "${ok:-0}" "$n" "$rate" "${secs:-0}" "${late:-?}"
    pl_lat_row "250 to delivery" "$lat"
    read -r _ _ PL_HALF_P99 _ <<<"$lat"
}

# pl_pf_start SINKPORT - Postfix with the opendkim and clamav-milter
# milters, relaying to the sink; sets PL_PF_PIDS (name=pid ...)
pl_pf_start() {
    local sink=$1 d=$BENCH_TMP/pipeline/pf n=100
    mkdir -p "$d" "$BENCH_MEM/clamd"
    chmod 755 "$d"
    # clamd and clamav-milter
    cat >"$d/clamd.conf" <<EOF
Foreground yes
LocalSocket $d/clamd.sock
DatabaseDirectory $BENCH_TMP/pipeline/db
TemporaryDirectory $BENCH_MEM/clamd
LogFile $d/clamd.log
SelfCheck 3600
EOF
    cat >"$d/clamav-milter.conf" <<EOF
Foreground yes
MilterSocket unix:$d/clamav-milter.sock
MilterSocketMode 666
FixStaleSocket yes
PidFile $d/clamav-milter.pid
ClamdSocket unix:$d/clamd.sock
OnClean Accept
OnInfected Reject
OnFail Defer
AddHeader Replace
LogFile $d/clamav-milter.log
EOF
    cat >"$d/opendkim.conf" <<EOF
Syslog no
Mode s
Canonicalization relaxed/relaxed
KeyTable file:$BENCH_TMP/pipeline/KeyTable
SigningTable refile:$BENCH_TMP/pipeline/SigningTable
OversignHeaders From
Socket local:$d/opendkim.sock
PidFile $d/opendkim.pid
UMask 000
InternalHosts 127.0.0.1
RequireSafeKeys false
EOF
    cg_new clamd "PL_CG[clamd]"
    cg_new clamav-milter "PL_CG[clamav-milter]"
    cg_new opendkim "PL_CG[opendkim]"
    pl_spawn clamd clamd "$d/clamd.out" clamd -c "$d/clamd.conf"
    while ! [ -S "$d/clamd.sock" ] && ((n-- > 0)); do
        alive "$PL_PID" || break
        sleep 0.1
    done
    clamdscan -c "$d/clamd.conf" --ping 3 >/dev/null 2>&1 ||
        { note "clamd did not start: $(tail -n 5 "$d/clamd.out")"; return 1; }
    pl_spawn clamav-milter clamav-milter "$d/clamav-milter.out" \
        clamav-milter -c "$d/clamav-milter.conf"
    pl_spawn opendkim opendkim "$d/opendkim.out" opendkim -f -x "$d/opendkim.conf"
    n=100
    while ! { [ -S "$d/clamav-milter.sock" ] && [ -S "$d/opendkim.sock" ]; } && ((n-- > 0)); do
        sleep 0.1
    done
    [ -S "$d/clamav-milter.sock" ] ||
        { note "clamav-milter did not start: $(tail -n 5 "$d/clamav-milter.out" "$d/clamav-milter.log")"; return 1; }
    [ -S "$d/opendkim.sock" ] ||
        { note "opendkim did not start: $(tail -n 5 "$d/opendkim.out")"; return 1; }
    local PF_MAIN_EXTRA PF_MASTER_EXTRA
    PF_MAIN_EXTRA="# scripts/bench pipeline: deliver (no hold), with the milters
smtpd_recipient_restrictions =
smtpd_milters = unix:$d/opendkim.sock, unix:$d/clamav-milter.sock
milter_default_action = tempfail
relayhost = [127.0.0.1]:$sink
smtp_bind_address = 127.0.0.1
smtp_tls_security_level = none
"
    PF_MASTER_EXTRA='smtp      unix  -       -       n       -       -       smtp
'
    pf_start || return 1
    PL_CG[postfix]=$PF_CG
    PL_PIDS[postfix]=$PF_PID
    sleep 1
}

# pl_pf_peak N - the peak pass through Postfix; sets PL_PF_RATE, PL_CPU_TOTAL
pl_pf_peak() {
    local n=$1 s0 t0 ta t1 c0 c1 sent rc=0 lat
    s0=$(pl_pf_sent)
    sync
    c0=$(pl_cpu_all)
    t0=$(now)
    pl_source "$PF_PORT" "$n" "$BENCH_TMP/pipeline/source.pf.log" || rc=$?
    ta=$(now)
    t1=$(pl_wait_sent pl_pf_sent $((s0 + n))) || {
        note "Postfix delivered $(($(pl_pf_sent) - s0)) of $n in time"
        grep -E 'status=(deferred|bounced)|warning|fatal' "$PF_DIR/maillog" | tail -n 3 >&2
        PL_FAILED=1
    }
    settle "${PL_CG[postfix]}" "$PF_PID"
    c1=$(pl_cpu_all)
    sent=$(($(pl_pf_sent) - s0))
    read -r PL_PF_RATE PL_PF_ACC_RATE < <(awk -v n="$sent" -v t0="$t0" -v ta="$ta" -v t1="$t1" \
        'BEGIN { printf "%.1f %.1f\n", n / (t1 - t0), n / (ta - t0) }')
    ((rc == 0)) || { note "smtp-source exited $rc"; tail -n 3 "$BENCH_TMP/pipeline/source.pf.log" >&2; PL_FAILED=1; }
    lat=$(grep 'status=sent' "$PF_DIR/maillog" | tail -n "$sent" |
        sed -n 's/.* delay=\([0-9.]*\),.*/\1/p' | awk '{ print $1 * 1000 }' | sort -n |
        pl_percentiles)
    printf '  peak: %d of %d delivered in %.2f s: %s msg/s end to end (smtpd accepted them at %s msg/s)\n' \
        "$sent" "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$PL_PF_RATE" "$PL_PF_ACC_RATE"
    pl_lat_row "Postfix delay= (arrival to delivery)" "$lat"
    echo "  CPU by component (its cgroup; postfix: master, smtpd, cleanup, qmgr, smtp, ...):"
    pl_cpu_rows "$c0" "$c1" "$sent" postfix opendkim clamav-milter clamd
}

# pl_keys - the DKIM key and tables of both sides (d=example.com)
pl_keys() {
    local d=$BENCH_TMP/pipeline
    openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$d/dkim.pem" 2>/dev/null ||
        die "openssl cannot make the DKIM key"
    chmod 600 "$d/dkim.pem"
    echo "bench example.com:bench:$d/dkim.pem" >"$d/KeyTable"
    echo "*@example.com bench" >"$d/SigningTable"
}

# bench_pipeline [--quick] - the whole gateway against Postfix + milters
bench_pipeline() {
    local n=${SMG_BENCH_PIPELINE_MESSAGES:-10000} p pid status=0 sink_port sink_pid half
    local smg_rate=0 smg_cpu=0 pf_rate=0 pf_cpu=0 have_pf=1 why_pf=""
    case ${1:-} in
    --quick) n=${SMG_BENCH_PIPELINE_MESSAGES:-1000} ;;
    "") ;;
    *) note "usage: scripts/bench pipeline [--quick]"; return 64 ;;
    esac
    PL_FAILED=0
    ensure_tools smtp-source smtp-sink ss pgrep perl sigtool openssl mkfifo
    bench_tmpdir
    bench_memdir
    mkdir -p "$BENCH_TMP/pipeline"
    for p in "${PL_STAGES[@]}"; do
        ensure_smg_build "smg-$p"
        [ -n "$SMG_BIN" ] || { note "smg-$p is not available: $SMG_BIN_WHY"; return 1; }
        PL_BIN[$p]=$SMG_BIN
    done
    if [ "$(id -u)" -ne 0 ]; then
        have_pf=0 why_pf="the Postfix reference needs root (postfix start)"
    else
        for p in postfix opendkim clamd clamdscan clamav-milter; do
            command -v "$p" >/dev/null || { have_pf=0 why_pf="$p is not installed"; }
        done
    fi
    note "building the ClamAV database and the DKIM key"
    pl_db "$BENCH_TMP/pipeline/db"
    pl_keys

    sink_port=$(free_port)
    smtp-sink -u "${SMG_BENCH_USER:-nobody}" "127.0.0.1:$sink_port" 256 </dev/null \
        >"$BENCH_TMP/pipeline/sink.log" 2>&1 &
    sink_pid=$!
    at_exit "kill_tree $sink_pid"
    wait_listen "$sink_port" "$sink_pid" 10 ||
        { note "smtp-sink did not start: $(cat "$BENCH_TMP/pipeline/sink.log")"; return 1; }

    echo "== pipeline: the whole gateway end to end, $n messages of 5 KB =="
    echo "client:   smtp-source -s ${SMG_BENCH_SESSIONS:-10} -m $n -l 5120, one message per connection," \
        "no TLS, no AUTH"
    echo "sink:     smtp-sink on 127.0.0.1:$sink_port (keeps nothing; not counted)"
    echo "smg:      smg-recv -> smg-check -> smg-scan -> smg-sign -> smg-route -> smg-send," \
        "watch mode,"
    echo "          ${SMG_BENCH_PIPELINE_WORKERS:-2} workers per stage, smg-send -P" \
        "${SMG_BENCH_PIPELINE_SEND_PROCESSES:-2} per gateway (relay to the sink)," \
        "[spool] sync = ${SMG_BENCH_PIPELINE_SYNC:-yes}," \
        "dirsync = ${SMG_BENCH_PIPELINE_DIRSYNC:-auto} ($(dirsync_what "$BENCH_TMP" "${SMG_BENCH_PIPELINE_DIRSYNC:-auto}"))"
    echo "          check: rules, no Bayes; scan: libclamav; sign: RSA-2048 (d=example.com)"
    echo "postfix:  $(postconf -d -h mail_version 2>/dev/null || echo '?'), private instance," \
        "smtpd_milters = opendkim $(opendkim -V 2>/dev/null | head -1 | awk '{ print $NF }')" \
        "(RSA-2048) + clamav-milter -> clamd $(clamd --version 2>/dev/null | sed 's|ClamAV \([^/]*\).*|\1|'),"
    echo "          relayhost = the sink; no spam filter (smg's side scores spam as well)"
    echo "clamav:   $(cat "$BENCH_TMP/pipeline/db"/*.?db | wc -l) signatures on both sides" \
        "(EICAR, a body signature and random body/MD5 signatures; synthetic)"
    echo "disk:     $(fs_type "$BENCH_TMP") at $BENCH_TMP:" \
        "$(fsync_rate "$BENCH_TMP/fsync" 1000 5120) fsync'd 5 KB files/s;" \
        "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "          libclamav's temporary files (smg-scan's tmpdir, clamd's TemporaryDirectory):" \
        "$(fs_type "$BENCH_MEM") at $BENCH_MEM"
    echo

    echo "smg:"
    pl_smg_start "$sink_port" || return 1
    echo "  CPU: $(cpu_method "${PL_CG[recv]}"), one per stage or component"
    pl_source "$PL_RECV_PORT" 200 "$BENCH_TMP/pipeline/warm.smg.log"
    pl_wait_sent pl_smg_sent 200 >/dev/null || { note "smg did not deliver the warm-up messages"; PL_FAILED=1; }
    echo "  warm-up: 200 messages, not counted"
    pl_smg_peak "$n"
    smg_rate=$PL_RATE smg_cpu=$PL_CPU_TOTAL
    half=$(awk -v r="$smg_rate" 'BEGIN { printf "%.1f", r / 2 }')
    pl_smg_half "$half" $((n / 2))
    if grep -qE ': (fatal|panic|error): ' "$PL_DIR"/log.*; then
        echo "  smg logged problems; the first ones:"
        grep -hE ': (fatal|panic|error): ' "$PL_DIR"/log.* | head -n 5 | sed 's/^/    /'
        PL_FAILED=1
    fi
    # stop smg before Postfix runs, so that they do not share the CPUs
    for p in "${PL_STAGES[@]}"; do
        for pid in ${PL_PIDS[$p]}; do kill_tree "$pid"; done
    done
    echo

    echo "postfix + opendkim + clamav-milter:"
    if ((have_pf)) && pl_pf_start "$sink_port"; then
        pl_source "$PF_PORT" 200 "$BENCH_TMP/pipeline/warm.pf.log"
        pl_wait_sent pl_pf_sent 200 >/dev/null || { note "Postfix did not deliver the warm-up messages"; PL_FAILED=1; }
        echo "  warm-up: 200 messages, not counted"
        pl_pf_peak "$n"
        pf_rate=$PL_PF_RATE pf_cpu=$PL_CPU_TOTAL
    else
        [ -n "$why_pf" ] && note "no Postfix reference: $why_pf"
        have_pf=0 status=1
    fi
    echo

    echo "summary:"
    awk -v rs="$smg_rate" -v rp="$pf_rate" -v cs="$smg_cpu" -v cp="$pf_cpu" \
        -v p99="$PL_HALF_P99" -v half="$half" 'BEGIN {
        printf "  end to end: smg %s msg/s, postfix stack %s msg/s: x%s (target x3)\n", rs, rp,
            (rp > 0 ? sprintf("%.2f", rs / rp) : "-")
        printf "  CPU per message: smg %s ms, postfix stack %s ms: x%s (below 1: smg is cheaper)\n", cs, cp,
            (cp > 0 ? sprintf("%.2f", cs / cp) : "-")
        printf "  p99 from 250 to delivery at half the peak rate (%s msg/s): %s ms (target under 1000 ms)\n",
            half, p99
        printf "  targets: x3 throughput %s; p99 under 1 s at half rate %s\n",
            (rp > 0 ? (rs >= 3 * rp ? "met" : "NOT met") : "not measured"),
            (p99 != "" && p99 + 0 < 1000 ? "met" : "NOT met") }'
    echo "  load after the runs: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs" \
        "(a shared machine makes every figure lower and noisier)"
    ((PL_FAILED == 0)) || status=1
    return "$status"
}
