# gateway.sh - the whole gateway for the pipeline tests (sourced after
# tap.sh, dns.sh, peers.sh, recv.sh and sign.sh).
#
# gw_zone_base      print the DNS records every pipeline test needs:
#                   sender.test (MX to 127.0.0.1, the senders' own MX that
#                   receives NDRs), rcpt.test (MX to 127.0.0.10) and the
#                   DKIM key rsa._domainkey.sender.test
# gw_files          the gateway's own files: TLS certificate, credentials
#                   (customer1/secret1, customer2/secret2), a ClamAV
#                   database built with sigtool, the DKIM KeyTable and
#                   SigningTable for sender.test
# gw_conf           $T/smg.conf: spool, DNS ($DNS_PORT), recv, check, scan,
#                   sign, route (good mta01 mta02, bad mta03 on 127.0.0.2,
#                   .3, .4), send (port $PEER_PORT); "group.key = value"
#                   lines on stdin add or override keys
# gw_start [ARGS]   scripts/pipeline on 127.0.0.1:$RECV_PORT (exported)
#                   with ARGS (e.g. -w 2), log in $T/pipeline.log
#
# SPDX-License-Identifier: MIT

gw_zone_base() {
    cat <<'Z'
sender.test. MX 10 mail.sender.test.
mail.sender.test. A 127.0.0.1
rcpt.test. MX 10 mx.rcpt.test.
mx.rcpt.test. A 127.0.0.10
Z
    txt_record rsa._domainkey.sender.test. "$SIGN_DATA/rsa2048.pem"
}

gw_files() {
    make_tls
    make_creds
    $PY3 "$srcdir/t/data/scan-mkmsg.py" sigs "$T/db" all >/dev/null \
        || bail "sigtool cannot build a database"
    mkdir -p "$T/keys"
    cp "$SIGN_DATA/rsa2048.pem" "$T/keys/"
    chmod 600 "$T/keys/rsa2048.pem"
    echo "rsa._domainkey.sender.test sender.test:rsa:$T/keys/rsa2048.pem" >"$T/KeyTable"
    echo "*@sender.test rsa._domainkey.sender.test" >"$T/SigningTable"
}

gw_conf() {
    cat >"$T/gw.overrides"
    $PY3 - "$T" "$SPOOL" "${DNS_PORT:-}" "${PEER_PORT:-25}" "$srcdir" <<'PY'
import sys
t, spool, dns_port, peer_port, srcdir = sys.argv[1:6]
sys.path.insert(0, srcdir + "/t/lib")
import smgconf
conf = {
    "spool": {"dir": spool, "state_dir": t + "/state", "user": "root"},
    "dns": {"nameservers": "127.0.0.1:" + dns_port, "timeout": "1", "attempts": "1"},
    "recv": {"hostname": "out.test", "tls_cert": t + "/tls/cert.pem",
             "tls_key": t + "/tls/key.pem", "credentials": t + "/credentials",
             "auth_failure_delay": "0"},
    "check": {"rules": srcdir + "/data/rules/smg.rules", "bayes": "no"},
    "scan": {"database": t + "/db", "hostname": "out.test"},
    "sign": {"keytable": t + "/KeyTable", "signingtable": "refile:" + t + "/SigningTable"},
    "route": {"good": "mta01 mta02", "bad": "mta03"},
    "gateway mta01": {"bind": "127.0.0.2", "helo": "mta01.test"},
    "gateway mta02": {"bind": "127.0.0.3", "helo": "mta02.test"},
    "gateway mta03": {"bind": "127.0.0.4", "helo": "mta03.test"},
    "send": {"port": peer_port, "connect_timeout": "5", "command_timeout": "10",
             "ignore_target_hosts": "none"},
}
if not dns_port:
    del conf["dns"]
smgconf.write(conf, t + "/gw.overrides", t + "/smg.conf")
PY
}

gw_start() {
    RECV_PORT=$(free_port)
    export RECV_PORT
    "$srcdir/scripts/pipeline" -c "$T/smg.conf" -b "$SMG_BIN" -l "127.0.0.1:$RECV_PORT" "$@" \
        2>"$T/pipeline.log" &
    PIPE_PID=$!
    at_exit "kill $PIPE_PID 2>/dev/null; wait $PIPE_PID 2>/dev/null"
    wait_port "$RECV_PORT" || bail "the pipeline did not start: $(tail -20 "$T/pipeline.log")"
}
