# dnssec.sh - a validating DNS resolver over a signed test root (sourced
# after tap.sh and dns.sh).
#
# start_dns_signed ZONEDATA [INSECURE...]
#       like start_dns, but the root zone made from ZONEDATA is signed
#       (ldns-keygen, ldns-signzone; ECDSA P-256, NSEC) and unbound runs
#       as a validating resolver ("validator iterator") with the zone's
#       key-signing key as its trust anchor, so its answers carry the AD
#       bit.  Each INSECURE domain is declared domain-insecure: answers
#       below it are served but not validated (no AD), as for a zone
#       without a DS.  No timeout/servfail stub zones here.  Exports
#       DNS_PORT and DNS_SERVER; everything is written under $T/dns.
#
# Needs ldnsutils (ldns-keygen, ldns-signzone) and unbound.
#
# SPDX-License-Identifier: MIT

start_dns_signed() {
    zone=$1
    shift
    [ -r "$zone" ] || bail "start_dns_signed: cannot read $zone"
    unbound_bin=$(command -v unbound || echo /usr/sbin/unbound)
    [ -x "$unbound_bin" ] || bail "start_dns_signed: unbound is not installed"
    command -v ldns-signzone >/dev/null && command -v ldns-keygen >/dev/null \
        || bail "start_dns_signed: ldnsutils (ldns-keygen, ldns-signzone) is not installed"
    mkdir -p "$DNS_DIR" || bail "start_dns_signed: cannot make $DNS_DIR"
    DNS_PORT=$(dns_free_port)

    local_lines=$(dns_zone_split "$zone" "$DNS_DIR/root.zone")
    (
        cd "$DNS_DIR" || exit 1
        ksk=$(ldns-keygen -a ECDSAP256SHA256 -k .) || exit 1
        zsk=$(ldns-keygen -a ECDSAP256SHA256 .) || exit 1
        # valid from yesterday, so a clock a little behind still accepts it
        ldns-signzone -i "$(date -u -d yesterday +%Y%m%d%H%M%S)" \
            -f root.zone.signed root.zone "$ksk" "$zsk" || exit 1
        cp "$ksk.key" trust-anchor.key
    ) >"$DNS_DIR/sign.log" 2>&1 \
        || bail "start_dns_signed: cannot sign the zone: $(cat "$DNS_DIR/sign.log")"

    insecure=""
    for d in "$@"; do
        insecure="$insecure    domain-insecure: \"$d\"
"
    done
    cat >"$DNS_DIR/unbound.conf" <<EOF
server:
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
    num-queries-per-thread: 32
    msg-cache-size: 1m
    rrset-cache-size: 1m
    module-config: "validator iterator"
    trust-anchor-file: "$DNS_DIR/trust-anchor.key"
    val-log-level: 2
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    outgoing-interface: 127.0.0.1
    local-zone: "test." nodefault
$insecure$local_lines
auth-zone:
    name: "."
    zonefile: "$DNS_DIR/root.zone.signed"
    for-downstream: no
    for-upstream: yes
    fallback-enabled: no
remote-control:
    control-enable: no
EOF
    "$unbound_bin" -d -p -c "$DNS_DIR/unbound.conf" \
        >"$DNS_DIR/unbound.out" 2>&1 &
    dns_unbound_pid=$!
    at_exit "kill $dns_unbound_pid"
    i=0
    until [ "$($PY3 "$DNSSPOOF" probe --port "$DNS_PORT" \
        --name ready.dns-sh.test --timeout 0.5 2>/dev/null)" \
        = "rcode=0 ancount=1" ]; do
        if ! kill -0 "$dns_unbound_pid" 2>/dev/null || [ $i -ge 40 ]; then
            diag "unbound did not start:" "$(cat "$DNS_DIR/unbound.out" \
                "$DNS_DIR/unbound.log" 2>/dev/null)"
            bail "start_dns_signed: unbound did not answer on 127.0.0.1:$DNS_PORT"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    DNS_SERVER="127.0.0.1:$DNS_PORT"
    export DNS_PORT DNS_SERVER
}
