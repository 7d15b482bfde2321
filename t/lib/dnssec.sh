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
    DNS_PORT=$(free_port)

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
$(dns_server_common)
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
    dns_run_unbound start_dns_signed
}
