# send.sh - spool files and configs for the smg-route and smg-send tests
# (sourced after tap.sh).
#
# spool_msg QUEUE ID SENDER RCPTS [FIELD...]
#               write SPOOL/QUEUE/new/ID: SMG-Queue-ID, SMG-Sender (SENDER
#               may carry parameters: "<a@b> RET=HDRS"), one SMG-Recipient
#               per space-separated word of RCPTS (a word may carry
#               parameters after a '|', with '~' for a space:
#               "x@y|NOTIFY=FAILURE~ORCPT=rfc822;x@y"), SMG-Arrival
#               ($ARRIVAL or now), then each FIELD ("Spam: verdict=ham"),
#               then a small message (Subject: $SUBJECT, default "test ID")
#               whose body has a line starting with a dot.
# gw_conf       $T/smg.conf for route and send tests, from lines
#               "group.key = value" on stdin over these defaults:
#               [spool] dir=$T/spool state_dir=$T/state user=root sync=no;
#               [route] good = mta01 mta02, bad = mta03;
#               [gateway mta01] bind 127.0.0.2, [gateway mta02] bind
#               127.0.0.4, [gateway mta03] bind 127.0.0.3 (helo mtaNN.test);
#               [dns] nameservers $DNS_SERVER when set; [send] port
#               $PEER_PORT when set, short time-outs.
# in_queue Q    number of files in SPOOL/Q/new
# field F FILE  the value of header field F (first occurrence) of FILE
#
# SPDX-License-Identifier: MIT

SPOOL="$T/spool"

spool_msg() {
    q=$1 id=$2 sender=$3 rcpts=$4
    shift 4
    mkdir -p "$SPOOL/$q/new" "$SPOOL/$q/tmp" "$SPOOL/$q/cur"
    f="$SPOOL/$q/tmp/$id"
    {
        printf 'SMG-Queue-ID: %s\n' "$id"
        case "$sender" in
            '<'*) printf 'SMG-Sender: %s\n' "$sender" ;;
            *) printf 'SMG-Sender: <%s>\n' "$sender" ;;
        esac
        for r in $rcpts; do
            case "$r" in
                *'|'*) printf 'SMG-Recipient: <%s> %s\n' "${r%%|*}" \
                    "$(printf '%s' "${r#*|}" | tr '~' ' ')" ;;
                *) printf 'SMG-Recipient: <%s>\n' "$r" ;;
            esac
        done
        printf 'SMG-Arrival: %s\n' "${ARRIVAL:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
        for fld in "$@"; do
            printf 'SMG-%s\n' "$fld"
        done
        saddr=${sender#<}
        saddr=${saddr%%>*}
        first=${rcpts%% *}
        printf 'From: <%s>\nTo: <%s>\n' "$saddr" "${first%%|*}"
        printf 'Subject: %s\n' "${SUBJECT:-test $id}"
        printf 'Message-ID: <%s@test>\n' "$id"
        printf '\n'
        printf 'Hello.\n.leading dot line\nlast line of %s\n' "$id"
    } >"$f"
    mv "$f" "$SPOOL/$q/new/$id"
}

gw_conf() {
    cat >"$T/conf.overrides"
    $PY3 - "$T" "${DNS_SERVER:-}" "${PEER_PORT:-}" "$srcdir" <<'PY'
import sys
t, dns, port = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, sys.argv[4] + "/t/lib")
import smgconf
conf = {
    "spool": {"dir": t + "/spool", "state_dir": t + "/state", "user": "root",
              "sync": "no"},
    "dns": {"timeout": "2", "attempts": "1"},
    "route": {"good": "mta01 mta02", "bad": "mta03"},
    # the test's Internet is on loopback, which the default ignores
    "send": {"connect_timeout": "5", "command_timeout": "5",
             "data_timeout": "5", "ignore_target_hosts": "none"},
    "gateway mta01": {"bind": "127.0.0.2", "helo": "mta01.test"},
    "gateway mta02": {"bind": "127.0.0.4", "helo": "mta02.test"},
    "gateway mta03": {"bind": "127.0.0.3", "helo": "mta03.test"},
}
if dns:
    conf["dns"]["nameservers"] = dns
if port:
    conf["send"]["port"] = port
smgconf.write(conf, t + "/conf.overrides", t + "/smg.conf")
PY
}

in_queue() {
    count_files "$SPOOL/$1/new"
}

# field F FILE - the value of the first header field F in FILE
field() {
    sed -n "/^\$/q; s/^$1: //p" "$2" | head -n 1
}
