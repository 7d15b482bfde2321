# dns.sh - a real DNS server for the integration tests (sourced after tap.sh).
#
# start_dns [ZONEDATA]   start unbound (Debian's) on 127.0.0.1:$DNS_PORT,
#                        serving ZONEDATA (default t/data/dns/test.zone):
#                        one RR a line, as unbound's local-data takes it,
#                        e.g.  mx.test. MX 10 mail.mx.test.
#                        '#' comments and blank lines are skipped; lines that
#                        start with "local-zone:" or "local-data:" go to
#                        unbound's server section as they are.  Two zones
#                        are always there:
#                          *.timeout.test.   stubbed to a server that never
#                                            answers: a client times out
#                          *.servfail.test.  stubbed to a server that says
#                                            REFUSED: unbound says SERVFAIL
#                          *.aaaa-silent.test.  stubbed to a server that
#                                            answers A for 127-0-0-20.…
#                                            with 127.0.0.20, AAAA for
#                                            v6only.… with ::1, and
#                                            nothing else (a time-out)
#                        Waits until unbound answers; exports DNS_PORT and
#                        DNS_SERVER (127.0.0.1:PORT); for clients that ask
#                        it straight, DNS_REFERRAL_PORT is a server that
#                        is no resolver (every answer a referral to the
#                        root, RA and AA clear); registers the stop
#                        with at_exit.  Everything is written under $T/dns.
# start_dnsspoof         start t/lib/dnsspoof.py's forging proxy in front of
#                        that unbound; exports SPOOF_PORT and SPOOF_LOG (one
#                        line per datagram it sent).
# dnsq ARGS...           run t/helpers/smg-dnsq against $DNS_SERVER.
#
# How: the RRs become the root zone "." of an unbound auth-zone used for
# upstream only, so unbound resolves every name as a recursive resolver
# would (CNAME chains are followed, unknown names are NXDOMAIN) and never
# asks the Internet: the root is ours, and unbound sends only from
# 127.0.0.1.  The two stub zones are more specific and win.  unbound runs as
# the current user, in the foreground (-d), with no chroot, no pid file, no
# remote control and no DNSSEC validation.
#
# SPDX-License-Identifier: MIT

DNS_DIR="$T/dns"
DNSSPOOF="$srcdir/t/lib/dnsspoof.py"
SMG_DNSQ="$builddir/t/helpers/smg-dnsq"

# dns_wait_file FILE PID - wait up to 10 s for FILE while PID lives
dns_wait_file() {
    i=0
    while [ ! -s "$1" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        [ $i -ge 100 ] && return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 0
}

# dns_zone_split ZONEDATA ZONEFILE - write the RRs of ZONEDATA as the root
# zone ZONEFILE; print its local-zone:/local-data: lines for unbound.conf
dns_zone_split() {
    {
        printf '$ORIGIN .\n$TTL 300\n'
        printf '. IN SOA localhost. hostmaster.localhost. %s\n' \
            '1 3600 600 86400 300'
        printf '. IN NS localhost.\n'
        printf 'ready.dns-sh.test. IN A 127.0.0.1\n' # start_dns waits for it
    } >"$2"
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line#"${line%%[![:space:]]*}"}
        case "$line" in
            '' | '#'*) ;;
            local-zone:* | local-data:* | local-data-ptr:*)
                printf '    %s\n' "$line" ;;
            *) printf '%s\n' "$line" >>"$2" ;;
        esac
    done <"$1"
}

# dns_server_common - the server: lines every test unbound shares
dns_server_common() {
    cat <<EOF
    interface: 127.0.0.1
    port: $DNS_PORT
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    username: ""
    chroot: ""
    directory: "$DNS_DIR"
    logfile: "$DNS_DIR/unbound.log"
    use-syslog: no
    log-time-ascii: yes
    verbosity: 1
    num-threads: 1
    so-reuseport: no
    outgoing-range: 64
    # its random source ports stay out of the range free_port (t/tap/tap.sh)
    # gives the listeners of this test and of the tests beside it
    outgoing-port-avoid: 1-32767
    num-queries-per-thread: 32
    msg-cache-size: 1m
    rrset-cache-size: 1m
EOF
}

# dns_run_unbound WHO - start unbound on $DNS_DIR/unbound.conf, wait until
# it serves the zone's marker record, export DNS_PORT and DNS_SERVER
dns_run_unbound() {
    "$unbound_bin" -d -p -c "$DNS_DIR/unbound.conf" \
        >"$DNS_DIR/unbound.out" 2>&1 &
    dns_unbound_pid=$!
    at_exit "kill $dns_unbound_pid"
    i=0
    # the zone's own record: unbound is up and has loaded the zone
    until [ "$($PY3 "$DNSSPOOF" probe --port "$DNS_PORT" \
        --name ready.dns-sh.test --timeout 0.5 2>/dev/null)" \
        = "rcode=0 ancount=1" ]; do
        if ! kill -0 "$dns_unbound_pid" 2>/dev/null || [ $i -ge 40 ]; then
            diag "unbound did not start:" "$(cat "$DNS_DIR/unbound.out" \
                "$DNS_DIR/unbound.log" 2>/dev/null)"
            bail "$1: unbound did not answer on 127.0.0.1:$DNS_PORT"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    DNS_SERVER="127.0.0.1:$DNS_PORT"
    export DNS_PORT DNS_SERVER
}

start_dns() {
    zone=${1:-$srcdir/t/data/dns/test.zone}
    [ -r "$zone" ] || bail "start_dns: cannot read $zone"
    unbound_bin=$(command -v unbound || echo /usr/sbin/unbound)
    [ -x "$unbound_bin" ] || bail "start_dns: unbound is not installed"
    mkdir -p "$DNS_DIR" || bail "start_dns: cannot make $DNS_DIR"

    DNS_PORT=$(free_port)
    DNS_SILENT_PORT=$(free_port)
    DNS_REFUSE_PORT=$(free_port)
    DNS_HALF_PORT=$(free_port)
    DNS_REFERRAL_PORT=$(free_port)

    # the upstreams of the timeout and servfail zones
    $PY3 "$DNSSPOOF" sink --silent "$DNS_SILENT_PORT" \
        --refuse "$DNS_REFUSE_PORT" --half "$DNS_HALF_PORT" \
        --referral "$DNS_REFERRAL_PORT" --ready "$DNS_DIR/sink.ready" \
        >"$DNS_DIR/sink.log" 2>&1 &
    dns_sink_pid=$!
    at_exit "kill $dns_sink_pid"
    dns_wait_file "$DNS_DIR/sink.ready" "$dns_sink_pid" \
        || bail "start_dns: the sink did not start: $(cat "$DNS_DIR/sink.log")"

    cat >"$DNS_DIR/unbound.conf" <<EOF
server:
$(dns_server_common)
    module-config: "iterator"
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    outgoing-interface: 127.0.0.1
    local-zone: "test." nodefault
$(dns_zone_split "$zone" "$DNS_DIR/root.zone")
auth-zone:
    name: "."
    zonefile: "$DNS_DIR/root.zone"
    for-downstream: no
    for-upstream: yes
    fallback-enabled: no
stub-zone:
    name: "timeout.test."
    stub-addr: 127.0.0.1@$DNS_SILENT_PORT
    stub-prime: no
stub-zone:
    name: "servfail.test."
    stub-addr: 127.0.0.1@$DNS_REFUSE_PORT
    stub-prime: no
stub-zone:
    name: "aaaa-silent.test."
    stub-addr: 127.0.0.1@$DNS_HALF_PORT
    stub-prime: no
remote-control:
    control-enable: no
EOF
    dns_run_unbound start_dns
}

start_dnsspoof() {
    [ -n "${DNS_PORT:-}" ] || bail "start_dnsspoof: start_dns first"
    SPOOF_PORT=$(free_port)
    SPOOF_LOG="$DNS_DIR/spoof.log"
    : >"$SPOOF_LOG"
    $PY3 "$DNSSPOOF" proxy --port "$SPOOF_PORT" --upstream "$DNS_PORT" \
        --log "$SPOOF_LOG" --ready "$DNS_DIR/spoof.ready" \
        >"$DNS_DIR/spoof.out" 2>&1 &
    dns_spoof_pid=$!
    at_exit "kill $dns_spoof_pid"
    dns_wait_file "$DNS_DIR/spoof.ready" "$dns_spoof_pid" \
        || bail "start_dnsspoof: the proxy did not start:" \
            "$(cat "$DNS_DIR/spoof.out")"
    export SPOOF_PORT SPOOF_LOG
}

# dnsq ARGS... - smg-dnsq against the test's unbound
dnsq() {
    "$SMG_DNSQ" -s "$DNS_SERVER" "$@"
}
