# recv.sh - start smg-recv for a shell test (sourced after tap.sh).
#
# make_tls      self-signed certificate and key in $T/tls/
# make_creds    $T/credentials with customer1:secret1 and customer2:secret2
# write_conf    $T/smg.conf from the defaults plus extra lines on stdin,
#               inserted in their [group]s ("group.key = value" lines)
# start_recv    smg-recv --listen 127.0.0.1:$RECV_PORT, log in $T/recv.log
# queued        number of files in the spool's check/new
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

# start_recv - start the listener; RECV_PORT is exported
start_recv() {
    RECV_PORT=$(free_port)
    export RECV_PORT
    "$SMG_RECV" -c "$T/smg.conf" --log stderr --listen "127.0.0.1:$RECV_PORT" \
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
