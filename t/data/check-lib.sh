# check-lib.sh - helpers of the smg-check tests (sourced after tap.sh).
#
# write_conf          $T/smg.conf: spool and state under $T, the shipped
#                     rules (copied into $T, where a worker that drops to
#                     nobody reads them even from a checkout under /root),
#                     bayes_min_learned = 5; lines on stdin are added to
#                     [check]
# synth DIR N SEED    a synthetic set: DIR/ham/* and DIR/spam/*, N each
# msg NAME            print a crafted message (gtube, ham, spam, html)
# enqueue ID NAME     put message NAME with an envelope in check/new/ID
# places ID           the queue/sub/ID paths where ID is in the spool
# run_check ARGS...   smg-check -c $T/smg.conf --log stderr ARGS; stdout in
#                     $T/out, stderr appended to $T/check.log, status in RC
# SPDX-License-Identifier: MIT

CHECK="$SMG_BIN/smg-check"
SPOOL="$T/spool"
[ -x "$CHECK" ] || bail "no $CHECK: build first"

write_conf() {
    cp "$srcdir/data/rules/smg.rules" "$T/smg.rules" || bail "cannot copy the rules"
    {
        cat <<EOF2
[spool]
dir = $SPOOL
state_dir = $T/state
user = root
sync = no
[check]
rules = $T/smg.rules
bayes_min_learned = 5
EOF2
        cat
    } >"$T/smg.conf"
    mkdir -p "$T/state"
}

synth() {
    $PY3 "$srcdir/t/data/check-synth.py" "$1" "$2" "$3" || bail "check-synth.py failed"
}

msg() {
    now=$(date -u '+%a, %d %b %Y %H:%M:%S +0000')
    case $1 in
        gtube)
            printf 'From: a@b.test\nTo: c@d.test\nSubject: test\nDate: %s\nMessage-ID: <g@b.test>\n\n%s\n' \
                "$now" 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X' ;;
        ham)
            printf 'From: Ann <colleague1@work.test>\nTo: someone@example.net\nSubject: project meeting\nDate: %s\nMessage-ID: <h1@work.test>\n\nthe project meeting agenda and the budget report are attached, thanks\nregards\n' "$now" ;;
        spam)
            printf 'From: promo9@deals2.test\nTo: someone@example.net\nSubject: cheap casino bonus\nDate: %s\nMessage-ID: <s1@deals2.test>\n\ncheap viagra casino bonus jackpot lottery winner prize cash discount\n' "$now" ;;
        html)
            printf 'From: x@y.test\nTo: a@b.test\nSubject: hi\nDate: %s\nMessage-ID: <x1@y.test>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><a href=3D"http://192.0.2.9/login">http://www.mybank.test/</a> <a href=3D"http://www.listed.test/x">x</a></body></html>\n' "$now" ;;
        *) bail "msg: unknown $1" ;;
    esac
}

enqueue() {
    mkdir -p "$SPOOL/check/new" "$SPOOL/check/cur" "$SPOOL/check/tmp"
    {
        printf 'SMG-Queue-ID: %s\nSMG-Sender: <bounce@work.test>\nSMG-Recipient: <someone@example.net>\n' "$1"
        printf 'SMG-Client: addr=192.0.2.10 helo=app.work.test auth=cust1\nSMG-Customer: cust1\n'
        printf 'SMG-Arrival: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
        msg "$2"
    } >"$SPOOL/check/tmp/$1"
    mv "$SPOOL/check/tmp/$1" "$SPOOL/check/new/$1"
}

places() {
    (cd "$SPOOL" 2>/dev/null && find . -type f -name "$1" | sed 's|^\./||' | sort | tr '\n' ' ' | sed 's/ $//')
}

run_check() {
    RC=0
    "$CHECK" -c "$T/smg.conf" --log stderr "$@" >"$T/out" 2>>"$T/check.log" || RC=$?
}
