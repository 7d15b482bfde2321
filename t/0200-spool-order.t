#!/bin/bash
# 0200-spool-order.t - a spool on a file system that writes each folder
# back on its own (ext4 made without a journal): a claim into cur/ is on
# the disk before the claiming call returns, so a power cut cannot leave a
# message in neither new/ nor cur/; a move is link, sync, unlink; a file
# left under both names (a move cut short) is handled once.  On a
# journalled ext4 nothing is made synchronous.
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

# 2. without a journal: the claim is on the disk while smg-check still works
SPOOL="$T/nj/spool"
write_conf <<EOF2
rspamd_url = http://127.0.0.1:$PEER_PORT/checkv2
rspamd_timeout = 5
EOF2
sed -i 's/^sync = no$/sync = yes/' "$T/smg.conf"
enqueue R2 ham
sync
is "before: R2 in check/new on the disk" "R2" "$(on_disk "$T/nj.img" /spool/check/new)"
"$CHECK" -c "$T/smg.conf" --log stderr --spool >"$T/out" 2>"$T/nj.log" &
pid=$!
ok "R2 claimed" eventually 100 test -e "$SPOOL/check/cur/R2"
is "the claim is on the disk before smg-check has finished" "R2" \
    "$(on_disk "$T/nj.img" /spool/check/cur)"
ok "smg-check is still at work (waiting for rspamd)" kill -0 "$pid"
wait "$pid"
is "smg-check exits 0" 0 "$?"
like "cur/ is synchronous (chattr +D)" '^-*D' "$(lsattr -d "$SPOOL/check/cur" | cut -d' ' -f1)"
unlike "new/ is not" '^-*D' "$(lsattr -d "$SPOOL/check/new" | cut -d' ' -f1)"
is "R2 passed to scan/new" "scan/new/R2" "$(places R2)"
unlike "no warning" 'cannot make' "$(cat "$T/nj.log")"

# 3. a move (smg-queue hold: a claim, then link, sync, unlink)
RC=0
"$QUEUE" -c "$T/smg.conf" --log stderr hold R2 >"$T/out" 2>"$T/queue.log" || RC=$?
is "hold R2: exit 0" 0 "$RC"
is "R2 is in hold/new alone" "hold/new/R2" "$(places R2)"
is "R2 is in hold/new on the disk" "R2" "$(on_disk "$T/nj.img" /spool/hold/new)"
is "and no longer in scan/cur on the disk" "" "$(on_disk "$T/nj.img" /spool/scan/cur)"
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

# 4. with a journal: the rename is one transaction; nothing is synchronous
SPOOL="$T/jn/spool"
write_conf <<EOF2
EOF2
sed -i 's/^sync = no$/sync = yes/' "$T/smg.conf"
enqueue R3 ham
run_check --spool
is "journal: smg-check exits 0" 0 "$RC"
is "journal: R3 passed to scan/new" "scan/new/R3" "$(places R3)"
unlike "journal: cur/ is not synchronous" '^-*D' "$(lsattr -d "$SPOOL/check/cur" | cut -d' ' -f1)"

# 5. [spool] dirsync: yes makes cur/ synchronous even with a journal; no
#    leaves it alone without one
SPOOL="$T/jn/spool2"
write_conf <<EOF2
EOF2
sed -i 's/^sync = no$/sync = yes\ndirsync = yes/' "$T/smg.conf"
enqueue R4 ham
run_check --spool
is "dirsync = yes, journal: R4 passed" "scan/new/R4" "$(places R4)"
like "dirsync = yes, journal: cur/ synchronous" '^-*D' "$(lsattr -d "$SPOOL/check/cur" | cut -d' ' -f1)"
sed -i 's/^dirsync = yes$/dirsync = no/' "$T/smg.conf"
enqueue R8 ham
run_check --spool
is "then dirsync = no: R8 passed" "scan/new/R8" "$(places R8)"
unlike "then dirsync = no: the attribute is taken off" '^-*D' "$(lsattr -d "$SPOOL/check/cur" | cut -d' ' -f1)"
SPOOL="$T/nj/spool2"
write_conf <<EOF2
EOF2
sed -i 's/^sync = no$/sync = yes\ndirsync = no/' "$T/smg.conf"
enqueue R5 ham
run_check --spool
is "dirsync = no, no journal: R5 passed" "scan/new/R5" "$(places R5)"
unlike "dirsync = no, no journal: cur/ not synchronous" '^-*D' "$(lsattr -d "$SPOOL/check/cur" | cut -d' ' -f1)"

done_testing
