#!/bin/bash
# 4010-sign-verify.t - smg-sign's signatures checked by two independent
# verifiers, dkimpy (python3-dkim) and Mail::DKIM (libmail-dkim-perl), with
# the public keys served by a real DNS server (unbound) on loopback: RSA,
# Ed25519 and dual signatures; LF and CRLF input; 8-bit bodies; long and
# folded headers; an empty body; and tampered messages that must fail.
# Mail::DKIM 1.20230212 (Debian 12) has no Ed25519: it must say so
# ("unsupported algorithm") and pass the RSA signature of a dual message.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/sign.sh"

sign_zone "$T/zone"
start_dns "$T/zone"
sign_setup </dev/null

# sign_file IN OUT - smg-sign in filter mode
sign_file() {
    "$SMG_SIGN" -c "$T/smg.conf" --log stderr <"$1" >"$2" 2>>"$T/sign.log"
}

# check NAME FILE WANT_PY WANT_PL - both verifiers' verdicts, from the
# batch results $T/py and $T/pl (see run_verifiers)
check() {
    is "$1: dkimpy" "$3" "$(verdicts "$T/py" "$2")"
    is "$1: Mail::DKIM" "$4" "$(verdicts "$T/pl" "$2" | sed 's/ (.*//')"
}
# run_verifiers FILE... - both verifiers over all the files at once
run_verifiers() {
    verify_many py "$T/py" "$@"
    verify_many pl "$T/pl" "$@"
}

# messages
printf 'From: Alice <alice@%s>\nTo: bob@example.net\nSubject: plain\nDate: Sun, 22 Nov 2026 05:00:00 +0000\nMessage-ID: <plain@x>\n\nHello Bob,\n  a plain message.\n' \
    DOMAIN >"$T/plain.tmpl"
printf 'From: alice@DOMAIN\r\nTo: bob@example.net\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n' >"$T/crlf.tmpl"
printf 'From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@DOMAIN>\nTo: bob@example.net\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e aus K\303\266ln, 100 \342\202\254.\n\377 raw byte\n' >"$T/8bit.tmpl"
{
    printf 'From: "Alice, the\n  Example" <alice@DOMAIN>\nTo: bob@example.net,\n\tcarol@example.net,\n  dave@example.net\nSubject: a long\n and folded subject\n'
    printf 'References:'
    for i in $(seq 1 100); do printf '\n <message-%d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com>' "$i"; done
    printf '\nX-Long: %s\n\nbody\n' "$(head -c 3000 /dev/zero | tr '\0' 'x')"
} >"$T/long.tmpl"
printf 'From: alice@DOMAIN\nTo: bob@example.net\nSubject: empty body\n\n' >"$T/empty.tmpl"

for d in rsa.test ed.test dual.test; do
    for m in plain crlf 8bit long empty; do
        sed "s/DOMAIN/$d/" "$T/$m.tmpl" >"$T/$d.$m.in"
        sign_file "$T/$d.$m.in" "$T/$d.$m.out"
    done
done
is "every message signed" 15 "$(grep -c 'dkim=signed' "$T/sign.log")"

# tampered copies: the checks can fail
sed 's/a plain message/a tampered message/' "$T/dual.test.plain.out" >"$T/t-body"
sed 's/^Subject: plain/Subject: plane/' "$T/dual.test.plain.out" >"$T/t-subj"
sed 's/^To: bob@example.net$/To: mallory@evil.test/' "$T/ed.test.plain.out" >"$T/t-to"
sed '/^Subject: plain/a From: mallory@evil.test' "$T/rsa.test.plain.out" >"$T/t-from"
sed 's/empty body/EMPTY body/' "$T/rsa.test.empty.out" >"$T/t-empty"
printf 'one more line\n' >>"$T/t-empty"
sed 's/^Subject: crlf/Subject: CRLF/' "$T/ed.test.crlf.out" >"$T/t-crlf"
run_verifiers "$T"/*.out "$T"/t-*

RSA_PY="pass a=rsa-sha256 d=rsa.test s=rsa"
RSA_PL="pass a=rsa-sha256 d=rsa.test s=rsa"
ED_PY="pass a=ed25519-sha256 d=ed.test s=ed"
ED_PL="invalid a=ed25519-sha256 d=ed.test s=ed"
DUAL_PY="pass a=rsa-sha256 d=dual.test s=r1
pass a=ed25519-sha256 d=dual.test s=e1"
DUAL_PL="pass a=rsa-sha256 d=dual.test s=r1
invalid a=ed25519-sha256 d=dual.test s=e1"
for m in plain crlf 8bit long empty; do
    check "RSA, $m" "$T/rsa.test.$m.out" "$RSA_PY" "$RSA_PL"
    check "Ed25519, $m" "$T/ed.test.$m.out" "$ED_PY" "$ED_PL"
    check "dual, $m" "$T/dual.test.$m.out" "$DUAL_PY" "$DUAL_PL"
done
like "Mail::DKIM: Ed25519 is unsupported, not failed" 'unsupported algorithm ed25519-sha256' \
    "$(verdicts "$T/pl" "$T/ed.test.plain.out")"
ok "CRLF message stays CRLF" grep -q $'^DKIM-Signature: .*\r$' "$T/rsa.test.crlf.out"
ok "8-bit bytes kept" grep -q $'\377 raw byte' "$T/dual.test.8bit.out"

# tampering: the checks can fail
check "tampered body" "$T/t-body" "fail a=rsa-sha256 d=dual.test s=r1
fail a=ed25519-sha256 d=dual.test s=e1" "fail a=rsa-sha256 d=dual.test s=r1
invalid a=ed25519-sha256 d=dual.test s=e1"
check "tampered Subject" "$T/t-subj" "fail a=rsa-sha256 d=dual.test s=r1
fail a=ed25519-sha256 d=dual.test s=e1" "fail a=rsa-sha256 d=dual.test s=r1
invalid a=ed25519-sha256 d=dual.test s=e1"
is "tampered To (Ed25519): dkimpy" "fail a=ed25519-sha256 d=ed.test s=ed" \
    "$(verdicts "$T/py" "$T/t-to")"
check "a second From: added (oversigned)" "$T/t-from" "fail a=rsa-sha256 d=rsa.test s=rsa" \
    "fail a=rsa-sha256 d=rsa.test s=rsa"
check "empty body, body and header tampered" "$T/t-empty" "fail a=rsa-sha256 d=rsa.test s=rsa" \
    "fail a=rsa-sha256 d=rsa.test s=rsa"
is "tampered CRLF message: dkimpy" "fail a=ed25519-sha256 d=ed.test s=ed" \
    "$(verdicts "$T/py" "$T/t-crlf")"

# a key that is not the published one fails
sed -i "s|^r1._domainkey.dual.test .*|r1._domainkey.dual.test dual.test:r1:$T/keys/other-rsa2048.pem|" "$T/KeyTable"
sign_file "$T/dual.test.plain.in" "$T/wrongkey.out"

# spool mode: the file as smg-send would send it
sign_setup </dev/null
mkdir -p "$SPOOL/sign/new"
{
    printf 'SMG-Queue-ID: V1\nSMG-Sender: <alice@dual.test>\nSMG-Recipient: <bob@example.net>\n'
    sed 's/DOMAIN/dual.test/' "$T/long.tmpl"
} >"$SPOOL/sign/new/V1"
"$SMG_SIGN" -c "$T/smg.conf" --spool --log stderr 2>>"$T/sign.log"
is "spool: exit 0" 0 $?

# expiry: x= is t= plus [sign] expire
printf 'expire = 1h\n' >>"$T/smg.conf"
now=$(date +%s)
"$SMG_SIGN" -c "$T/smg.conf" --time "$now" <"$T/rsa.test.plain.in" >"$T/expire.out" 2>/dev/null
like "x= is t= + 3600" "t=$now;x=$((now + 3600));" "$(tr -d '\n\t ' <"$T/expire.out")"
"$SMG_SIGN" -c "$T/smg.conf" --time $((now - 7200)) <"$T/rsa.test.plain.in" >"$T/expired.out" 2>/dev/null

# a bare CR (in a message injected by hand: smg-recv refuses them) goes
# out as CRLF (smg-send(8)), so the signature must cover it as a line end
# wire IN OUT - the message as smg-send transmits it: every bare CR or LF
# a CRLF
wire() {
    $PY3 -c 'import re, sys; d = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(re.sub(rb"\r\n|\r|\n", b"\r\n", d))' "$1" "$2"
}
printf 'From: alice@rsa.test\nTo: bob@example.net\nSubject: bare\r CR folded\n\nline one\rline two\r\r\nend\r' >"$T/barecr.in"
sign_file "$T/barecr.in" "$T/barecr.out"
wire "$T/barecr.out" "$T/barecr.wire"
like "bare CR: signed" '^DKIM-Signature: ' "$(head -1 "$T/barecr.out")"
ok "bare CR: kept in the spool copy" grep -q $'line one\rline two' "$T/barecr.out"

run_verifiers "$T/wrongkey.out" "$SPOOL/route/new/V1" "$T/expire.out" "$T/expired.out" \
    "$T/barecr.wire"
check "bare CR, as transmitted" "$T/barecr.wire" "$RSA_PY" "$RSA_PL"
check "wrong key" "$T/wrongkey.out" "fail a=rsa-sha256 d=dual.test s=r1
pass a=ed25519-sha256 d=dual.test s=e1" "fail a=rsa-sha256 d=dual.test s=r1
invalid a=ed25519-sha256 d=dual.test s=e1"
check "spool, dual, long headers" "$SPOOL/route/new/V1" "$DUAL_PY" "$DUAL_PL"
check "with x=" "$T/expire.out" "$RSA_PY" "$RSA_PL"
like "expired signature: Mail::DKIM says so" 'signature is expired' "$(verdicts "$T/pl" "$T/expired.out")"
done_testing
