#!/bin/bash
# 0200-spool-order.t - a spool on a file system that writes each folder
# back on its own (ext4 made without a journal): a claim there links
# cur/ID and keeps new/ID until the message is handed on, so that no power
# cut can leave an acknowledged message in neither folder; a move is link,
# sync, unlink; a file left under both names (a move cut short) is handled
# once; smg-queue lists a claimed message once.  On a journalled ext4 a
# claim is a rename; [spool] claim = link or rename forces either way.
#
# The ext4 file systems are images on loop devices (root only): what the
# disk holds is read from the image file with debugfs while the file
# system is still mounted, i.e. what a power cut would leave.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/data/check-lib.sh"

QUEUE="$SMG_BIN/smg-queue"

# start_silent - an rspamd that never answers, so that smg-check holds its
# claim for the rspamd_timeout; sets PEER_PORT
start_silent() {
    rm -f "$T/peer.port"
    $PY3 "$srcdir/t/data/check-rspamd.py" silent "$T/peer.port" >"$T/peer.log" 2>&1 &
    at_exit "kill $!"
    eventually 100 test -s "$T/peer.port" || bail "the silent peer did not start"
    PEER_PORT=$(cat "$T/peer.port")
}

# on_disk IMG DIR - the names in DIR (relative to the image's root) as the
# image file holds them, one per line
on_disk() {
    debugfs -R "ls -p $2" "$1" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." { print $6 }'
}

# mount_image NAME MKFS-OPTIONS... - an ext4 image $T/NAME.img mounted on
# $T/NAME
mount_image() {
    local name=$1
    shift
    truncate -s 32M "$T/$name.img"
    mkfs.ext4 -q -F "$@" "$T/$name.img" || return 1
    mkdir -p "$T/$name"
    mount -o loop "$T/$name.img" "$T/$name" || return 1
    at_exit "umount -l '$T/$name'"
}

# 1. a file under two names, new/ID and cur/ID (a move cut short between its
#    link and its unlink): recovery and the claim make one message of it
write_conf <<EOF2
EOF2
enqueue R1 ham
ln "$SPOOL/check/new/R1" "$SPOOL/check/cur/R1"
run_check --spool
is "two names: smg-check exits 0" 0 "$RC"
is "two names: handled once" 1 "$(grep -c 'R1: .*status=passed' "$T/check.log")"
is "two names: one file, in scan/new" "scan/new/R1" "$(places R1)"
is "two names: its one link" 1 "$(stat -c %h "$SPOOL/scan/new/R1")"

if [ "$(id -u)" -ne 0 ] || ! command -v debugfs >/dev/null; then
    skip "ext4 images" "needs root (mount) and debugfs"
    done_testing
    exit 0
fi
mount_image nj -O ^has_journal || bail "cannot mount an ext4 image without a journal"
mount_image jn || bail "cannot mount an ext4 image with a journal"
start_silent

# watch_claim ID - run smg-check --spool (rspamd never answers: it holds
# its claim for rspamd_timeout) and, while it holds ID, set TWIN to "twin"
# when check/new/ID and check/cur/ID are one file, else "renamed"; LISTED
# to how often smg-queue lists ID; RC to smg-check's status at the end
watch_claim() {
    "$CHECK" -c "$T/smg.conf" --log stderr --spool >"$T/out" 2>>"$T/watch.log" &
    local pid=$!
    TWIN=none
    if eventually 100 test -e "$SPOOL/check/cur/$1"; then
        if [ "$(stat -c %i "$SPOOL/check/new/$1" 2>/dev/null)" = "$(stat -c %i "$SPOOL/check/cur/$1")" ]; then
            TWIN=twin
        else
            TWIN=renamed
        fi
        LISTED=$("$QUEUE" -c "$T/smg.conf" list check 2>/dev/null | grep -c "$1")
        ON_DISK_NEW=$(on_disk "$IMG" /spool/check/new)
    fi
    RC=0
    wait "$pid" || RC=$?
}
# conf_claim MODE - $T/smg.conf for $SPOOL, sync = yes, [spool] claim =
# MODE, the silent rspamd with a 2 s time-out
conf_claim() {
    write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
rspamd_timeout = 2
EOF2
    sed -i "s/^sync = no\$/sync = yes\nclaim = $1/" "$T/smg.conf"
}

# 2. without a journal: the claim keeps new/ID (on the disk too) while
#    smg-check works; smg-queue lists it once
SPOOL="$T/nj/spool" IMG="$T/nj.img"
conf_claim auto
enqueue R2 ham
sync
is "before: R2 in check/new on the disk" "R2" "$(on_disk "$IMG" /spool/check/new)"
watch_claim R2
is "while smg-check works: check/new/R2 and check/cur/R2 are one file" twin "$TWIN"
is "  and R2 is in check/new on the disk" "R2" "$ON_DISK_NEW"
is "  smg-queue lists it once" 1 "$LISTED"
is "smg-check exits 0" 0 "$RC"
is "R2 passed to scan/new, and nowhere else" "scan/new/R2" "$(places R2)"
is "  with one link" 1 "$(stat -c %h "$SPOOL/scan/new/R2")"

# 3. a move (smg-queue hold: a claim, then link, sync, unlink)
RC=0
"$QUEUE" -c "$T/smg.conf" --log stderr hold R2 >"$T/out" 2>"$T/queue.log" || RC=$?
is "hold R2: exit 0" 0 "$RC"
is "R2 is in hold/new alone" "hold/new/R2" "$(places R2)"
is "R2 is in hold/new on the disk" "R2" "$(on_disk "$IMG" /spool/hold/new)"
is "its one link" 1 "$(stat -c %h "$SPOOL/hold/new/R2")"

# recovery without a journal: link, sync, unlink; a file under two names
# (new/ and cur/, a move cut short) is handled once
write_conf <<EOF2
EOF2
sed -i 's/^sync = no$/sync = yes/' "$T/smg.conf"
enqueue R6 ham
mv "$SPOOL/check/new/R6" "$SPOOL/check/cur/R6"
enqueue R7 ham
ln "$SPOOL/check/new/R7" "$SPOOL/check/cur/R7"
: >"$T/nj2.log"
"$CHECK" -c "$T/smg.conf" --log stderr --spool >"$T/out" 2>"$T/nj2.log"
is "recovery: exit 0" 0 "$?"
is "recovery: R6 passed once" 1 "$(grep -c 'R6: .*status=passed' "$T/nj2.log")"
is "recovery: R6 in scan/new" "scan/new/R6" "$(places R6)"
is "two names: R7 passed once" 1 "$(grep -c 'R7: .*status=passed' "$T/nj2.log")"
is "two names: R7 in scan/new alone" "scan/new/R7" "$(places R7)"

# 4. with a journal: the rename is one transaction, and a claim is one
SPOOL="$T/jn/spool" IMG="$T/jn.img"
conf_claim auto
enqueue R3 ham
watch_claim R3
is "journal: the claim is a rename" renamed "$TWIN"
is "journal: R3 passed to scan/new" "scan/new/R3" "$(places R3)"

# 5. [spool] claim = link with a journal, rename without one
SPOOL="$T/jn/spool2"
conf_claim link
enqueue R4 ham
watch_claim R4
is "claim = link, journal: new/R4 kept while claimed" twin "$TWIN"
is "claim = link, journal: R4 passed, nowhere else" "scan/new/R4" "$(places R4)"
SPOOL="$T/nj/spool2" IMG="$T/nj.img"
conf_claim rename
enqueue R5 ham
watch_claim R5
is "claim = rename, no journal: a rename" renamed "$TWIN"
is "claim = rename, no journal: R5 passed" "scan/new/R5" "$(places R5)"

done_testing
