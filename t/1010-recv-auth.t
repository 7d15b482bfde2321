#!/bin/bash
# 1010-recv-auth.t - STARTTLS and SMTP AUTH: AUTH only over TLS, relaying
# only after AUTH, wrong passwords counted and answered 535, then 421,
# passwords never logged, plaintext injected before TLS discarded.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

make_tls
make_creds
write_conf </dev/null
start_recv
raw() { $PY3 "$srcdir/t/lib/smtpraw.py" "$RECV_PORT" "$@"; }

out=$(swaks_to --from a@sender.test --to b@rcpt.test)
like "MAIL without AUTH: 530 5.7.0" '530 5.7.0 Authentication required' "$out"
is "nothing queued" 0 "$(queued)"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:AUTH PLAIN AGN1c3RvbWVyMQBzZWNyZXQx\r\n' read)
like "AUTH before TLS: 538 5.7.11" '^S: 538 5.7.11 Encryption required for requested authentication mechanism' "$out"

out=$(swaks_to -tls --auth PLAIN --auth-user customer1 --auth-password secret1 \
    --from a@sender.test --to b@rcpt.test)
like "STARTTLS then AUTH PLAIN: 235" '235 2.7.0 Authentication successful' "$out"
like "AUTH offered after TLS" '250-AUTH PLAIN LOGIN' "$out"
like "message queued" '250 2.0.0 Ok: queued as' "$out"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
f="$SPOOL/check/new/$id"
like "SMG-Client tells TLS and AUTH" '^SMG-Client: addr=127.0.0.1 helo=client.test tls=TLSv1.[23] auth=customer1' "$(cat "$f")"
like "SMG-Customer is the AUTH user" '^SMG-Customer: customer1$' "$(cat "$f")"
like "Received: says ESMTPSA and the cipher" 'using TLSv1.[23] with cipher' "$(cat "$f")"
like "Received: protocol ESMTPSA" 'with ESMTPSA id' "$(cat "$f")"

# no session tickets: a session process could never resume from one
tickets() {
    $PY3 - "$RECV_PORT" "$1" <<'PY'
import smtplib, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = getattr(ssl.TLSVersion, sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("c.test")
s.starttls(context=ctx)
s.ehlo("c.test")  # the server's tickets, if any, come before this reply
s.noop()
print("%s ticket=%s" % (s.sock.version(), s.sock.session.has_ticket))
s.quit()
PY
}
is "TLS 1.3: no session ticket" "TLSv1.3 ticket=False" "$(tickets TLSv1_3)"
is "TLS 1.2: no session ticket" "TLSv1.2 ticket=False" "$(tickets TLSv1_2)"

# a '"' in the HELO name must not hide tls= and auth= in SMG-Client
out=$(raw read 'send:EHLO q"c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO q"c.test\r\n' read auth:customer1:secret1 \
    'send:MAIL FROM:<a@sender.test>\r\n' read 'send:RCPT TO:<b@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: q\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
like "HELO with '\"': SMG-Client writes it with ' and keeps tls= and auth= readable" \
    "^SMG-Client: addr=127.0.0.1 helo=q'c.test tls=TLSv1.[23] auth=customer1\$" \
    "$(cat "$SPOOL/check/new/$qid" 2>&1)"

# RFC 6531 3.7.3: with SMTPUTF8, TLS and AUTH the protocol is UTF8SMTPSA
out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read auth:customer1:secret1 \
    'send:MAIL FROM:<ü@sender.test> SMTPUTF8\r\n' read 'send:RCPT TO:<b@rcpt.test>\r\n' read \
    'send:DATA\r\n' read 'send:Subject: utf8\r\n\r\nx\r\n.\r\n' read 'send:QUIT\r\n' read)
uid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
like "SMTPUTF8 with TLS and AUTH: Received: protocol UTF8SMTPSA" "with UTF8SMTPSA id $uid" \
    "$(cat "$SPOOL/check/new/$uid" 2>&1)"

out=$(swaks_to -tls --auth LOGIN --auth-user customer2 --auth-password secret2 \
    --from a@sender.test --to b@rcpt.test)
like "AUTH LOGIN with a yescrypt hash: 235" '235 2.7.0' "$out"
like "queued" '250 2.0.0 Ok: queued as' "$out"

out=$(swaks_to -tls --auth PLAIN --auth-user customer1 --auth-password wrongpw \
    --from a@sender.test --to b@rcpt.test)
like "wrong password: 535 5.7.8" '535 5.7.8' "$out"
unlike "password never logged" 'wrongpw|secret1|secret2' "$(cat "$T/recv.log")"
like "failure logged with the user" 'sasl_username=customer1, status=auth-failed' "$(cat "$T/recv.log")"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read auth:customer1:x1 auth:customer1:x2 auth:customer1:x3 readall)
like "third failure: 421 and the end" '^S: 421 4.7.0 .*too many authentication failures' "$out"
like "connection closed" '^closed' "$out"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read auth:nosuchuser:x 'send:QUIT\r\n' read)
like "unknown user: 535 as for a wrong password" '^S: 535 5.7.8' "$out"

# CVE-2011-0411: a command sent with STARTTLS in the same packet is dropped
out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\nRSET\r\n' read tls \
    'send:QUIT\r\n' read)
like "STARTTLS answered" '^S: 220 2.0.0 Ready to start TLS' "$out"
is "the injected RSET got no reply: the first reply over TLS is QUIT's" \
    "S: 221 2.0.0 Bye" "$(printf '%s\n' "$out" | sed -n '/^tls /{n;p;}')"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:MAIL FROM:<a@b.test>\r\n' read 'send:QUIT\r\n' read)
like "state forgotten after TLS: EHLO needed again" '^S: 503 5.5.1' "$out"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read 'send:AUTH PLAIN\r\n' read 'send:*\r\n' read 'send:QUIT\r\n' read)
like "AUTH cancelled with *: 501 5.7.0" '^S: 501 5.7.0' "$out"
like "the empty challenge is \"334\" SP (RFC 4954)" '^S: 334 $' "$out"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read 'send:AUTH PLAIN !!!notbase64\r\n' read 'send:QUIT\r\n' read)
like "bad base64: 501 5.5.2" '^S: 501 5.5.2' "$out"

# RFC 4954 4: "=" is an empty initial response, for LOGIN (an empty user
# name, as an empty line after 334) as for PLAIN, not invalid base64
out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read 'send:AUTH LOGIN =\r\n' read 'send:*\r\n' read \
    'send:QUIT\r\n' read)
like "AUTH LOGIN =: an empty user name, then the password is asked for" \
    '^S: 334 UGFzc3dvcmQ6$' "$out"
unlike "AUTH LOGIN =: not refused as bad base64" '^S: 501 5.5.2' "$out"

out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read tls \
    'send:EHLO c.test\r\n' read 'send:AUTH CRAM-MD5\r\n' read 'send:QUIT\r\n' read)
like "unknown mechanism: 504 5.5.4" '^S: 504 5.5.4' "$out"

# [recv] customer_domains: a customer sends in its own domains only
cat >"$T/customers" <<'EOF2'
customer1 sender.test, .sub.test
EOF2
stop_recv
write_conf <<EOF2
recv.customer_domains = $T/customers
recv.auth = optional
EOF2
start_recv
n0=$(queued)
out=$(swaks_to -tls --auth PLAIN --auth-user customer1 --auth-password secret1 \
    --from a@SENDER.test --to b@rcpt.test)
like "own domain (any case): queued" '250 2.0.0 Ok: queued as' "$out"
out=$(swaks_to -tls --auth PLAIN --auth-user customer1 --auth-password secret1 \
    --from a@mx.sub.test --to b@rcpt.test)
like "own subdomain (.sub.test): queued" '250 2.0.0 Ok: queued as' "$out"
out=$(swaks_to -tls --auth PLAIN --auth-user customer1 --auth-password secret1 \
    --from a@other.test --to b@rcpt.test)
like "another domain: 553 5.7.1 not owned by user" \
    '553 5.7.1 <a@other.test>: Sender address rejected: not owned by user customer1' "$out"
out=$(swaks_to -tls --auth PLAIN --auth-user customer1 --auth-password secret1 \
    --from a@xsender.test --to b@rcpt.test)
like "a domain that only ends like its own: 553" '553 5.7.1' "$out"
out=$(swaks_to -tls --auth PLAIN --auth-user customer2 --auth-password secret2 \
    --from a@sender.test --to b@rcpt.test)
like "a customer the table does not list owns no domain: 553" \
    '553 5.7.1 <a@sender.test>: Sender address rejected: not owned by user customer2' "$out"
out=$(swaks_to -tls --auth PLAIN --auth-user customer2 --auth-password secret2 \
    --from '<>' --to b@rcpt.test)
like "the null sender is not a domain: queued" '250 2.0.0 Ok: queued as' "$out"
out=$(swaks_to --from a@other.test --to b@rcpt.test)
like "without AUTH there is no customer to compare: queued (auth optional)" \
    '250 2.0.0 Ok: queued as' "$out"
is "four messages queued" $((n0 + 4)) "$(queued)"
like "the refusal logged with customer and sender" \
    'customer=customer1, from=<a@other.test>, reject=553 5.7.1' "$(cat "$T/recv.log")"
printf 'customer1\n' >"$T/customers.bad"
stop_recv
write_conf <<EOF2
recv.customer_domains = $T/customers.bad
EOF2
out=$("$SMG_RECV" -c "$T/smg.conf" --log stderr </dev/null 2>&1 >/dev/null)
is "a table line without a domain: exit 78" 78 $?
like "  ... reported with file and line" "customers.bad:1" "$out"

# auth = optional: relaying without AUTH is allowed
write_conf <<'EOF2'
recv.auth = optional
EOF2
start_recv
out=$(swaks_to --from a@sender.test --to b@rcpt.test)
like "auth optional: queued without AUTH" '250 2.0.0 Ok: queued as' "$out"

# STARTTLS without a TLS config: 454
stop_recv
write_conf <<'EOF2'
recv.auth = off
recv.tls = no
EOF2
start_recv
out=$(raw read 'send:EHLO c.test\r\n' read 'send:STARTTLS\r\n' read 'send:QUIT\r\n' read)
like "no TLS configured: 454 4.7.0 TLS not available" '^S: 454 4.7.0 TLS not available' "$out"
unlike "STARTTLS not offered" 'STARTTLS$' "$(printf '%s\n' "$out" | grep '^S: 250')"

# an encrypted key: no pass phrase is asked for; OpenSSL would read it from
# stdin, the client's connection in inetd mode (setsid: no /dev/tty)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 \
    -pass pass:hunter2 -out "$T/tls/enckey.pem" >/dev/null 2>&1 \
    && openssl req -x509 -key "$T/tls/enckey.pem" -passin pass:hunter2 \
        -subj "/CN=out.test" -days 2 -out "$T/tls/enccert.pem" >/dev/null 2>&1 \
    || bail "openssl cannot make an encrypted test key"
write_conf <<EOF2
recv.auth = off
recv.tls_cert = $T/tls/enccert.pem
recv.tls_key = $T/tls/enckey.pem
EOF2
out=$(printf 'hunter2\nEHLO c.test\r\nQUIT\r\n' \
    | timeout 20 setsid -w "$SMG_RECV" -c "$T/smg.conf" --log stderr 2>"$T/enc.err")
is "encrypted key, its pass phrase sent by the client: exit 78" 78 $?
is "  ... and no greeting" "" "$out"
unlike "  ... no pass phrase prompt" 'pass phrase' "$(cat "$T/enc.err")"
like "  ... the key named, and why" 'cannot load key .*enckey.pem \(it must not be encrypted\)' \
    "$(cat "$T/enc.err")"
done_testing
