#!/bin/bash
# 4000-sign-basic.t - smg-sign in filter and spool modes: what it adds and
# where, unsigned pass-through, the envelope kept, exit codes, log lines,
# and config errors (an unreadable key is 78 before the spool is touched).
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/sign.sh"

sign_setup </dev/null
msg() { # msg FROM [SUBJECT] - a bare message
    printf 'From: %s\nTo: bob@example.net\nSubject: %s\nMessage-ID: <%s@x>\n\nHello.\n' \
        "$1" "${2:-test}" "$RANDOM"
}
envmsg() { # envmsg ID SENDER FROM - a spool file
    printf 'SMG-Queue-ID: %s\nSMG-Sender: <%s>\nSMG-Recipient: <bob@example.net>\nSMG-Spam: verdict=ham score=0.1 threshold=5.0\n' \
        "$1" "$2"
    msg "$3"
}

# filter mode, a bare message
out=$(msg alice@dual.test | "$SMG_SIGN" -c "$T/smg.conf" --log stderr 2>"$T/err")
is "filter: exit 0" 0 $?
like "filter: RSA signature on top" '^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=dual.test; s=r1;' \
    "$(printf '%s\n' "$out" | head -1)"
is "filter: two signatures" 2 "$(printf '%s\n' "$out" | grep -c '^DKIM-Signature:')"
like "filter: Ed25519 second" '^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=dual.test;' \
    "$(printf '%s\n' "$out" | grep '^DKIM-Signature:' | tail -1)"
like "filter: the message follows unchanged" $'^From: alice@dual.test$' "$out"
like "filter: log line" 'smg-sign\[[0-9]+\]: -: dkim=signed, d=dual.test, s=r1\+e1, a=rsa-sha256\+ed25519-sha256, by=from' \
    "$(cat "$T/err")"
unlike "filter: no l= tag" '[; ]l=' "$out"

# filter mode: no key for the domain
msg carol@nokey.test >"$T/nokey.eml"
"$SMG_SIGN" -c "$T/smg.conf" --log stderr <"$T/nokey.eml" >"$T/nokey.out" 2>"$T/err"
is "no key: exit 0" 0 $?
ok "no key: output identical to input" cmp -s "$T/nokey.eml" "$T/nokey.out"
like "no key: logged" 'dkim=none, reason=no key, from=<carol@nokey.test>' "$(cat "$T/err")"

# two From: fields (RFC 5322 allows one): not signed for the first as if
# it were the only one, whatever case or spacing the second is written in
printf 'From: alice@rsa.test\nTo: bob@example.net\nFROM : mallory@evil.test\nSubject: two\n\nHi.\n' >"$T/twofrom.eml"
"$SMG_SIGN" -c "$T/smg.conf" --log stderr <"$T/twofrom.eml" >"$T/twofrom.out" 2>"$T/err"
is "two From: fields: exit 0 (passes)" 0 $?
ok "two From: fields: output identical to input (unsigned)" cmp -s "$T/twofrom.eml" "$T/twofrom.out"
like "two From: fields: logged as an error" 'dkim=error, reason=2 From: fields' "$(cat "$T/err")"
printf 'SMG-Queue-ID: TF1\nSMG-Sender: <bounce@rsa.test>\nSMG-Recipient: <bob@example.net>\n' >"$T/twofrom.env"
cat "$T/twofrom.eml" >>"$T/twofrom.env"
"$SMG_SIGN" -c "$T/smg.conf" --log stderr <"$T/twofrom.env" >"$T/twofrom.out" 2>"$T/err"
ok "two From: fields: no signature by the envelope sender either" cmp -s "$T/twofrom.env" "$T/twofrom.out"

# a From: field of groups nested in groups ("g: g: ... a@rsa.test"): GMime's
# address parser recurses once a group, and 40000 of them overflowed the
# stack, so smg-sign crashed on the message at every try; such a field is
# not parsed, and the message passes unsigned
{
    printf 'From: '
    head -c 120000 /dev/zero | tr '\0' '\n' | sed 's/^/g:/' | tr -d '\n'
    printf ' a@rsa.test\nTo: bob@example.net\nSubject: nested\n\nHi.\n'
} >"$T/nested.eml"
"$SMG_SIGN" -c "$T/smg.conf" --log stderr <"$T/nested.eml" >"$T/nested.out" 2>"$T/err"
is "From: of nested groups: exit 0 (no crash)" 0 $?
ok "From: of nested groups: output identical to input (unsigned)" cmp -s "$T/nested.eml" "$T/nested.out"
like "From: of nested groups: logged as an error" "dkim=error, reason=the From: field has too many ':'" \
    "$(cat "$T/err")"
out=$(printf 'From: "%s" <alice@rsa.test>\nTo: bob@example.net\n\nHi.\n' \
    "$(head -c 500 /dev/zero | tr '\0' '\n' | sed 's/^/a:/' | tr -d '\n')" |
    "$SMG_SIGN" -c "$T/smg.conf" --log stderr 2>"$T/err")
like "500 ':' in a display name: still signed" 'dkim=signed, d=rsa.test' "$(cat "$T/err")"

# filter mode with an envelope: fields first, then the signature
out=$(envmsg FILT1 bounce@rsa.test carol@nokey.test | "$SMG_SIGN" -c "$T/smg.conf" --log stderr 2>"$T/err")
is "envelope: first line is SMG-Queue-ID" "SMG-Queue-ID: FILT1" "$(printf '%s\n' "$out" | head -1)"
like "envelope: the sender's domain as fallback" 'dkim=signed, d=rsa.test, s=rsa, a=rsa-sha256, by=sender' \
    "$(cat "$T/err")"
is "envelope: signature right after the envelope fields" "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=rsa.test; s=rsa;" \
    "$(printf '%s\n' "$out" | sed -n 5p)"
like "envelope: verdict field kept" '^SMG-Spam: verdict=ham' "$out"

# Reply-To for shop.test
out=$(msg orders@shop.test | "$SMG_SIGN" -c "$T/smg.conf" --log stderr 2>"$T/err")
like "Reply-To added" $'^Reply-To: Shop Support <support@helpdesk.test>$' "$out"
like "Reply-To signed" 'h=From:To:Subject:Message-ID:Reply-To:' "$(printf '%s\n' "$out" | tr -d '\n\t ')"
like "Reply-To logged" 'reply_to=added' "$(cat "$T/err")"

# spool mode: sign/new -> route/new
mkdir -p "$SPOOL/sign/new" "$SPOOL/sign/cur" "$SPOOL/sign/tmp"
envmsg Q1 a@ed.test a@ed.test >"$SPOOL/sign/new/Q1"
envmsg Q2 a@nokey.test a@nokey.test >"$SPOOL/sign/new/Q2"
printf 'SMG-Queue-ID: Q3\nSMG-Bogus: x\n\n' >"$SPOOL/sign/new/Q3"
cp "$SPOOL/sign/new/Q2" "$T/Q2.orig"
"$SMG_SIGN" -c "$T/smg.conf" --spool --log stderr 2>"$T/spool.log"
is "spool: exit 0" 0 $?
is "spool: sign/new is empty" 0 "$(count_files "$SPOOL/sign/new")"
is "spool: sign/cur is empty" 0 "$(count_files "$SPOOL/sign/cur")"
is "spool: two in route/new" 2 "$(count_files "$SPOOL/route/new")"
is "spool: the bad one in corrupt/new" 1 "$(count_files "$SPOOL/corrupt/new")"
like "spool: Q1 signed with Ed25519" 'a=ed25519-sha256; c=relaxed/relaxed; d=ed.test' \
    "$(cat "$SPOOL/route/new/Q1")"
is "spool: Q1 keeps its envelope on top" "SMG-Queue-ID: Q1" "$(head -1 "$SPOOL/route/new/Q1")"
unlike "spool: no CR in the spool file" $'\r' "$(cat "$SPOOL/route/new/Q1")"
ok "spool: Q2 (no key) moved unchanged" cmp -s "$T/Q2.orig" "$SPOOL/route/new/Q2"
like "spool: Q1 log line" 'Q1: dkim=signed, d=ed.test, s=ed, a=ed25519-sha256, by=from, status=passed, queue=route' \
    "$(cat "$T/spool.log")"
like "spool: Q2 log line" 'Q2: dkim=none, reason=no key, from=<a@nokey.test>, status=passed, queue=route' \
    "$(cat "$T/spool.log")"

# config errors: 78, and the spool untouched
envmsg Q4 a@rsa.test a@rsa.test >"$SPOOL/sign/new/Q4"
mv "$T/keys/ed25519.pem" "$T/keys/gone.pem"
"$SMG_SIGN" -c "$T/smg.conf" --spool --log stderr 2>"$T/err"
is "missing key: exit 78" 78 $?
like "missing key: file, line and key named" 'KeyTable:3: key ed._domainkey.ed.test: .*/keys/ed25519.pem' "$(cat "$T/err")"
is "missing key: the message stays in sign/new" 1 "$(count_files "$SPOOL/sign/new")"
mv "$T/keys/gone.pem" "$T/keys/ed25519.pem"
cp "$SIGN_DATA/rsa1024.pem" "$T/keys/small.pem"
echo "small x.test:s:$T/keys/small.pem" >>"$T/KeyTable"
"$SMG_SIGN" -c "$T/smg.conf" --spool --log stderr 2>"$T/err"
is "1024-bit key: exit 78" 78 $?
like "1024-bit key: says why" 'RSA key of 1024 bits, 2048 at least' "$(cat "$T/err")"
sed -i '/^small /d' "$T/KeyTable"
echo '*@x.test nosuchkey' >>"$T/SigningTable"
"$SMG_SIGN" -c "$T/smg.conf" --spool 2>"$T/err"
is "unknown key name: exit 78" 78 $?
like "unknown key name: named" 'SigningTable:6: key nosuchkey is not in the KeyTable' "$(cat "$T/err")"
sed -i '/nosuchkey/d' "$T/SigningTable"
printf '[sign]\nbogus = 1\n' >>"$T/smg.conf"
"$SMG_SIGN" -c "$T/smg.conf" --spool 2>"$T/err"
is "unknown config key: exit 78" 78 $?
sed -i '/^bogus = 1$/d' "$T/smg.conf"
is "still in sign/new after the errors" 1 "$(count_files "$SPOOL/sign/new")"
"$SMG_SIGN" -c "$T/smg.conf" --spool --log stderr 2>"$T/err"
is "keys back: exit 0" 0 $?
ok "Q4 now in route/new" test -f "$SPOOL/route/new/Q4"

# [sign] customer_domains: a key only for an address of the customer's own
# domains, so that no customer gets mail signed as another
printf 'cust1 rsa.test\ncust2 .dual.test\n' >"$T/customers"
cp "$T/smg.conf" "$T/own.conf"
printf '[sign]\ncustomer_domains = %s/customers\n' "$T" >>"$T/own.conf"
custmsg() { # custmsg CUSTOMER SENDER FROM - a spool file of a customer's
    printf 'SMG-Queue-ID: C1\nSMG-Sender: <%s>\nSMG-Recipient: <bob@example.net>\n' "$2"
    printf 'SMG-Client: addr=10.0.0.1 helo=app.test tls=TLSv1.3 auth=%s\nSMG-Customer: %s\n' "$1" "$1"
    msg "$3"
}
signed_d() { # signed_d CONF < FILE - the d= of each signature, or "none"
    local d
    d=$("$SMG_SIGN" -c "$1" --log stderr 2>>"$T/own.err" |
        sed -n 's/^DKIM-Signature: .* d=\([^;]*\);.*/\1/p' | tr '\n' ' ')
    d=${d% }
    echo "${d:-none}"
}
: >"$T/own.err"
is "own From: domain: signed for it" "rsa.test" \
    "$(custmsg cust1 a@rsa.test a@rsa.test | signed_d "$T/own.conf")"
is "another customer's From: domain: not signed with its key" "none" \
    "$(custmsg cust1 a@shop.test boss@dual.test | signed_d "$T/own.conf")"
like "  ... logged with the customer" \
    "dkim=none, reason=not the customer's domain, from=<boss@dual.test>, customer=cust1" \
    "$(cat "$T/own.err")"
is "  ... the same message without the table: signed for dual.test (as before)" \
    "dual.test dual.test" "$(custmsg cust1 a@shop.test boss@dual.test | signed_d "$T/smg.conf")"
is "a foreign From: and an own envelope sender: signed for the sender's domain" "rsa.test" \
    "$(custmsg cust1 bounce@rsa.test boss@dual.test | signed_d "$T/own.conf")"
is "a .dual.test entry covers dual.test itself" "dual.test dual.test" \
    "$(custmsg cust2 a@dual.test a@dual.test | signed_d "$T/own.conf")"
is "a customer the table does not list: not signed" "none" \
    "$(custmsg cust9 a@rsa.test a@rsa.test | signed_d "$T/own.conf")"
is "smg's own report (no SMG-Client, no SMG-Customer): signed as before" "rsa.test" \
    "$(envmsg R1 '' postmaster@rsa.test | signed_d "$T/own.conf")"
# an NDR about a customer's message carries its SMG-Customer, but no
# SMG-Client: the gateway's own report, signed for the gateway's domain
ndr=$(printf 'SMG-Queue-ID: C1N\nSMG-Sender: <>\nSMG-Recipient: <a@shop.test>\nSMG-Customer: cust1\n'
    msg MAILER-DAEMON@dual.test)
is "an NDR about cust1's mail: signed for the gateway's domain (not cust1's)" "dual.test dual.test" \
    "$(printf '%s\n' "$ndr" | signed_d "$T/own.conf")"
# customer mail without AUTH (auth = optional): no customer, no domain
nocust=$(printf 'SMG-Queue-ID: C2\nSMG-Sender: <a@rsa.test>\nSMG-Recipient: <b@example.net>\n'
    printf 'SMG-Client: addr=10.0.0.9 helo=app.test tls=no\n'
    msg a@rsa.test)
: >"$T/own.err"
is "customer mail without AUTH: not signed" "none" \
    "$(printf '%s\n' "$nocust" | signed_d "$T/own.conf")"
like "  ... logged as no customer's" "reason=not the customer's domain, from=<a@rsa.test>, customer=none" \
    "$(cat "$T/own.err")"
out=$(custmsg cust1 a@rsa.test a@shop.test | "$SMG_SIGN" -c "$T/own.conf" 2>/dev/null)
unlike "no Reply-To: added for another customer's domain" '^Reply-To:' "$out"
printf 'cust1\n' >"$T/customers"
custmsg cust1 a@rsa.test a@rsa.test | "$SMG_SIGN" -c "$T/own.conf" >/dev/null 2>"$T/err"
is "a table line without a domain: exit 78" 78 $?
like "  ... with file and line" 'customers:1' "$(cat "$T/err")"

# filter mode's other exit statuses, as smg-sign(8) gives them
printf 'SMG-Queue-ID: E1\nSMG-Bogus: x\n\nFrom: a@rsa.test\n\nHi.\n' |
    "$SMG_SIGN" -c "$T/smg.conf" >/dev/null 2>&1
is "filter: a malformed envelope: 65" 65 $?
msg alice@rsa.test | "$SMG_SIGN" -c "$T/smg.conf" --log stderr >/dev/full 2>"$T/err"
is "filter: standard output cannot be written (/dev/full): 74" 74 $?
like "  ... and says so, with the reason" \
    '^smg-sign: fatal: -: cannot write standard output: No space left on device$' "$(cat "$T/err")"
unlike "  ... and logs no dkim=signed for the lost message" 'dkim=signed' "$(cat "$T/err")"

# usage
"$SMG_SIGN" --bogus </dev/null >/dev/null 2>&1
is "bad option: 64" 64 $?
"$SMG_SIGN" --spool --watch </dev/null >/dev/null 2>&1
is "two modes: 64" 64 $?
"$SMG_SIGN" --genkey onlydomain.test </dev/null >/dev/null 2>&1
is "--genkey without selector: 64" 64 $?
like "-n prints the non-default settings" 'multiple_signatures = (yes|true)' \
    "$("$SMG_SIGN" -c "$T/smg.conf" -n)"
done_testing
