# scan.sh - helpers for the smg-scan tests (sourced after tap.sh).
#
# make_db [DIR] [WHICH]  a ClamAV database built with sigtool by
#                        t/data/scan-mkmsg.py (default $T/db, all sigs)
# write_conf             $T/smg.conf: spool $T/spool (user root), [scan]
#                        database $T/db, hostname out.test; "group.key =
#                        value" lines on stdin add or override keys
# mkmsg KIND [ARG]       a generated test message on stdout
# enqueue ID KIND [SENDER-LINE-TAIL] [RCPT-LINES...]
#                        write $SPOOL/scan/new/ID: envelope and message.
#                        SENDER-LINE-TAIL is what follows "SMG-Sender: "
#                        (default "<user@sender.test>"); each RCPT-LINE
#                        what follows "SMG-Recipient: " (default one
#                        "<rcpt@rcpt.test>").  Env EXTRA_ENV adds lines.
# places ID              the spool paths holding ID, one a line
# run_scan ARGS...       smg-scan -c $T/smg.conf --log stderr ARGS, log
#                        appended to $T/scan.log; sets RC
#
# SPDX-License-Identifier: MIT

SMG_SCAN="$SMG_BIN/smg-scan"
SPOOL="$T/spool"
MKMSG="$srcdir/t/data/scan-mkmsg.py"

make_db() {
    $PY3 "$MKMSG" sigs "${1:-$T/db}" "${2:-all}" || bail "sigtool cannot build a database"
}

write_conf() {
    cat >"$T/conf.overrides"
    $PY3 - "$T" "$srcdir" <<'PY'
import sys
t = sys.argv[1]
sys.path.insert(0, sys.argv[2] + "/t/lib")
import smgconf
conf = {
    "spool": {"dir": t + "/spool", "state_dir": t + "/state", "user": "root",
              "sync": "no"},
    "scan": {"database": t + "/db", "hostname": "out.test"},
}
smgconf.write(conf, t + "/conf.overrides", t + "/smg.conf")
PY
}

mkmsg() {
    $PY3 "$MKMSG" "$@"
}

enqueue() {
    id=$1 kind=$2
    shift 2
    sender=${1:-<user@sender.test>}
    [ $# -gt 0 ] && shift
    mkdir -p "$SPOOL/scan/new" "$SPOOL/scan/tmp" "$SPOOL/scan/cur"
    {
        printf 'SMG-Queue-ID: %s\nSMG-Sender: %s\n' "$id" "$sender"
        if [ $# -eq 0 ]; then
            printf 'SMG-Recipient: <rcpt@rcpt.test>\n'
        else
            for r in "$@"; do printf 'SMG-Recipient: %s\n' "$r"; done
        fi
        printf 'SMG-Customer: customer1\nSMG-Arrival: 2026-11-22T05:00:00Z\n'
        [ -n "${EXTRA_ENV:-}" ] && printf '%s\n' "$EXTRA_ENV"
        mkmsg "$kind"
    } >"$SPOOL/scan/tmp/$id" && mv "$SPOOL/scan/tmp/$id" "$SPOOL/scan/new/$id"
}

places() {
    (cd "$SPOOL" && find . -name "$1" -type f | sed 's|^\./||' | sort)
}

run_scan() {
    "$SMG_SCAN" -c "$T/smg.conf" --log stderr "$@" 2>>"$T/scan.log"
    RC=$?
}
