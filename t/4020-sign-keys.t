#!/bin/bash
# 4020-sign-keys.t - smg-sign --genkey writes a private key (0600, never
# over an existing file) and prints a DNS record that a zone file takes;
# --testkey looks the records up in a real DNS server (unbound) and
# compares them with the KeyTable's keys; mail signed with the new keys
# verifies with dkimpy; an encrypted key is refused without a pass phrase
# being asked for (or read from stdin).
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/lib/sign.sh"

mkdir -p "$T/keys"
cd "$T/keys" || bail "cd"

# --genkey
"$SMG_SIGN" --genkey new.test rsa1 >"$T/rsa1.txt" 2>"$T/err"
is "genkey RSA: exit 0" 0 $?
ok "default file SELECTOR.private" test -f "$T/keys/rsa1.private"
is "mode 0600" 600 "$(stat -c %a "$T/keys/rsa1.private")"
like "PKCS#8 PEM" '^-----BEGIN PRIVATE KEY-----' "$(head -1 "$T/keys/rsa1.private")"
like "RSA-2048" 'rsa-sha256, 2048 bits' "$(cat "$T/rsa1.txt")"
like "TXT record printed" '^rsa1._domainkey.new.test. IN TXT \( "v=DKIM1; k=rsa; "' "$(cat "$T/rsa1.txt")"
like "KeyTable line suggested" "KeyTable: +rsa1._domainkey.new.test new.test:rsa1:rsa1.private" "$(cat "$T/rsa1.txt")"
umask 000
# a UTF-8 domain: the record, the KeyTable and the SigningTable in A-labels
out=$("$SMG_SIGN" --genkey bücher.test u1 --type ed25519 --output "$T/u1.key" 2>&1)
printf '%s\n' "$out" >"$T/u1.txt"
like "genkey UTF-8 domain: the KeyTable line in A-labels" \
    'KeyTable: +u1\._domainkey\.xn--bcher-kva\.test xn--bcher-kva\.test:u1:' "$out"
like "genkey UTF-8 domain: the SigningTable line too" 'SigningTable: \*@xn--bcher-kva\.test ' "$out"
"$SMG_SIGN" --genkey new.test ed1 --type ed25519 --output "$T/keys/ed1.key" >"$T/ed1.txt" 2>"$T/err"
is "genkey Ed25519: exit 0" 0 $?
is "mode 0600 whatever the umask" 600 "$(stat -c %a "$T/keys/ed1.key")"
umask 022
like "Ed25519 record" 'k=ed25519; "' "$(cat "$T/ed1.txt")"
"$SMG_SIGN" --genkey new.test rsa4 --bits 3072 --output "$T/keys/rsa4.key" >"$T/rsa4.txt" 2>"$T/err"
like "--bits 3072" 'rsa-sha256, 3072 bits' "$(cat "$T/rsa4.txt")"
cp "$T/keys/ed1.key" "$T/ed1.copy"
"$SMG_SIGN" --genkey new.test ed1 --type ed25519 --output "$T/keys/ed1.key" >/dev/null 2>"$T/err"
is "existing file: exit 78" 78 $?
ok "existing file untouched" cmp -s "$T/keys/ed1.key" "$T/ed1.copy"
# a short write (here a 1 KiB file size limit, SIGXFSZ ignored) is an
# error with its reason, and no part of a key is left
(trap '' XFSZ; ulimit -f 1; exec "$SMG_SIGN" --genkey new.test short --bits 2048 \
    --output "$T/keys/short.key") >/dev/null 2>"$T/err"
is "a key cut short by the file size limit: exit 78" 78 $?
like "  ... named with its reason" 'cannot write .*short\.key: File too large' "$(cat "$T/err")"
ok "  ... and no part of it left" test ! -e "$T/keys/short.key"
"$SMG_SIGN" --genkey new.test small --bits 1024 >/dev/null 2>"$T/err"
is "1024 bits: exit 78" 78 $?
ok "no file left for a refused key" test ! -e "$T/keys/small.private"
"$SMG_SIGN" --genkey new.test sel --type dsa >/dev/null 2>&1
is "bad --type: 64" 64 $?
"$SMG_SIGN" --genkey 'bad domain' sel >/dev/null 2>&1
is "bad domain: 64" 64 $?
# names that print a record no zone takes and table lines that match no
# mail (which then goes out unsigned): refused before a key is made
for d in new.test. 'new..test' 'new_x.test' '[192.0.2.1]'; do
    "$SMG_SIGN" --genkey "$d" dot --output "$T/keys/dot.key" >"$T/out" 2>"$T/err"
    is "domain '$d': 64" 64 $?
    ok "domain '$d': no key file, nothing printed" test ! -e "$T/keys/dot.key" -a ! -s "$T/out"
done
like "the refusal says what a name is" 'not a domain and selector .*no final dot' "$(cat "$T/err")"
for s in dot. 'a/b' 'a..b'; do
    "$SMG_SIGN" --genkey new.test "$s" --output "$T/keys/dot.key" >/dev/null 2>&1
    is "selector '$s': 64" 64 $?
done
ok "no key file for a refused selector" test ! -e "$T/keys/dot.key"
"$SMG_SIGN" --genkey new.test s1.sub --type ed25519 --output "$T/keys/sub.key" >/dev/null 2>&1
is "a selector of two labels (RFC 6376 3.1): 0" 0 $?
"$SMG_SIGN" --genkey new.test other >"$T/other.txt" 2>/dev/null
"$SMG_SIGN" --genkey new.test unpublished --type ed25519 >/dev/null 2>&1

# zone: the printed records as they are, the key "other"'s record under
# the name of rsa4 (a mismatch), and no record for "unpublished"
zone_line() { grep -v '^;' "$1" | tr -d '\n\t()' | sed 's/ IN TXT / TXT /'; echo; }
{
    zone_line "$T/rsa1.txt"
    zone_line "$T/ed1.txt"
    zone_line "$T/other.txt" | sed 's/^other\._domainkey/rsa4._domainkey/'
    zone_line "$T/ed1.txt" | sed 's/^ed1\._domainkey/pctsel._domainkey/'
    zone_line "$T/u1.txt"
    echo 'revoked._domainkey.new.test. TXT "v=DKIM1; k=rsa; p="'
    # rsa1's key as a bare PKCS#1 RSAPublicKey (RFC 6376 3.6.1's words),
    # which most verifiers cannot read: in strings of 200 octets
    printf 'pkcs1._domainkey.new.test. TXT "v=DKIM1; k=rsa; p="'
    openssl rsa -in "$T/keys/rsa1.private" -RSAPublicKey_out -outform DER 2>/dev/null |
        base64 -w 200 | sed 's/.*/ "&"/' | tr -d '\n'
    echo
    echo 'wrongtype._domainkey.new.test. TXT "v=DKIM1; k=rsa; p=MCowBQYDK2VwAyEA"'
} >"$T/zone"
start_dns "$T/zone"
cat >"$T/KeyTable" <<EOF
rsa1  new.test:rsa1:$T/keys/rsa1.private
ed1   new.test:ed1:$T/keys/ed1.key
rsa4  new.test:rsa4:$T/keys/rsa4.key
unpub new.test:unpublished:$T/keys/unpublished.private
pk1   new.test:pkcs1:$T/keys/rsa1.private
rev   new.test:revoked:$T/keys/other.private
wt    new.test:wrongtype:$T/keys/ed1.key
slow  x.timeout.test:s:$T/keys/ed1.key
pct   %:pctsel:$T/keys/ed1.key
u1    bücher.test:u1:$T/u1.key
EOF
cat >"$T/SigningTable" <<EOF
*@new.test rsa1
*@new.test ed1
EOF
cat >"$T/smg.conf" <<EOF
[spool]
dir = $T/spool
user = root
[dns]
nameservers = 127.0.0.1:$DNS_PORT
timeout = 1
attempts = 1
[sign]
keytable = $T/KeyTable
signingtable = refile:$T/SigningTable
multiple_signatures = yes
EOF

out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test rsa1 2>&1)
is "testkey RSA: exit 0" 0 $?
is "testkey RSA: key OK" "rsa1: rsa1._domainkey.new.test: key OK" "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test ed1 2>&1)
is "testkey Ed25519: exit 0" 0 $?
like "testkey Ed25519: key OK" 'ed1._domainkey.new.test: key OK' "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test rsa4 2>&1)
is "another key published: exit 1" 1 $?
like "another key published: says so" 'rsa4._domainkey.new.test: p= is another key' "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test pkcs1 2>&1)
is "the key as PKCS#1: exit 1" 1 $?
is "the key as PKCS#1: says so, not 'another key'" \
    "pk1: 5.7.5 pkcs1._domainkey.new.test: p= is the private key's, but as a PKCS#1 RSAPublicKey, which OpenDKIM and most verifiers cannot read: publish the SubjectPublicKeyInfo form that --genkey prints" \
    "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test unpublished 2>&1)
is "no record: exit 1" 1 $?
like "no record: NXDOMAIN" 'no TXT record at unpublished._domainkey.new.test \(NXDOMAIN\)' "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test revoked 2>&1)
like "revoked key" 'revoked \(empty p=\)' "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test wrongtype 2>&1)
like "k= does not match the key type" 'k=rsa, but the private key is ed25519' "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey x.timeout.test s 2>&1)
is "DNS time-out: exit 75" 75 $?
like "DNS time-out: 4.4.3" '4\.4\.3' "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey nothere.test s 2>&1)
is "not in the KeyTable: exit 78" 78 $?
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey 2>&1)
is "all keys: exit 1 (some fail)" 1 $?
is "all keys: one line each" 10 "$(printf '%s\n' "$out" | grep -c .)"
like "all keys: a d=% key says how to test it" \
    'pct: d=%: the domain is the sender.s; test it with smg-sign --testkey DOMAIN pctsel' "$out"
# ... and that way works: the key is tested for the domain given
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test pctsel 2>&1)
is "d=% key for a domain: exit 0" 0 $?
is "d=% key for a domain: key OK" "pct: pctsel._domainkey.new.test: key OK" "$out"
# a UTF-8 domain is the KeyTable's A-labels, as --genkey prints them
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey bücher.test u1 2>&1)
is "UTF-8 domain: exit 0" 0 $?
is "UTF-8 domain: key OK" "u1: u1._domainkey.xn--bcher-kva.test: key OK" "$out"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey NEW.TEST rsa1 2>&1)
is "domain in upper case: key OK" "rsa1: rsa1._domainkey.new.test: key OK" "$out"

# a private key others can read or write is named in a warning (signing
# goes on: the operator fixes the mode); 0600 and 0640 are quiet
chmod 644 "$T/keys/rsa1.private"
chmod 640 "$T/keys/ed1.key"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test rsa1 2>&1)
like "key mode 0644: warned, with file and mode" \
    "warning: .*KeyTable:1: key rsa1: $T/keys/rsa1.private is accessible by others \\(mode 0644\\); chmod 600 it" "$out"
like "key mode 0644: still tested" 'rsa1: rsa1._domainkey.new.test: key OK' "$out"
unlike "key mode 0640: no warning" "ed1.key is accessible" "$out"
chmod 600 "$T/keys/rsa1.private"
chmod 662 "$T/keys/rsa4.key"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test rsa1 2>&1)
like "key mode 0662: warned" "rsa4.key is accessible by others \\(mode 0662\\)" "$out"
chmod 600 "$T/keys/rsa4.key"
out=$("$SMG_SIGN" -c "$T/smg.conf" --testkey new.test rsa1 2>&1)
unlike "all keys 0600 or 0640: no warning" "accessible by others" "$out"

# mail signed with the new keys verifies
printf 'From: a@new.test\nTo: b@example.net\nSubject: new keys\n\nhello\n' |
    "$SMG_SIGN" -c "$T/smg.conf" >"$T/new.out" 2>/dev/null
is "signed with the new keys: dkimpy" "pass a=rsa-sha256 d=new.test s=rsa1
pass a=ed25519-sha256 d=new.test s=ed1" "$(verify_py "$T/new.out")"

# an encrypted key: no pass phrase is asked for.  OpenSSL would read one
# from stdin without a terminal (setsid), which in filter mode is the
# message: its first line would unlock the key, or be swallowed
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 \
    -pass pass:secret -out "$T/enc.key" 2>/dev/null
chmod 600 "$T/enc.key"
echo "enc._domainkey.enc.test enc.test:enc:$T/enc.key" >"$T/KeyTable.enc"
echo "*@enc.test enc._domainkey.enc.test" >"$T/SigningTable.enc"
sed -e "s|^keytable = .*|keytable = $T/KeyTable.enc|" \
    -e "s|^signingtable = .*|signingtable = refile:$T/SigningTable.enc|" "$T/smg.conf" >"$T/enc.conf"
printf 'secret\nFrom: a@enc.test\nTo: b@example.net\nSubject: x\n\nhello\n' |
    setsid -w "$SMG_SIGN" -c "$T/enc.conf" >"$T/enc.out" 2>"$T/enc.err"
is "encrypted key: exit 78, even with its pass phrase as stdin's first line" 78 $?
unlike "encrypted key: no pass phrase asked for" 'pass phrase' "$(cat "$T/enc.err")"
like "encrypted key: the error says why" 'enc\.key\): .*not a private key \(PEM or DER, not encrypted\)' \
    "$(cat "$T/enc.err")"
is "encrypted key: no output" "" "$(cat "$T/enc.out")"

# a key file that is not a regular file: a FIFO at the path hung the
# start for ever (the read waited for a writer), a device such as
# /dev/zero was read without end; both are refused at once
mkfifo "$T/fifo.key"
echo "fifo._domainkey.enc.test enc.test:fifo:$T/fifo.key" >"$T/KeyTable.fifo"
echo "*@enc.test fifo._domainkey.enc.test" >"$T/SigningTable.fifo"
sed -e "s|^keytable = .*|keytable = $T/KeyTable.fifo|" \
    -e "s|^signingtable = .*|signingtable = refile:$T/SigningTable.fifo|" "$T/smg.conf" >"$T/fifo.conf"
timeout 10 "$SMG_SIGN" -c "$T/fifo.conf" </dev/null >"$T/fifo.out" 2>"$T/fifo.err"
is "FIFO as key file: exit 78 (no hang)" 78 $?
like "FIFO as key file: the error says why" 'fifo\.key: (4\.3\.5 )?not a regular file' "$(cat "$T/fifo.err")"

# a KeyTable domain or selector that is no DNS name (a final dot, an empty
# label, a blank) signed every message with a d= or s= no receiver can
# look up, logged dkim=signed: a config error now, naming file and line
n=0
for ds in 'new.test.:ed1' 'new..test:ed1' 'new.test:ed 1' 'new.test:ed1.' '[192.0.2.1]:ed1'; do
    n=$((n + 1))
    printf 'ok1 new.test:ed1:%s\nbad%s %s:%s\n' "$T/keys/ed1.key" $n "$ds" "$T/keys/ed1.key" >"$T/KeyTable.bad$n"
    echo "*@new.test bad$n" >"$T/SigningTable.bad$n"
    sed -e "s|^keytable = .*|keytable = $T/KeyTable.bad$n|" \
        -e "s|^signingtable = .*|signingtable = refile:$T/SigningTable.bad$n|" "$T/smg.conf" >"$T/bad$n.conf"
    printf 'From: a@new.test\nTo: b@example.net\nSubject: x\n\nhello\n' |
        "$SMG_SIGN" -c "$T/bad$n.conf" >"$T/bad.out" 2>"$T/bad.err"
    is "KeyTable $ds: exit 78" 78 $?
    like "KeyTable $ds: file and line named" "KeyTable\\.bad$n:2: key bad$n: .*is not a domain" "$(cat "$T/bad.err")"
done
is "KeyTable with a bad name: no output" "" "$(cat "$T/bad.out")"
done_testing
