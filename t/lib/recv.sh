# recv.sh - start smg-recv for a shell test (sourced after tap.sh).
#
# make_tls      self-signed certificate and key in $T/tls/
# make_creds    $T/credentials with customer1:secret1 and customer2:secret2
# write_conf    $T/smg.conf from the defaults plus extra lines on stdin,
#               inserted in their [group]s ("group.key = value" lines)
# start_recv    smg-recv --listen 127.0.0.1:$RECV_PORT, log in $T/recv.log
#               (run by the command in the array RECV_WRAP, when set)
# queued        number of files in the spool's check/new
# trace_recv F SYSCALLS  strace the listener and its workers into F
# untrace_recv  stop that strace and wait for it
#
# SPDX-License-Identifier: MIT

SMG_RECV="$SMG_BIN/smg-recv"
SPOOL="$T/spool"

make_tls() {
    mkdir -p "$T/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=out.test" \
        -addext "subjectAltName=DNS:out.test" \
        -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" >/dev/null 2>&1 \
        || bail "openssl cannot make a test certificate"
}

make_creds() {
    {
        echo "# test customers"
        printf 'customer1:%s\n' "$(mkpasswd -m sha-512 secret1)"
        printf 'customer2:%s\n' "$(mkpasswd -m yescrypt secret2)"
    } >"$T/credentials"
    chmod 600 "$T/credentials"
}

# write_conf - "group.key = value" lines on stdin override the defaults
write_conf() {
    cat >"$T/conf.overrides"
    $PY3 - "$T" "${DNS_PORT:-}" "$srcdir" <<'PY'
import sys
t, dns_port = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3] + "/t/lib")
import smgconf
conf = {
    "spool": {"dir": t + "/spool", "state_dir": t + "/state", "user": "root"},
    "dns": {"timeout": "1", "attempts": "1"},
    "recv": {"hostname": "out.test", "tls_cert": t + "/tls/cert.pem",
             "tls_key": t + "/tls/key.pem", "credentials": t + "/credentials",
             "auth_failure_delay": "0"},
}
if dns_port:
    conf["dns"]["nameservers"] = "127.0.0.1:" + dns_port
else:
    conf["recv"]["sender_domain_check"] = "no"
smgconf.write(conf, t + "/conf.overrides", t + "/smg.conf")
PY
}

RECV_WRAP=()

# start_recv - start the listener; RECV_PORT is exported; the array
# RECV_WRAP, when set, is the command that runs it (a seccomp filter)
start_recv() {
    RECV_PORT=$(free_port)
    export RECV_PORT
    "${RECV_WRAP[@]}" "$SMG_RECV" -c "$T/smg.conf" --log stderr --listen "127.0.0.1:$RECV_PORT" \
        2>>"$T/recv.log" &
    RECV_PID=$!
    at_exit "kill $RECV_PID 2>/dev/null; wait $RECV_PID 2>/dev/null"
    wait_port "$RECV_PORT" || bail "smg-recv did not start: $(cat "$T/recv.log")"
}

stop_recv() {
    kill "$RECV_PID" 2>/dev/null
    wait "$RECV_PID" 2>/dev/null
}

queued() {
    count_files "$SPOOL/check/new"
}

# swaks_to - swaks against our smg-recv, quiet unless it matters
swaks_to() {
    swaks --server 127.0.0.1 --port "$RECV_PORT" --helo client.test \
        --timeout 20 "$@" 2>&1
}

# trace_recv FILE SYSCALLS - strace (-f) the listener and every worker it
# has, the system calls SYSCALLS (strace's -e trace= list), into FILE;
# returns once strace has attached to them all, or 1 with TRACE_WHY set
# where it cannot (no strace, ptrace not allowed)
trace_recv() {
    local args i try pid all
    TRACE_WHY=""
    if ! command -v strace >/dev/null; then
        TRACE_WHY="strace is not installed (scripts/deps installs it)"
        return 1
    fi
    for try in 1 2 3; do
        args=()
        for pid in $RECV_PID $(pgrep -P "$RECV_PID"); do args+=(-p "$pid"); done
        strace -f -qq -s 256 -e trace="$2" -o "$1" "${args[@]}" 2>"$1.err" &
        TRACE_PID=$!
        at_exit "kill $TRACE_PID 2>/dev/null"
        # strace -qq says nothing on attaching: a traced process shows
        # TracerPid in its status.  All of them, the listener's workers
        # as they are now: one forked before strace had the listener
        # would not be followed.
        for i in $(seq 50); do
            all=1
            for pid in $RECV_PID $(pgrep -P "$RECV_PID"); do
                grep -q "^TracerPid:[[:space:]]*$TRACE_PID\$" "/proc/$pid/status" 2>/dev/null \
                    || all=0
            done
            ((all)) && return 0
            kill -0 "$TRACE_PID" 2>/dev/null || break
            sleep 0.1
        done
        untrace_recv
    done
    TRACE_WHY="strace cannot attach to smg-recv: $(head -n 1 "$1.err")"
    return 1
}

# untrace_recv - stop trace_recv's strace (detaching) and wait for it
untrace_recv() {
    kill -INT "$TRACE_PID" 2>/dev/null
    wait "$TRACE_PID" 2>/dev/null
}
