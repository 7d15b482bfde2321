#!/bin/bash
# 7010-blcheck-notify.t - the state file and the mail to the operators: a
# new listing is told once (a proper RFC 5322 message injected into the
# spool's sign queue), not again on the next run, a clearance is told once
# when the list drops the address (a second unbound serves the zones
# without it); the listed state for smg-route follows; with [blcheck]
# sendmail the mail goes to that program, and a failed hand-off is told on
# the next run, and one that hangs is killed after sendmail_timeout; a run
# whose lookups all fail (DNS down) leaves the listed state as it was (or
# marks a gateway never checked unknown); a list's TXT reason cannot add
# lines to the mail.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/dns.sh"
. "$srcdir/t/data/blcheck-lib.sh"

start_dns "$srcdir/t/data/blcheck-lists.zone"
LISTED_PORT=$DNS_PORT
DNS_DIR="$T/dns-cleared"
start_dns "$srcdir/t/data/blcheck-cleared.zone"
CLEARED_PORT=$DNS_PORT

conf() {
    blcheck_conf "$1" <<'EOF'
[blcheck]
zones = bl.test
domain_zones = dbl.test
notify = ops@example.net noc@example.net
EOF
}

# --- first run: two gateways listed, one mail --------------------------------
conf "$LISTED_PORT"
blcheck
is "first run: exit 1 (listed)" 1 "$RC"
is "first run: one mail in sign/new" 1 "$(mails)"
m=$(newest_mail)
mail=$(cat "$m")
id=$(basename "$m")
is "the mail's first field is its queue ID" "SMG-Queue-ID: $id" "$(head -1 "$m")"
like "envelope sender is <>" '^SMG-Sender: <>$' "$mail"
like "one SMG-Recipient per address (1)" '^SMG-Recipient: <ops@example.net>$' "$mail"
like "one SMG-Recipient per address (2)" '^SMG-Recipient: <noc@example.net>$' "$mail"
like "SMG-Notice names the program" '^SMG-Notice: from=smg-blcheck' "$mail"
like "SMG-Arrival" '^SMG-Arrival: [0-9-]+T[0-9:]+Z$' "$mail"
is "nothing left in sign/tmp" 0 "$(count_files "$T/spool/sign/tmp")"
# the message proper, read by Python's email parser (RFC 5322 headers)
hdrs=$(sed '/^SMG-/d' "$m" | $PY3 -c '
import email, email.policy, email.utils, sys
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
print("date-ok" if email.utils.parsedate_to_datetime(m["Date"]) else "bad")
print("msgid-ok" if m["Message-ID"].startswith("<") and "@out.test>" in m["Message-ID"] else "bad")
print("From:", m["From"])
print("To:", m["To"])
print("Subject:", m["Subject"])
print("Auto-Submitted:", m["Auto-Submitted"])
print("Type:", m.get_content_type(), m.get_content_charset())
')
like "Date: parses" '^date-ok$' "$hdrs"
like "Message-ID: on the gateway's name" '^msgid-ok$' "$hdrs"
like "From: the program at the gateway" '^From: smg-blcheck <MAILER-DAEMON@out.test>$' "$hdrs"
like "To: both operators" '^To: ops@example.net, noc@example.net$' "$hdrs"
like "Subject: counts and names the listings" '^Subject: smg-blcheck: 3 new listings: mta01 192.0.2.1 on bl.test' "$hdrs"
like "Auto-Submitted: auto-generated" '^Auto-Submitted: auto-generated$' "$hdrs"
like "plain text in UTF-8" '^Type: text/plain utf-8$' "$hdrs"
like "body: NEW LISTINGS" '^NEW LISTINGS$' "$mail"
like "body: the gateway" '^  gateway:  mta01$' "$mail"
like "body: the IP" '^  address:  192\.0\.2\.1$' "$mail"
like "body: the IPv6 address" '^  address:  2001:db8::25$' "$mail"
like "body: the HELO name" '^  name:     mta01\.example\.net$' "$mail"
like "body: the list" '^  list:     bl\.test$' "$mail"
like "body: the reason (TXT)" '^  reason:   192\.0\.2\.1 listed: spam trap hits' "$mail"
like "body: since when" '^  since:    [0-9-]+T[0-9:]+Z$' "$mail"
like "body: the removal request made" '^  removal:  none configured for this list$' "$mail"
like "log: the notice was queued" "$id: notice=blcheck, new=3, cleared=0, nrcpt=2, status=queued" "$LOG"

state="$T/state/blcheck.state"
ok "the state file exists" test -s "$state"
like "state: mta01's listing, told" 'notified=true' "$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/p' "$state")"
like "state: listed since" 'since=[0-9-]+T[0-9:]+Z' "$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/p' "$state")"
since1=$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/s/^since=//p' "$state")
# the listed state smg-route reads (lib/route.h)
like "route state: mta01 listed" '^status=listed$' "$(cat "$T/state/blacklist/mta01")"
like "route state: mta01's zones" '^zones=bl\.test dbl\.test$' "$(cat "$T/state/blacklist/mta01")"
like "route state: mta01's address" '^address=192\.0\.2\.1$' "$(cat "$T/state/blacklist/mta01")"
like "route state: mta03 clean" '^status=clean$' "$(cat "$T/state/blacklist/mta03")"

# --- second run: nothing new, no mail -------------------------------------------
sleep 1 # a later second, so that a wrongly renewed "since" would show
blcheck
is "second run: exit 1 (still listed)" 1 "$RC"
is "second run: no second mail" 1 "$(mails)"
like "second run: the table says listed, not new" '^mta01 +192\.0\.2\.1 +bl\.test +listed ' "$OUT"
is "second run: since kept" "$since1" \
    "$(sed -n '/^\[mta01 192.0.2.1 bl.test\]/,/^$/s/^since=//p' "$state")"
like "second run: the persisting listing is in the summary" \
    'gateway=mta01, address=192\.0\.2\.1, zone=bl\.test, status=listed' "$LOG"
unlike "second run: no notice logged" 'notice=blcheck' "$LOG"

# --- the list drops mta01: one clearance mail ------------------------------------
conf "$CLEARED_PORT"
blcheck
is "after clearance: exit 1 (mta02 still listed)" 1 "$RC"
is "after clearance: a second mail" 2 "$(mails)"
m2=$(ls -t "$T/spool/sign/new"/* | head -1)
mail2=$(cat "$m2")
like "clearance mail: subject" '^Subject: smg-blcheck: 2 cleared: mta01 192\.0\.2\.1 on bl\.test' "$mail2"
like "clearance mail: CLEARED section" '^CLEARED$' "$mail2"
like "clearance mail: listed from .. until .." '^  listed:   [0-9TZ:-]+ until [0-9TZ:-]+$' "$mail2"
like "clearance mail: mta02 still listed, as context" '^STILL LISTED \(told before\)$' "$mail2"
unlike "clearance mail: no new listing" '^NEW LISTINGS$' "$mail2"
like "table: cleared row" '^mta01 +192\.0\.2\.1 +bl\.test +cleared ' "$OUT"
like "route state: mta01 clean again" '^status=clean$' "$(cat "$T/state/blacklist/mta01")"
like "route state: mta02 still listed" '^status=listed$' "$(cat "$T/state/blacklist/mta02")"
unlike "state: the told clearance is gone" '^\[mta01 ' "$(cat "$state")"

blcheck
is "next run: no third mail" 2 "$(mails)"

# --- a dry run neither mails nor changes the state -------------------------------
conf "$LISTED_PORT"
cp "$state" "$T/state.before"
blcheck --dry-run
is "dry run: exit 1" 1 "$RC"
like "dry run: mta01 would be new" '^mta01 +192\.0\.2\.1 +bl\.test +new ' "$OUT"
is "dry run: no mail" 2 "$(mails)"
ok "dry run: state unchanged" cmp -s "$state" "$T/state.before"

# --- every lookup fails: the route state is not refreshed ------------------------
# the resolver is a port where nothing answers; mta04 was never checked
dead_port=$(free_port)
down_conf() {
    blcheck_conf "$dead_port" <<'EOF'
[gateway mta04]
bind = 192.0.2.4
[route]
good = mta01 mta03 mta04
bad = mta02
[blcheck]
zones = bl.test
domain_zones = dbl.test
notify = ops@example.net noc@example.net
EOF
}
down_conf
rm -rf "$T/blacklist.before"
cp -a "$T/state/blacklist" "$T/blacklist.before"
nmail=$(mails)
sleep 1 # a rewritten file would show a later checked= time
blcheck
is "DNS down: exit 75" 75 "$RC"
for gw in mta01 mta02 mta03; do
    ok "DNS down: $gw's route state left as it was" \
        cmp -s "$T/state/blacklist/$gw" "$T/blacklist.before/$gw"
done
like "DNS down: mta02 still listed for smg-route" '^status=listed$' \
    "$(cat "$T/state/blacklist/mta02")"
like "DNS down: logged, state kept" \
    'gateway=mta01, status=unknown \(all [0-9]+ lookups failed\), last state kept' "$LOG"
is "DNS down: new gateway marked unknown" "status=unknown" \
    "$(grep '^status=' "$T/state/blacklist/mta04")"
like "DNS down: its address recorded" '^address=192\.0\.2\.4$' \
    "$(cat "$T/state/blacklist/mta04")"
like "DNS down: logged, unknown written" \
    'gateway=mta04, status=unknown \(all [0-9]+ lookups failed\), state written as unknown' "$LOG"
is "DNS down: no mail" "$nmail" "$(mails)"
explain=$(printf 'Subject: x\n\nbody\n' | "$SMG_BIN/smg-route" -c "$T/smg.conf" --explain 2>&1)
checked=$(sed -n 's/^checked=//p' "$T/blacklist.before/mta01")
like "explain: mta01 clean as of the last real check" \
    "gateway mta01: clean \\(checked $checked\\)" "$explain"
like "explain: mta04's state is unknown" \
    'gateway mta04: clean \(state unknown: no blacklist lookup succeeded, tried [0-9TZ:-]+\)' "$explain"
cp "$T/state/blacklist/mta04" "$T/mta04.before"
sleep 1
blcheck
ok "DNS down again: the unknown state is not refreshed either" \
    cmp -s "$T/state/blacklist/mta04" "$T/mta04.before"

# DNS back (the zones as they were last): the real result replaces the
# unknown state
blcheck_conf "$CLEARED_PORT" <<'EOF'
[gateway mta04]
bind = 192.0.2.4
[blcheck]
zones = bl.test
domain_zones = dbl.test
notify = ops@example.net noc@example.net
EOF
blcheck
is "DNS back: exit 1 (mta02 still listed)" 1 "$RC"
like "DNS back: mta04 clean" '^status=clean$' "$(cat "$T/state/blacklist/mta04")"
is "DNS back: nothing new to tell" "$nmail" "$(mails)"

# --- sendmail(8) instead of the spool ----------------------------------------------
cat >"$T/sendmail" <<EOF
#!/bin/sh
# records its arguments and message; exits with the code in sendmail.rc
printf '%s\n' "\$*" >>"$T/sendmail.args"
cat >>"$T/sendmail.msg"
exit \$(cat "$T/sendmail.rc" 2>/dev/null || echo 0)
EOF
chmod +x "$T/sendmail"
blcheck_conf "$LISTED_PORT" <<EOF
[blcheck]
zones = bl.test
notify = ops@example.net
sendmail = $T/sendmail
sender = blcheck@out.test
state_file = $T/state/sendmail.state
EOF
echo 75 >"$T/sendmail.rc"
blcheck
is "sendmail failing: exit 75" 75 "$RC"
like "sendmail failing: logged" 'notification failed \(told next run\): 4\.3\.0 .*sendmail exited with status 75' "$LOG"
like "sendmail failing: not marked as told" 'notified=false' "$(cat "$T/state/sendmail.state")"
rm -f "$T/sendmail.rc" "$T/sendmail.args" "$T/sendmail.msg"
blcheck
is "sendmail working: exit 1" 1 "$RC"
is "sendmail: arguments" "-oi -f blcheck@out.test -- ops@example.net" "$(cat "$T/sendmail.args")"
like "sendmail: the message" '^Subject: smg-blcheck: 2 new listings' "$(cat "$T/sendmail.msg")"
unlike "sendmail: no envelope fields in the message" '^SMG-' "$(cat "$T/sendmail.msg")"
like "sendmail: From is the configured sender" '^From: blcheck@out.test$' "$(cat "$T/sendmail.msg")" 
is "sendmail: nothing added to the spool" 2 "$(mails)"
like "sendmail: now marked as told" 'notified=true' "$(cat "$T/state/sendmail.state")"
blcheck
is "sendmail: told once" 1 "$(wc -l <"$T/sendmail.args" | tr -d ' ')"


# --- a sendmail that never takes the mail: killed after sendmail_timeout -------
# (msmtp and ssmtp talk SMTP before they exit: a stalled smarthost held
# smg-blcheck, and its run lock, for ever)
cat >"$T/sendmail-hang" <<EOF
#!/bin/sh
echo \$\$ >"$T/hang.pid"
exec sleep 600
EOF
chmod +x "$T/sendmail-hang"
blcheck_conf "$LISTED_PORT" <<EOF
[blcheck]
zones = bl.test
notify = ops@example.net
sendmail = $T/sendmail-hang
sendmail_timeout = 2
state_file = $T/state/hang.state
EOF
OUT=$(timeout 60 "$BLCHECK" -c "$T/smg.conf" --log stderr 2>"$T/blcheck.last")
RC=$?
LOG=$(cat "$T/blcheck.last")
is "hung sendmail: exit 75, not held for ever" 75 "$RC"
like "hung sendmail: told" 'notification failed \(told next run\): 4\.3\.0 .*sendmail-hang did not take the mail within 2 s' "$LOG"
like "hung sendmail: not marked as told" 'notified=false' "$(cat "$T/state/hang.state")"
ok "hung sendmail: killed" eventually 50 sh -c "! kill -0 $(cat "$T/hang.pid" 2>/dev/null || echo 1) 2>/dev/null"


# --- a TXT reason with line breaks stays on its line in the mail --------------
blcheck_conf "$LISTED_PORT" <<EOF
[blcheck]
zones = nl.test
notify = ops@example.net
state_file = $T/state/nl.state
EOF
nmail=$(mails)
blcheck
is "reason with line breaks: listed" 1 "$RC"
is "reason with line breaks: one mail" $((nmail + 1)) "$(mails)"
mail=$(cat "$(newest_mail)")
like "the reason is one line" '^  reason:   spam +STILL LISTED \(told before\) +gateway:  mta03 +removal:  by hand: open https://evil\.test/$' "$mail"
unlike "no line of the list's own" '^  removal:  by hand: open https://evil' "$mail"
unlike "no section of the list's own" '^STILL LISTED' "$mail"


# --- a clearance and nothing listed: exit 0, and the table says so -----------
blcheck_conf "$LISTED_PORT" <<EOF
[blcheck]
domain_zones = dbl.test
state_file = $T/state/dbl.state
EOF
blcheck
is "HELO name listed: exit 1" 1 "$RC"
blcheck_conf "$CLEARED_PORT" <<EOF
[blcheck]
domain_zones = dbl.test
state_file = $T/state/dbl.state
EOF
blcheck
is "cleared, nothing listed: exit 0" 0 "$RC"
like "cleared, nothing listed: the clearance is printed (cron mails it)" \
    '^mta01 +mta01\.example\.net +dbl\.test +cleared ' "$OUT"
blcheck
is "then: exit 0" 0 "$RC"
is "then: nothing printed" "" "$OUT"

done_testing
