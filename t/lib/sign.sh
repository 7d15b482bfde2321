# sign.sh - helpers for the smg-sign tests (sourced after tap.sh).
#
# sign_setup        keys from t/data/sign-data copied to $T/keys (0600),
#                   $T/KeyTable, $T/SigningTable (refile) and $T/smg.conf:
#                     rsa.test   RSA-2048 only      (selector rsa)
#                     ed.test    Ed25519 only       (selector ed)
#                     dual.test  RSA and Ed25519    (selectors r1, e1)
#                     shop.test  RSA, and a Reply-To in $T/replyto
#                   extra "key = value" lines for [sign] on stdin
# sign_zone FILE    write the DNS records of those keys to FILE
# txt_record NAME KEYFILE  one zone line: NAME TXT "v=DKIM1; k=...; p=..."
# verify_py FILE    dkimpy's verdicts (t/lib/dkim-verify.py), one a line
# verify_pl FILE    Mail::DKIM's verdicts (t/lib/dkim-verify.pl), with
#                   the detail in parentheses
# verify_many py|pl OUT FILE...  one run of a verifier over many files
#                   (each run starts an interpreter: ~0.4 s), into OUT
# verdicts OUT FILE the verdict lines of FILE in OUT
# SMG_SIGN          the program
#
# SPDX-License-Identifier: MIT

SMG_SIGN="$SMG_BIN/smg-sign"
SIGN_DATA="$srcdir/t/data/sign-data"
SPOOL="$T/spool"

sign_setup() {
    mkdir -p "$T/keys"
    cp "$SIGN_DATA/rsa2048.pem" "$SIGN_DATA/ed25519.pem" \
        "$SIGN_DATA/other-rsa2048.pem" "$T/keys/"
    chmod 600 "$T/keys/"*.pem
    cat >"$T/KeyTable" <<EOK
# name                     domain:selector:key
rsa._domainkey.rsa.test    rsa.test:rsa:$T/keys/rsa2048.pem
ed._domainkey.ed.test      ed.test:ed:./keys/ed25519.pem
r1._domainkey.dual.test    dual.test:r1:$T/keys/rsa2048.pem
e1._domainkey.dual.test    dual.test:e1:$T/keys/ed25519.pem
shop                       shop.test:s1:$T/keys/other-rsa2048.pem
EOK
    cat >"$T/SigningTable" <<'EOS'
*@rsa.test     rsa._domainkey.rsa.test
*@ed.test      ed._domainkey.ed.test
*@dual.test    r1._domainkey.dual.test
*@dual.test    e1._domainkey.dual.test
*@shop.test    shop
EOS
    echo "shop.test  Shop Support <support@helpdesk.test>" >"$T/replyto"
    {
        printf '[spool]\ndir = %s\nuser = root\nsync = no\n' "$SPOOL"
        [ -n "${DNS_PORT:-}" ] &&
            printf '[dns]\nnameservers = 127.0.0.1:%s\ntimeout = 1\nattempts = 1\n' "$DNS_PORT"
        printf '[sign]\nkeytable = KeyTable\nsigningtable = refile:SigningTable\n'
        printf 'multiple_signatures = yes\nreply_to = replyto\n'
        cat
    } >"$T/smg.conf"
}

# txt_record NAME KEYFILE - a zone line with the key's public part
txt_record() {
    $PY3 - "$1" "$2" <<'PY'
import base64, subprocess, sys
name, path = sys.argv[1], sys.argv[2]
der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                     check=True, capture_output=True).stdout
kind = "rsa"
if len(der) == 44:  # Ed25519 SubjectPublicKeyInfo: 12 bytes, then the key
    kind, der = "ed25519", der[12:]
rec = "v=DKIM1; k=%s; p=%s" % (kind, base64.b64encode(der).decode())
print("%s TXT %s" % (name, " ".join('"%s"' % rec[i:i + 250]
                                    for i in range(0, len(rec), 250))))
PY
}

sign_zone() {
    {
        txt_record rsa._domainkey.rsa.test. "$SIGN_DATA/rsa2048.pem"
        txt_record ed._domainkey.ed.test. "$SIGN_DATA/ed25519.pem"
        txt_record r1._domainkey.dual.test. "$SIGN_DATA/rsa2048.pem"
        txt_record e1._domainkey.dual.test. "$SIGN_DATA/ed25519.pem"
        txt_record s1._domainkey.shop.test. "$SIGN_DATA/other-rsa2048.pem"
    } >"$1"
}

verify_py() {
    $PY3 "$srcdir/t/lib/dkim-verify.py" "$DNS_PORT" "$1" 2>&1 | grep -v '^\(==\|#\) '
}
verify_pl() {
    perl "$srcdir/t/lib/dkim-verify.pl" "$DNS_PORT" "$1" 2>&1 | grep -v '^== '
}
verify_many() {
    v=$1 out=$2
    shift 2
    case $v in
    py) $PY3 "$srcdir/t/lib/dkim-verify.py" "$DNS_PORT" "$@" >"$out" 2>&1 ;;
    pl) perl "$srcdir/t/lib/dkim-verify.pl" "$DNS_PORT" "$@" >"$out" 2>&1 ;;
    esac
}
verdicts() {
    awk -v f="== $2" '$0 == f { on = 1; next } /^== / { on = 0 } on && !/^# /' "$1"
}
