#!/bin/bash
# 9030-install.t - make install and make uninstall, with Debian's layout
# (README.md: --prefix=/usr --sysconfdir=/etc --localstatedir=/var) moved
# under a temporary root: the eight programs, the man pages, the rules, the
# example smg.conf, the systemd units, the cron file and the inetd line,
# the sysusers.d and tmpfiles.d files (which make the smg user and the
# folders of the units' ReadWritePaths=, checked in a root of their own);
# every path a unit, the cron file and the inetd line run is the installed
# program (no @sbindir@ left, no path rewritten twice), systemd-analyze
# verify accepts every unit, the installed smg-recv accepts the installed
# example config, and make uninstall leaves no file behind.  Under a umask
# of 002 the files written through sed are still 0644 (cron skips a
# group-writable cron.d file).  smg-sign@.service, started as systemd
# would, reads a DKIM key that is root's alone and signs as [spool] user.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"

R="$T/root"
PROGS="recv check scan sign route send queue blcheck"
UNITS="smg-recv.socket smg-recv@.service smg-recv.service smg-check@.service smg-scan@.service
smg-sign@.service smg-route@.service smg-send@.service smg-blcheck.service smg-blcheck.timer"
UNITDIR="$R/usr/lib/systemd/system"

# install - make install or uninstall (ARG) into $R, with Debian's layout,
# under a umask that lets the group write (as some sites set it)
install() {
    (umask 002 && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$builddir" "$1" \
        prefix="$R/usr" sysconfdir="$R/etc" localstatedir="$R/var") >"$T/$1.log" 2>&1
}

# the build's own programs name their default config file in an error;
# make install below must not rebuild them with the paths it is given
# (an object older than its source was compiled again with the temporary
# root's sysconfdir, and every later run of the build's programs, unit
# tests included, looked for its config there), so the build is brought
# up to date first, with its configured paths
default_conf() { "$SMG_BIN/smg-recv" -n 2>&1 | grep -o "config file [^:]*"; }
(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$builddir" all) >"$T/all.log" 2>&1
is "the build is up to date before make install" 0 $?
conf_before=$(default_conf)

install install
is "make install exits 0" 0 $?
is "make install did not rebuild the build's programs with its paths" \
    "$conf_before" "$(default_conf)"
for p in $PROGS; do
    ok "smg-$p installed in sbin, executable" test -x "$R/usr/sbin/smg-$p"
    ok "smg-$p(8) installed" test -s "$R/usr/share/man/man8/smg-$p.8"
done
ok "smg.conf(5) installed" test -s "$R/usr/share/man/man5/smg.conf.5"
ok "smg-envelope(5) installed" test -s "$R/usr/share/man/man5/smg-envelope.5"
ok "smg-spool(7) installed" test -s "$R/usr/share/man/man7/smg-spool.7"
ok "the spam rules installed in pkgdatadir" test -s "$R/usr/share/smg/smg.rules"
ok "the example smg.conf installed in sysconfdir/smg" test -s "$R/etc/smg/smg.conf.example"
ok "the cron file installed in sysconfdir/cron.d" test -s "$R/etc/cron.d/smg-blcheck"
ok "the inetd line installed in docdir" test -s "$R/usr/share/doc/smg/inetd.conf"
for u in $UNITS; do
    ok "$u installed" test -s "$UNITDIR/$u"
done

# cron skips a cron.d file that its group or others may write
# ("INSECURE MODE"); none of these need more than 0644
is "the cron file is mode 644 whatever the umask" 644 "$(stat -c %a "$R/etc/cron.d/smg-blcheck")"
is "the inetd line is mode 644" 644 "$(stat -c %a "$R/usr/share/doc/smg/inetd.conf")"
is "the units are mode 644" "" \
    "$(cd "$UNITDIR" && for u in $UNITS; do [ "$(stat -c %a "$u")" = 644 ] || echo "$u"; done)"

is "no @sbindir@ left in what was installed" "" \
    "$(grep -rl '@sbindir@' "$UNITDIR" "$R/etc/cron.d" "$R/usr/share/doc/smg" 2>&1)"
# every program a unit starts is an installed one (a prefix that ends in
# /usr once made .../usr/sbin into .../usr/.../usr/sbin)
execs=$(cd "$UNITDIR" && grep -h '^ExecStart=' $UNITS | sed 's/^ExecStart=//; s/ .*//' | sort -u)
is "the units start 7 distinct programs" 7 "$(printf '%s\n' "$execs" | wc -l)"
for e in $execs; do
    case $e in
    "$R/usr/sbin/smg-"*) ok "unit program $e is installed" test -x "$e" ;;
    *) is "unit program in the installed sbin" "$R/usr/sbin/smg-..." "$e" ;;
    esac
done
cron=$(grep -v '^#' "$R/etc/cron.d/smg-blcheck" | grep smg-blcheck)
is "the cron line runs the installed smg-blcheck at 05:00 as root" \
    "0 5 * * * root $R/usr/sbin/smg-blcheck --log syslog" "$cron"
inetd=$(grep -v '^#' "$R/usr/share/doc/smg/inetd.conf")
is "the inetd line runs the installed smg-recv" \
    "$(printf 'smtp\tstream\ttcp\tnowait\troot\t%s/usr/sbin/smg-recv\tsmg-recv --log syslog' "$R")" \
    "$inetd"

# systemd-analyze verify: syntax, and that each command exists and is
# executable; a template is verified as an instance
for u in $UNITS; do
    v=$u
    case $u in
    *@.service)
        v=${u%@.service}@test1.service
        ln -s "$u" "$UNITDIR/$v"
        ;;
    esac
    out=$(cd "$UNITDIR" && systemd-analyze verify --man=no "$UNITDIR/$v" 2>&1)
    rc=$?
    # (what it says about its own container, not about the unit)
    out=$(printf '%s\n' "$out" | grep -v -e '^Failed to read \$container' -e '^PR_SET_MM' -e '^$')
    is "systemd-analyze verify $v exits 0" 0 $rc
    is "systemd-analyze verify $v finds nothing" "" "$out"
    [ "$v" = "$u" ] || rm -f "$UNITDIR/$v"
done

# the smg user and the folders the units need, as systemd makes them at
# boot (and README step 2 now): in a root of their own, so that uninstall
# below finds only what make install wrote
ok "sysusers.d/smg.conf installed, mode 644" test "$(stat -c %a "$R/usr/lib/sysusers.d/smg.conf")" = 644
ok "tmpfiles.d/smg.conf installed, mode 644" test "$(stat -c %a "$R/usr/lib/tmpfiles.d/smg.conf")" = 644
B="$T/boot"
mkdir -p "$B/etc" "$B/usr/lib"
cp -r "$R/usr/lib/sysusers.d" "$R/usr/lib/tmpfiles.d" "$B/usr/lib/"
systemd-sysusers --root="$B" smg.conf >"$T/sysusers.out" 2>&1
is "systemd-sysusers smg.conf exits 0" 0 "$?"
smg_uid=$(awk -F: '$1 == "smg" { print $3 }' "$B/etc/passwd")
like "  and makes the system user smg" '^[0-9]+$' "$smg_uid"
systemd-tmpfiles --create --root="$B" smg.conf >"$T/tmpfiles.out" 2>&1
is "systemd-tmpfiles --create smg.conf exits 0" "0 " "$? $(cat "$T/tmpfiles.out")"
rwp=$(cd "$UNITDIR" && sed -n 's/^ReadWritePaths=//p' $UNITS | tr ' ' '\n' | sort -u)
is "the units' ReadWritePaths= are the two folders tmpfiles makes" \
    "$(printf '/var/lib/smg\n/var/spool/smg')" "$rwp"
for d in $rwp; do
    is "  $d made, smg's, mode 750" "$smg_uid 750" "$(stat -c '%u %a' "$B$d" 2>&1)"
done

# README step 2: the customers' domains in [recv], [check], [scan], [sign]
cd_groups=$(awk '/^\[/ { g = $1 } /^customer_domains[[:space:]]*=/ { printf "%s ", g }' \
    "$R/etc/smg/smg.conf.example")
is "the example names customer_domains in each group README says" \
    "[recv] [check] [scan] [sign] " "$cd_groups"
out=$("$R/usr/sbin/smg-recv" -n -c "$R/etc/smg/smg.conf.example" 2>&1 >/dev/null)
is "the installed smg-recv accepts the installed example config (-n)" "0:" "$?:$out"

# smg-sign@.service as systemd would start it: with its User= (nobody
# standing in for smg) or as root within its CapabilityBoundingSet; either
# way it must read a DKIM key that is root's alone, mode 0600, as
# smg-sign --genkey writes it, and sign a message of its queue
if [ "$(id -u)" -eq 0 ]; then
    S="$T/sign"
    mkdir -p "$S/spool/sign/new" "$S/spool/sign/tmp" "$S/spool/sign/cur" "$S/state"
    "$R/usr/sbin/smg-sign" --genkey example.com s1 --output "$S/key.pem" >/dev/null
    echo "s1._domainkey.example.com example.com:s1:$S/key.pem" >"$S/KeyTable"
    echo "*@example.com s1._domainkey.example.com" >"$S/SigningTable"
    printf '[spool]\ndir = %s/spool\nstate_dir = %s/state\nuser = nobody\nsync = no\n[sign]\nkeytable = %s/KeyTable\nsigningtable = refile:%s/SigningTable\n' \
        "$S" "$S" "$S" "$S" >"$S/smg.conf"
    printf 'SMG-Queue-ID: K1\nSMG-Sender: <a@example.com>\nSMG-Recipient: <b@example.net>\nFrom: a@example.com\nSubject: hi\n\nbody\n' \
        >"$S/spool/sign/new/K1"
    chmod 755 "$S"
    chown -R nobody "$S/spool" "$S/state"
    ok "the key is root's, mode 600" test "$(stat -c %U:%a "$S/key.pem")" = root:600
    unit_user=$(sed -n 's/^User=//p' "$UNITDIR/smg-sign@.service")
    caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNITDIR/smg-sign@.service")
    if [ -n "$unit_user" ]; then
        as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    elif [ -n "$caps" ]; then
        set=-all
        for c in $caps; do set="$set,+$(printf '%s' "${c#CAP_}" | tr 'A-Z' 'a-z')"; done
        as=(setpriv --bounding-set="$set" --no-new-privs)
    else
        as=()
    fi
    "${as[@]}" "$R/usr/sbin/smg-sign" -c "$S/smg.conf" --spool --log stderr >"$T/sign.out" 2>&1
    is "smg-sign as its unit starts it reads a root-only key: exit 0" 0 "$?"
    ok "  and signed the message" grep -q '^DKIM-Signature:' "$S/spool/route/new/K1"
    is "  as [spool] user" nobody "$(stat -c %U "$S/spool/route/new/K1" 2>&1)"
else
    skip "smg-sign as its unit starts it" "needs root (a root-only key, setpriv)"
fi

install uninstall
is "make uninstall exits 0" 0 $?
is "make uninstall leaves no file" "" "$(find "$R" ! -type d 2>&1)"

done_testing
