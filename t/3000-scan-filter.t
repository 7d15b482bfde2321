#!/bin/bash
# 3000-scan-filter.t - smg-scan in filter mode with the real libclamav and
# a database built by sigtool in the test: EICAR (made at run time) as a
# 7bit attachment, base64, in a zip and in a forwarded message; a body
# signature of our own; clean mail with attachments; limits (a message
# larger than max_file_size or max_scan_size is an error, not clean); an
# unusable database (missing, empty, malformed) is exit 75, never "clean";
# a daily database older than 7 days is a warning in the log.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/scan.sh"

make_db
write_conf </dev/null

# clean messages pass with exit 0 and a verdict on top
for kind in clean clean-attach utf8; do
    mkmsg $kind >"$T/$kind.eml"
    out=$("$SMG_SCAN" -c "$T/smg.conf" <"$T/$kind.eml" 2>"$T/err")
    is "$kind: exit 0" 0 $?
    like "$kind: SMG-Virus verdict=clean first" \
        '^SMG-Virus: verdict=clean engine=ClamAV/1\.[0-9.]+ signatures=3$' \
        "$(printf '%s\n' "$out" | head -1)"
    is "$kind: message unchanged below the verdict" \
        "$(cat "$T/$kind.eml")" "$(printf '%s\n' "$out" | tail -n +2)"
done

# infected messages: exit 1, virus named
for kind in eicar-plain eicar-b64 eicar-zip eicar-nested; do
    out=$(mkmsg $kind | "$SMG_SCAN" -c "$T/smg.conf" 2>"$T/err")
    is "$kind: exit 1" 1 $?
    like "$kind: infected with EICAR" \
        '^SMG-Virus: verdict=infected engine=ClamAV/[0-9.]+ signatures=3 virus=Smg-Test-Eicar\.' \
        "$(printf '%s\n' "$out" | head -1)"
done
out=$(mkmsg body-sig | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
is "body signature: exit 1" 1 $?
like "body signature named" 'virus=Smg-Test-Body' "$(printf '%s\n' "$out" | head -1)"

# only the MD5 of the EICAR file: parts must be decoded to be seen
make_db "$T/db-md5" hdb
write_conf <<EOF
scan.database = $T/db-md5
EOF
for kind in eicar-b64 eicar-zip eicar-nested; do
    out=$(mkmsg $kind | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
    is "MD5 only, $kind: exit 1" 1 $?
    like "MD5 only, $kind: found by the MD5" 'virus=Smg-Test-Eicar\.MD5' "$out"
done

# a message with an envelope keeps it; the verdict joins the envelope
write_conf </dev/null
{
    printf 'SMG-Queue-ID: F1\nSMG-Sender: <user@sender.test>\nSMG-Recipient: <r@rcpt.test>\n'
    printf 'SMG-Spam: verdict=ham score=0.1\n'
    mkmsg clean
} >"$T/env.eml"
out=$("$SMG_SCAN" -c "$T/smg.conf" --log stderr <"$T/env.eml" 2>"$T/err")
is "with envelope: exit 0" 0 $?
is "envelope kept, verdict after the other fields" \
    "SMG-Queue-ID: F1|SMG-Sender: <user@sender.test>|SMG-Recipient: <r@rcpt.test>|SMG-Spam: verdict=ham score=0.1|SMG-Virus: verdict=clean" \
    "$(printf '%s\n' "$out" | head -5 | sed 's/ engine=.*//' | paste -sd'|')"
like "log line: queue ID, verdict, time" \
    'smg-scan\[[0-9]+\]: F1: verdict=clean, size=[0-9]+, scan_time=[0-9.]+s' "$(cat "$T/err")"
# an old verdict is replaced, not doubled
out2=$(printf '%s\n' "$out" | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
is "a second scan keeps one SMG-Virus" 1 "$(printf '%s\n' "$out2" | grep -c '^SMG-Virus:')"

# limits: reported in the verdict; pass by default, refused with reject
write_conf <<'EOF'
scan.max_files = 3
EOF
out=$(mkmsg clean-attach | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
is "limit hit, pass: exit 0" 0 $?
like "limit in the verdict" '^SMG-Virus: verdict=clean .* limit=Heuristics\.Limits\.Exceeded\.MaxFiles$' \
    "$(printf '%s\n' "$out" | head -1)"
write_conf <<'EOF'
scan.max_files = 3
scan.limit_action = reject
EOF
out=$(mkmsg clean-attach | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
is "limit hit, reject: exit 1" 1 $?
like "refused as the limit" 'verdict=infected .*virus=Heuristics\.Limits\.Exceeded\.MaxFiles' \
    "$(printf '%s\n' "$out" | head -1)"
write_conf <<'EOF'
scan.max_recursion = 3
EOF
out=$(mkmsg eicar-deep 6 | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
like "recursion limit reported" 'limit=Heuristics\.Limits\.Exceeded\.MaxRecursion' "$out"

# a message larger than max_file_size (or max_scan_size) is skipped whole
# by libclamav: it was not scanned, so it is no clean message, whatever
# limit_action says; with reject it is refused as the limit
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
{
    printf 'Subject: big\n\n%s\n' "$EICAR"
    for _ in $(seq 1 60); do printf '%070d\n' 0; done
} >"$T/big.eml"
for key in max_file_size max_scan_size; do
    write_conf <<EOF
scan.$key = 1024
EOF
    out=$("$SMG_SCAN" -c "$T/smg.conf" <"$T/big.eml" 2>"$T/err")
    is "larger than $key, pass: exit 65, not 0" 65 $?
    is "larger than $key, pass: nothing on stdout" "" "$out"
    like "larger than $key: the fatal line says why" \
        "^smg-scan: fatal: -: 5\.3\.4 message not scanned: [0-9]+ bytes, more than \[scan\] $key \(1024\)" \
        "$(cat "$T/err")"
    write_conf <<EOF
scan.$key = 1024
scan.limit_action = reject
EOF
    out=$("$SMG_SCAN" -c "$T/smg.conf" <"$T/big.eml" 2>/dev/null)
    is "larger than $key, reject: exit 1" 1 $?
    like "larger than $key, reject: refused as the limit" 'verdict=infected .*virus=Heuristics\.Limits\.Exceeded\.Max' \
        "$(printf '%s\n' "$out" | head -1)"
done
size=$(wc -c <"$T/big.eml")
write_conf <<EOF
scan.max_file_size = $size
scan.max_scan_size = $size
EOF
out=$("$SMG_SCAN" -c "$T/smg.conf" <"$T/big.eml" 2>/dev/null)
is "exactly max_file_size and max_scan_size: scanned, exit 1" 1 $?

# limits below what smg-recv accepts are named in a warning at start
write_conf <<EOF
recv.max_message_size = 2M
scan.max_file_size = 1M
EOF
"$SMG_SCAN" -c "$T/smg.conf" --log stderr <"$T/big.eml" >/dev/null 2>"$T/err"
like "max_file_size below max_message_size: warned" \
    'warning: \[scan\] max_file_size \(1048576\) is less than \[recv\] max_message_size \(2097152\): messages between the two cannot be scanned and are held; raise max_file_size' \
    "$(cat "$T/err")"
unlike "max_scan_size (400M) above it: not named" 'max_scan_size \(' "$(cat "$T/err")"
write_conf </dev/null
"$SMG_SCAN" -c "$T/smg.conf" --log stderr <"$T/big.eml" >/dev/null 2>"$T/err"
unlike "the default limits: no warning" 'is less than' "$(cat "$T/err")"
# libclamav scans no file over 2 GiB - 1 (it warns and scans less): a
# max_file_size it cannot honour, with the 22 bytes smg-scan adds, is a
# config error, not a limit that silently holds smaller messages
write_conf <<EOF
scan.max_file_size = 2G
EOF
"$SMG_SCAN" -c "$T/smg.conf" --log stderr <"$T/big.eml" >/dev/null 2>"$T/err"
is "max_file_size 2G (over libclamav's limit): exit 78" 78 $?
like "  ... named with its range" 'max_file_size.*2147483625' "$(cat "$T/err")"
write_conf <<EOF
scan.max_file_size = 2147483625
EOF
"$SMG_SCAN" -c "$T/smg.conf" --log stderr <"$T/big.eml" >/dev/null 2>"$T/err"
is "max_file_size 2147483625: scanned (its virus found, exit 1)" 1 $?
unlike "  ... and libclamav does not warn" 'libclamav.*not supported' "$(cat "$T/err")"
write_conf </dev/null

# libclamav's temporary folder is configurable
mkdir -p "$T/clamtmp"
write_conf <<EOF
scan.tmpdir = $T/clamtmp
EOF
out=$(mkmsg eicar-zip | "$SMG_SCAN" -c "$T/smg.conf" 2>/dev/null)
is "tmpdir set: zip still unpacked, exit 1" 1 $?
is "tmpdir left empty" 0 "$(find "$T/clamtmp" -mindepth 1 | wc -l)"

# libclamav reports a temporary folder it cannot make only as an error
# message and then calls the message clean, unpacked or not: smg-scan
# makes that exit 75, for the configured folder and for $TMPDIR (which is
# how the systemd unit puts it on a tmpfs when tmpdir is unset)
write_conf <<EOF
scan.tmpdir = $T/no-such-folder
EOF
for kind in eicar-b64 clean; do
    out=$(mkmsg $kind | "$SMG_SCAN" -c "$T/smg.conf" 2>"$T/err")
    is "tmpdir missing, $kind: exit 75" 75 $?
    is "tmpdir missing, $kind: nothing on stdout" "" "$out"
    like "tmpdir missing, $kind: fatal line names it" \
        '^smg-scan: fatal: -: 4\.3\.0 antivirus: temporary folder .*/no-such-folder: No such file or directory; libclamav: ' \
        "$(cat "$T/err")"
done
write_conf </dev/null
out=$(mkmsg eicar-b64 | TMPDIR=$T/no-such-tmp "$SMG_SCAN" -c "$T/smg.conf" 2>"$T/err")
is "TMPDIR missing, tmpdir unset: exit 75" 75 $?
like "TMPDIR missing: libclamav used it" 'libclamav: .*no-such-tmp' "$(cat "$T/err")"
mkdir -p "$T/envtmp"
out=$(mkmsg eicar-zip | TMPDIR=$T/envtmp "$SMG_SCAN" -c "$T/smg.conf" 2>"$T/err")
is "TMPDIR usable: zip unpacked there, exit 1" 1 $?
is "TMPDIR left empty" 0 "$(find "$T/envtmp" -mindepth 1 | wc -l)"

# an unusable database is a temporary failure, never a clean verdict
mkdir -p "$T/empty" "$T/bad"
cp "$T/db/"* "$T/bad/"
echo 'Broken-Sig:0:*:zz-not-hex' >"$T/bad/broken.ndb"
mkmsg eicar-b64 >"$T/eicar.eml"
for db in "$T/missing" "$T/empty" "$T/bad"; do
    write_conf <<EOF
scan.database = $db
EOF
    out=$("$SMG_SCAN" -c "$T/smg.conf" <"$T/eicar.eml" 2>"$T/err")
    is "database ${db##*/}: exit 75" 75 $?
    is "database ${db##*/}: nothing on stdout" "" "$out"
    like "database ${db##*/}: fatal line" '^smg-scan: fatal: 4\.3\.0 antivirus database' "$(cat "$T/err")"
done

# a daily database that freshclam stopped updating still scans, but the
# operator is told: libclamav's warnings while the databases load are
# warnings in our log (they were debug lines, seen only with -d)
$PY3 "$MKMSG" olddaily "$T/db-old" 30 || bail "sigtool cannot build a daily database"
$PY3 "$MKMSG" olddaily "$T/db-new" 0 || bail "sigtool cannot build a daily database"
for age in old new; do
    write_conf <<EOF
scan.database = $T/db-$age
EOF
    out=$("$SMG_SCAN" -c "$T/smg.conf" --log stderr <"$T/eicar.eml" 2>"$T/err.$age")
    is "daily database, $age: still scans (exit 1)" 1 $?
    like "daily database, $age: its version in the verdict" '^SMG-Virus: verdict=infected .* db=27000 ' \
        "$(printf '%s\n' "$out" | head -1)"
done
like "daily database 30 days old: a warning in the log" \
    'smg-scan\[[0-9]+\]: warning: libclamav: \*\*\* +The virus database is older than 7 days' \
    "$(cat "$T/err.old")"
unlike "... without the lines of asterisks around it" 'warning: libclamav: \**$' \
    "$(cat "$T/err.old")"
unlike "a current daily database: no warning" 'warning' "$(cat "$T/err.new")"

# standard output that cannot be written: 74, as smg-scan(8) says
write_conf </dev/null
mkmsg clean | "$SMG_SCAN" -c "$T/smg.conf" >/dev/full 2>"$T/err"
is "filter: standard output cannot be written (/dev/full): 74" 74 $?
like "  ... and says so" 'cannot write standard output' "$(cat "$T/err")"

# usage and config errors
"$SMG_SCAN" --bogus </dev/null >/dev/null 2>&1
is "bad option: exit 64" 64 $?
"$SMG_SCAN" --spool --watch </dev/null >/dev/null 2>&1
is "two modes: exit 64" 64 $?
printf '[scan]\nmax_files = 0\n' >"$T/bad.conf"
"$SMG_SCAN" -c "$T/bad.conf" </dev/null >/dev/null 2>"$T/err"
is "out-of-range key: exit 78" 78 $?
like "config error names file, line and key" 'bad\.conf:2: \[scan\] max_files' "$(cat "$T/err")"
printf '[scan]\nlimit_action = maybe\n' >"$T/bad.conf"
"$SMG_SCAN" -c "$T/bad.conf" </dev/null >/dev/null 2>&1
is "bad choice: exit 78" 78 $?
like "-V prints the version" '^smg-scan [0-9]' "$("$SMG_SCAN" -V)"

done_testing
