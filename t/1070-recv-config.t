#!/bin/bash
# 1070-recv-config.t - a bad smg.conf is reported with file, line and key,
# and smg-recv exits 78 before touching the spool; -n prints the settings
# that differ from the defaults; root is refused without [spool] user.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

R="$SMG_BIN/smg-recv"
conf() { printf '%s\n' "$@" >"$T/bad.conf"; }
run() { "$R" -c "$T/bad.conf" </dev/null >"$T/out" 2>&1; echo $?; }

conf '[spool]' "dir = $T/spool" '[recv]' 'max_recipients = lots'
is "bad integer: exit 78" 78 "$(run)"
like "file, line and key named" "bad.conf:4: \[recv\] max_recipients: \"lots\" is not an integer" "$(cat "$T/out")"
ok "spool not touched" test ! -e "$T/spool"

conf '[recv]' 'colour = blue'
is "unknown key: exit 78" 78 "$(run)"
like "unknown key named with its line" 'bad.conf:2: \[recv\] colour: unknown key' "$(cat "$T/out")"

conf '[nosuch]'
is "unknown group: exit 78" 78 "$(run)"
like "unknown group named" 'bad.conf:1: \[nosuch\]: unknown group' "$(cat "$T/out")"

conf '[recv]' 'max_message_size = 1'
is "out of range: exit 78" 78 "$(run)"
like "range reported" 'max_message_size: "1" is below the minimum 1024' "$(cat "$T/out")"

conf '[recv]' 'auth = maybe'
is "bad choice: exit 78" 78 "$(run)"
like "choices listed" 'auth: "maybe" is not one of required\|optional\|off' "$(cat "$T/out")"

conf '[recv]' 'rate_limit = fast'
is "bad rate: exit 78" 78 "$(run)"

conf '[spool]' "dir = $T/spool" 'user = root' '[recv]' 'auth = off' 'tls = no' 'postmaster = ops at example'
is "bad postmaster address: exit 78" 78 "$(run)"
like "postmaster named with its line" 'bad.conf:7: \[recv\] postmaster: "ops at example" is not a mail address' "$(cat "$T/out")"

is "missing file: exit 78" 78 "$("$R" -c "$T/nonexistent.conf" </dev/null >"$T/out" 2>&1; echo $?)"

conf '[spool]' "dir = $T/spool" 'user = root' '[recv]' "tls_cert = $T/none.pem" "tls_key = $T/none.pem"
is "missing TLS certificate: exit 78" 78 "$(run)"
like "certificate named" 'cannot load certificate' "$(cat "$T/out")"

make_tls
conf '[spool]' "dir = $T/spool" 'user = root' '[recv]' 'auth = required ; inline comment' \
    "tls_cert = $T/tls/cert.pem" "tls_key = $T/tls/key.pem" "credentials = $T/nocreds"
is "missing credentials: exit 78" 78 "$(run)"

conf '[spool]' "dir = $T/spool" '[recv]' 'auth = off' "tls = no" 'sender_domain_check = no'
if [ "$(id -u)" -eq 0 ]; then
    is "as root without [spool] user: exit 78" 78 "$(run)"
    like "says why" 'refusing to run as root' "$(cat "$T/out")"

    # --listen on a port below 1024 (25, 587): the socket is bound before
    # root is given up for [spool] user (it was bound after: EACCES, exit 75)
    lport=$($PY3 -c '
import random, socket
ports = list(range(600, 1024))
random.shuffle(ports)
for p in ports:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
    print(p)
    break')
    chmod o+x "$T"
    mkdir "$T/pspool" && chown nobody "$T/pspool"
    conf '[spool]' "dir = $T/pspool" 'user = nobody' '[recv]' 'auth = off' 'tls = no' \
        'sender_domain_check = no' 'hostname = low.test'
    "$R" -c "$T/bad.conf" --log stderr --listen "127.0.0.1:$lport" 2>"$T/low.log" &
    lpid=$!
    at_exit "kill $lpid 2>/dev/null; wait $lpid 2>/dev/null"
    wait_port "$lport"
    out=$($PY3 "$srcdir/t/lib/smtpraw.py" "$lport" read 'send:QUIT\r\n' read)
    like "--listen on a port below 1024 as root: the greeting" '^S: 220 low\.test ESMTP' "$out"
    is "  ... the listener runs as [spool] user" nobody "$(stat -c %U "/proc/$lpid")"
    kill "$lpid"
    wait "$lpid"
    unlike "  ... no error" 'fatal|Permission denied' "$(cat "$T/low.log")"
fi

conf '; a comment' '[spool]' "dir = $T/spool" '[recv]' 'max_recipients = 50   # fifty' \
    'hostname = mx.example.net'
"$R" -c "$T/bad.conf" -n >"$T/out" 2>&1
is "-n exits 0" 0 "$?"
like "-n prints a changed key" '^max_recipients = 50$' "$(cat "$T/out")"
like "-n prints its group" '^\[recv\]$' "$(cat "$T/out")"
unlike "-n leaves out defaults" '^max_message_size' "$(cat "$T/out")"

"$R" --bogus >/dev/null 2>&1
is "bad option: exit 64" 64 "$?"
# a --listen that is no ADDR:PORT is a usage error (64), not a temporary
# one (75): a supervisor restarting on 75 would restart it for ever
for spec in 127.0.0.1 127.0.0.1:smtp localhost:2525 300.0.0.1:2525; do
    "$R" -c "$T/bad.conf" --listen "$spec" </dev/null >/dev/null 2>"$T/out"
    is "--listen $spec: exit 64" 64 "$?"
done
like "  ... and says what is expected" '^smg-recv: --listen 300\.0\.0\.1:2525: expected ADDR:PORT with a numeric address and port' \
    "$(cat "$T/out")"
done_testing
