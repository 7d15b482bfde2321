# blcheck-lib.sh - shared by the smg-blcheck tests (sourced after tap.sh).
#
# blcheck_conf PORT   write $T/smg.conf: spool and state under $T, the
#                     resolver 127.0.0.1:PORT (1 s, 1 attempt), three
#                     gateways, then the lines on stdin (the [blcheck] and
#                     [dnsbl ZONE] groups of the test):
#                       mta01  192.0.2.1     helo mta01.example.net
#                       mta02  2001:db8::25  helo mta02.example.net
#                       mta03  192.0.2.3     helo mta03.example.net
# blcheck ARGS...     run smg-blcheck with $T/smg.conf: standard output in
#                     $OUT, exit status in $RC, log lines appended to
#                     $T/blcheck.log (and the last run's alone in $LOG)
# mails               number of messages in the spool's sign/new
# newest_mail         the path of the newest message in sign/new
# json_get EXPR       evaluate a Python expression on $OUT parsed as JSON
#                     (bound to j)
#
# SPDX-License-Identifier: MIT

BLCHECK="$SMG_BIN/smg-blcheck"

blcheck_conf() {
    {
        cat <<EOF
[spool]
dir = $T/spool
state_dir = $T/state
user = root
sync = no
[dns]
nameservers = 127.0.0.1:$1
timeout = 1
attempts = 1
[recv]
hostname = out.test
[gateway mta01]
bind = 192.0.2.1
helo = mta01.example.net
[gateway mta02]
bind = 2001:db8::25
helo = mta02.example.net
[gateway mta03]
bind = 192.0.2.3
helo = mta03.example.net
EOF
        cat
    } >"$T/smg.conf"
}

blcheck() {
    OUT=$("$BLCHECK" -c "$T/smg.conf" --log stderr "$@" 2>"$T/blcheck.last")
    RC=$?
    LOG=$(cat "$T/blcheck.last")
    cat "$T/blcheck.last" >>"$T/blcheck.log"
}

mails() {
    count_files "$T/spool/sign/new"
}

newest_mail() {
    ls -t "$T/spool/sign/new"/* 2>/dev/null | head -1
}

json_get() {
    printf '%s' "$OUT" | $PY3 -c '
import json, sys
j = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}
