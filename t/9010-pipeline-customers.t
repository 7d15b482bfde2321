#!/bin/bash
# 9010-pipeline-customers.t - customers' real MTAs relay through the whole
# gateway (scripts/pipeline), configured exactly as README.md's section
# "For customers: sending through smg" says (t/lib/customers.sh takes the
# blocks from README.md): Postfix with relayhost, SASL and a verified
# certificate (by CA, and pinned by fingerprint), Exim as a Debian
# satellite (update-exim4.conf with Debian's template, passwd.client) and
# with a whole exim.conf of its own (pinned certificate).  Every message
# arrives from a good gateway, DKIM-signed with the key smg-sign --genkey
# made and whose printed record is in DNS, and passes SPF by the record
# smg-route --spf prints, included from the customer's domain as README
# says (pyspf); an Exim that pins another certificate sends nothing, not
# even its password.
# SPDX-License-Identifier: MIT
# The customers' MTAs run as their own users (postfix, Debian-exim) and
# read the files the test writes, as on an installed system.
umask 022
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/peers.sh"
. "$srcdir/t/lib/recv.sh"
. "$srcdir/t/lib/sign.sh"
. "$srcdir/t/lib/gateway.sh"
# smg-recv listens on GW_ADDR, not 127.0.0.1: Exim will not relay to an
# address it takes for its own (127.0.0.1 with dc_local_interfaces).
GW_ADDR=127.0.0.5
. "$srcdir/t/lib/customers.sh"
MKMSG="$srcdir/t/data/scan-mkmsg.py"
[ -r "$README" ] || bail "no $README"
readme_block "postfix main.cf" | grep -q '^relayhost' \
    || bail "README.md has no customer guide with t/9010 markers"

# the gateway's files: certificate, customers, virus database, DKIM key
gateway_cert "$GW_ADDR"
make_creds
$PY3 "$MKMSG" sigs "$T/db" all >/dev/null || bail "sigtool cannot build a database"
mkdir -p "$T/keys"
"$SMG_BIN/smg-sign" --genkey sender.test s2026 --output "$T/keys/sender.test.pem" \
    >"$T/genkey.out" || bail "smg-sign --genkey failed"
sed -n 's/^; KeyTable: *//p' "$T/genkey.out" >"$T/KeyTable"
sed -n 's/^; SigningTable: *//p' "$T/genkey.out" >"$T/SigningTable"
ok "smg-sign --genkey printed the key's table lines" \
    test -s "$T/KeyTable" -a -s "$T/SigningTable"
peer_port
RECV_PORT=$(free_port)
gw_conf </dev/null

# the operator's SPF record, from the config
spf=$("$SMG_BIN/smg-route" -c "$T/smg.conf" --spf 2>"$T/spf.err")
is "smg-route --spf: every gateway's address, then -all, quoted for a zone" \
    '"v=spf1 ip4:127.0.0.2 ip4:127.0.0.3 ip4:127.0.0.4 -all"' "$spf"

# "the Internet": the customer's domain with the records README.md asks
# for (SPF including the operator's, DKIM as --genkey printed it, DMARC)
{
    cat <<'Z'
sender.test. MX 10 mail.sender.test.
mail.sender.test. A 127.0.0.1
rcpt.test. MX 10 mx.rcpt.test.
mx.rcpt.test. A 127.0.0.10
Z
    echo "_spf.gateway.example. TXT $spf"
    readme_block "dns spf" | customer_sed /etc
    readme_block "dns dmarc" | customer_sed /etc
    cat "$T/genkey.out"
} >"$T/zone"
like "README's SPF record, for sender.test, includes the operator's" \
    '^sender\.test\. +TXT "v=spf1 include:_spf\.gateway\.example -all"$' "$(cat "$T/zone")"
start_dns "$T/zone"
gw_conf </dev/null
start_mta rcpt 127.0.0.10

# spf_check IP SENDER HELO - pyspf's result, DNS from the test's server
spf_check() {
    $PY3 - "$DNS_PORT" "$@" <<'PY' 2>&1
import sys
import dns.resolver
import spf
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])
dns.resolver.default_resolver = r
print(spf.check2(i=sys.argv[2], s=sys.argv[3], h=sys.argv[4])[0])
PY
}
res=""
for ip in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.1; do
    res="$res $(spf_check "$ip" user@sender.test client.test)"
done
is "SPF of sender.test: the three gateways pass, another address fails" \
    " pass pass pass fail" "$res"

"$srcdir/scripts/pipeline" -c "$T/smg.conf" -b "$SMG_BIN" -l "$GW_ADDR:$RECV_PORT" \
    2>"$T/pipeline.log" &
PIPE_PID=$!
at_exit "kill $PIPE_PID 2>/dev/null; wait $PIPE_PID 2>/dev/null"
wait_port "$RECV_PORT" "$GW_ADDR" || bail "the pipeline did not start: $(tail -20 "$T/pipeline.log")"

# message SUBJECT [FROM] - a small message on stdout
message() {
    [ -n "${2:-}" ] && printf 'From: %s\n' "$2"
    printf 'To: someone@rcpt.test\nSubject: %s\n\n%s\n' "$1" \
        "A perfectly ordinary message about the meeting tomorrow."
}
# arrived SUBJECT - wait up to 30 s for it at the recipient's MX; print its
# file (the peer keeps the CRLF line ends of the message)
arrived() {
    i=0
    while [ $i -lt 300 ]; do
        f=$(grep -l -x "Subject: $1"$'\r\\?' "$PEERS_DIR/rcpt/"*.eml 2>/dev/null | head -1)
        [ -n "$f" ] && { echo "$f"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# check_arrival WHO SUBJECT CLIENT-RE [SENDER] - the message arrived as it must
check_arrival() {
    who=$1 subj=$2 client=$3 sender=${4:-user@sender.test}
    f=$(arrived "$subj")
    ok "$who: the message arrives" test -n "$f"
    [ -n "$f" ] || { diag "$(tail -20 "$T/pipeline.log")"; return; }
    m=$(tr -d '\r' <"$f")
    peer=$(sed -n 's/^X-Peer: //p' "$f")
    like "$who: from a good gateway" '^127\.0\.0\.[23]$' "$peer"
    is "$who: envelope sender" "$sender" "$(sed -n 's/^X-Mail-From: //p' "$f")"
    like "$who: the customer's MTA handed it over" "$client" "$m"
    id=$(printf '%s\n' "$m" | sed -n 's/.*by out\.test (smg) with ESMTPSA id \([0-9A-Z]*\)$/\1/p')
    like "$who: smg-recv took it over TLS from customer1" \
        "^smg-recv\[[0-9]+\]: $id: client=127\.0\.0\.1, sasl_username=customer1, from=<$sender>" \
        "$(cat "$T/pipeline.log")"
    is "$who: DKIM (dkimpy, key from DNS)" "pass a=rsa-sha256 d=sender.test s=s2026" \
        "$(verify_py "$f" | head -1)"
    like "$who: From: is in the signing domain (DMARC alignment)" \
        '^From: .*@sender\.test>?$' "$m"
    helo=$(sed -n 's/^X-Helo: //p' "$f")
    is "$who: SPF (pyspf) for $peer" pass "$(spf_check "$peer" "$sender" "$helo")"
}

# 1. an Exim that pins another certificate: no AUTH, nothing sent
make_selfsigned impostor out.test
E=$T/eximbad
mkdir -p "$E/etc"
cp "$T/certs/impostor.pem" "$E/etc/smg-gateway.pem"
readme_block "exim exim.conf" | customer_sed "$E/etc" \
    | sed 's|^\( *tls_verify_certificates = \).*|\1CONFDIR/smg-gateway.pem|' >"$E/exim.conf"
readme_block "exim4 passwd.client" | customer_sed "$E/etc" >"$E/etc/passwd.client"
chown root:Debian-exim "$E/etc/passwd.client"
chmod 640 "$E/etc/passwd.client"
exim_customer eximbad "$E/exim.conf"
message "via exim, wrong pin" user@sender.test | exim_send eximbad -f user@sender.test someone@rcpt.test
like "exim with another pinned certificate: deferred, the certificate fails" \
    '== someone@rcpt.test .*defer.*certificate verification failed' \
    "$(cat "$E/log/mainlog")"
unlike "... and it sent no AUTH to the gateway" 'sasl_username' "$(cat "$T/pipeline.log")"

# 2. Postfix, certificate verified by the (test) CA: sendmail and SMTP
readme_block "postfix main.cf" | customer_sed "$T/pfca/etc" >"$T/pfca.main"
pf_customer pfca "$T/pfca.main"
pfca_port=$PF_PORT
message "via postfix, sendmail" user@sender.test | pf_sendmail pfca -f user@sender.test someone@rcpt.test
ok "postfix (CA): sendmail accepted the message" test $? -eq 0
out=$(swaks --server 127.0.0.1 --port "$pfca_port" --helo app.sender.test \
    --from user@sender.test --to someone@rcpt.test --header "Subject: via postfix, smtp" \
    --header "From: <user@sender.test>" --timeout 20 2>&1)
like "postfix (CA): its smtpd accepted a message" '^<- +250 2\.0\.0 Ok: queued' "$out"

# 3. Postfix, the gateway's certificate pinned by its fingerprint
fp=$(openssl x509 -in "$T/tls/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
{
    readme_block "postfix main.cf" \
        | grep -v -E '^smtp_tls_(security_level|secure_cert_match|CAfile) '
    readme_block "postfix pinned" \
        | sed "s|^\(smtp_tls_fingerprint_cert_match = \).*|\1$fp|"
} | customer_sed "$T/pfpin/etc" >"$T/pfpin.main"
pf_customer pfpin "$T/pfpin.main"
message "via postfix, pinned" user@sender.test | pf_sendmail pfpin -f user@sender.test someone@rcpt.test

# 4. Exim as Debian's satellite: Debian's template and update-exim4.conf
E=$T/eximdeb
mkdir -p "$E/etc"
cp "$EXIM_ROOT/etc/exim4/exim4.conf.template" "$E/etc/"
readme_block "exim4 update-exim4.conf.conf" | customer_sed "$E/etc" \
    >"$E/etc/update-exim4.conf.conf"
readme_block "exim4 passwd.client" | customer_sed "$E/etc" >"$E/etc/passwd.client"
chown root:Debian-exim "$E/etc/passwd.client"
chmod 640 "$E/etc/passwd.client"
readme_block "exim4 localmacros" | customer_sed "$E/etc" >"$E/etc/exim4.conf.localmacros"
: >"$E/etc/email-addresses"
sh "$EXIM_ROOT/usr/sbin/update-exim4.conf" -d "$E/etc" -o "$E/etc/config.autogenerated" \
    >"$E/update.log" 2>&1 || bail "update-exim4.conf failed: $(cat "$E/update.log")"
# what the installed system adds: CONFDIR, /etc/mailname, and the
# localmacros that update-exim4.conf looks for in /etc/exim4 only
{
    echo "CONFDIR = $E/etc"
    echo "ETC_MAILNAME = eximdeb.sender.test"
    cat "$E/etc/exim4.conf.localmacros"
    sed "s|/etc/email-addresses|$E/etc/email-addresses|g" "$E/etc/config.autogenerated"
} >"$E/exim.conf"
exim_customer eximdeb "$E/exim.conf"
message "via exim4 satellite" user@sender.test \
    | exim_send eximdeb -f user@sender.test someone@rcpt.test
message "via exim4 satellite, from root" | exim_send eximdeb someone@rcpt.test
like "exim4 satellite: verified TLS and AUTH PLAIN to the gateway" \
    "=> someone@rcpt.test R=smarthost T=remote_smtp_smarthost H=$GW_ADDR .* CV=yes .*A=plain C=\"250 2\.0\.0 Ok: queued" \
    "$(cat "$E/log/mainlog")"

# 5. Exim with README's whole exim.conf, the gateway's certificate pinned
E=$T/eximsa
mkdir -p "$E/etc"
cp "$T/tls/cert.pem" "$E/etc/smg-gateway.pem"
readme_block "exim exim.conf" | customer_sed "$E/etc" \
    | sed 's|^\( *tls_verify_certificates = \).*|\1CONFDIR/smg-gateway.pem|' >"$E/exim.conf"
readme_block "exim4 passwd.client" | customer_sed "$E/etc" >"$E/etc/passwd.client"
chown root:Debian-exim "$E/etc/passwd.client"
chmod 640 "$E/etc/passwd.client"
exim_customer eximsa "$E/exim.conf"
message "via exim.conf" user@sender.test | exim_send eximsa -f user@sender.test someone@rcpt.test
like "exim.conf: verified TLS and AUTH PLAIN to the gateway" \
    "=> someone@rcpt.test R=smg_gateway T=smg_gateway_smtp H=$GW_ADDR .* CV=yes .*A=smg_plain C=\"250 2\.0\.0 Ok: queued" \
    "$(cat "$E/log/mainlog")"

# every message arrives as it must
check_arrival "postfix (CA), sendmail" "via postfix, sendmail" \
    'by pfca\.sender\.test \(Postfix, from userid 0\)'
check_arrival "postfix (CA), smtp" "via postfix, smtp" \
    'by pfca\.sender\.test \(Postfix\) with ESMTP'
check_arrival "postfix (pinned)" "via postfix, pinned" 'by pfpin\.sender\.test \(Postfix'
check_arrival "exim4 satellite" "via exim4 satellite" '\(Exim 4\.[0-9]+\)'
check_arrival "exim4 satellite, root's mail" "via exim4 satellite, from root" \
    '\(Exim 4\.[0-9]+\)' root@sender.test
check_arrival "exim.conf (pinned)" "via exim.conf" '\(Exim 4\.[0-9]+\)'
like "postfix (CA): the certificate was verified" \
    'Verified TLS connection established to 127\.0\.0\.5' "$(cat "$T/pfca/maillog")"
like "postfix (pinned): the fingerprint matched" \
    'Verified TLS connection established to 127\.0\.0\.5' "$(cat "$T/pfpin/maillog")"
is "the wrongly pinned message never arrived" "" \
    "$(grep -l 'Subject: via exim, wrong pin' "$PEERS_DIR/rcpt/"*.eml 2>/dev/null)"
is "nothing else arrived" 6 "$(received rcpt)"
ok "every stage ran: no stage restarted" test "$(grep -c 'restarting' "$T/pipeline.log")" -eq 0
done_testing
