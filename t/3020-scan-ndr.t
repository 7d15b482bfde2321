#!/bin/bash
# 3020-scan-ndr.t - the non-delivery report smg-scan writes for an
# infected message, parsed back field by field with Python's email
# package (the independent check: it must take it as a delivery-status
# report); RET/ENVID/NOTIFY/ORCPT honoured, the virus never returned (not
# even from a header field, or from a message without a blank line); an
# original ID of the longest length gets a valid NDR ID; no report to <>,
# to a sender outside the customer's domains, or when NOTIFY excludes it.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/scan.sh"

make_db
write_conf </dev/null

# ndr_fields FILE - the report's envelope and fields, one "name=value" a
# line, as Python's email package reads them (exit 1 if it cannot)
ndr_fields() {
    $PY3 - "$1" <<'PY'
import email, email.policy, sys
raw = open(sys.argv[1], "rb").read()
env, body = [], raw
while body.startswith(b"SMG-"):
    line, body = body.split(b"\n", 1)
    env.append(line.decode())
for line in env:
    name, value = line.split(": ", 1)
    print("%s=%s" % (name, value))
m = email.message_from_bytes(body, policy=email.policy.default)
print("defects=%d" % len(m.defects))
print("content-type=%s" % m.get_content_type())
print("report-type=%s" % m.get_param("report-type"))
for h in ("From", "To", "Subject", "Auto-Submitted", "Message-ID"):
    print("%s=%s" % (h, m[h]))
parts = list(m.iter_parts())
print("parts=%s" % " ".join(p.get_content_type() for p in parts))
for p in parts:
    if p.defects:
        print("part-defects=%s" % p.get_content_type())
text = parts[0].get_content()
print("text-virus=%s" % ("Smg-Test-Eicar" in text))
print("text-queue-id=%s" % ("queue ID" in text))
ds = parts[1]
groups = ds.get_payload()  # email parses message/delivery-status into groups
print("groups=%d" % len(groups))
for i, g in enumerate(groups):
    for k, v in g.items():
        print("g%d.%s=%s" % (i, k, v))
hdrs = parts[2].get_content()
print("returned-subject=%s" % ("Subject: eicar b64" in hdrs))
print("returned-body=%s" % ("See the attached program" in hdrs))
PY
}

# the original: RET=FULL ENVID, three recipients with different NOTIFY
enqueue N1 eicar-b64 '<user@sender.test> RET=FULL ENVID=env+2B42' \
    '<r1@rcpt.test> NOTIFY=FAILURE ORCPT=rfc822;R1+2Bx@rcpt.test' \
    '<r2@rcpt.test> NOTIFY=NEVER' \
    '<r3@rcpt.test>'
run_scan --spool
is "exit 0" 0 "$RC"
is "original quarantined, NDR N1N in sign/" "quarantine/new/N1 sign/new/N1N" \
    "$(echo $(places N1) $(places N1N))"
f=$(ndr_fields "$SPOOL/sign/new/N1N")
is "Python's email package reads it" 0 $?
field() { printf '%s\n' "$f" | sed -n "s/^$1=//p"; }
is "SMG-Queue-ID N1N" "N1N" "$(field SMG-Queue-ID)"
is "SMG-Sender <>" "<>" "$(field SMG-Sender)"
is "SMG-Recipient is the original sender" "<user@sender.test>" "$(field SMG-Recipient)"
is "SMG-Bounce-Of links the original" "N1" "$(field SMG-Bounce-Of)"
is "SMG-Customer kept" "customer1" "$(field SMG-Customer)"
is "no defects" "0" "$(field defects)"
is "multipart/report" "multipart/report" "$(field content-type)"
is "report-type=delivery-status" "delivery-status" "$(field report-type)"
is "From MAILER-DAEMON" "Mail Delivery System <MAILER-DAEMON@out.test>" "$(field From)"
is "To the sender" "user@sender.test" "$(field To)"
is "Subject" "Undelivered Mail: virus found" "$(field Subject)"
is "Auto-Submitted" "auto-replied" "$(field Auto-Submitted)"
is "three parts" "text/plain message/delivery-status text/rfc822-headers" "$(field parts)"
is "no part defects" "" "$(field part-defects)"
is "human text names the virus" "True" "$(field text-virus)"
is "human text gives the queue ID" "True" "$(field text-queue-id)"
is "per-message group and two recipients (NOTIFY=NEVER left out)" 3 "$(field groups)"
is "Reporting-MTA" "dns; out.test" "$(field g0.Reporting-MTA)"
is "Original-Envelope-Id (xtext decoded)" "env+42" "$(field g0.Original-Envelope-Id)"
is "Arrival-Date" "Sun, 22 Nov 2026 05:00:00 +0000" "$(field g0.Arrival-Date)"
is "X-Smg-Queue-ID" "N1" "$(field g0.X-Smg-Queue-ID)"
is "Final-Recipient r1" "rfc822; r1@rcpt.test" "$(field g1.Final-Recipient)"
is "Original-Recipient from ORCPT" "rfc822; R1+x@rcpt.test" "$(field g1.Original-Recipient)"
is "Action failed" "failed" "$(field g1.Action)"
is "Status 5.7.1" "5.7.1" "$(field g1.Status)"
like "Diagnostic-Code names the virus" '^X-smg; virus found: Smg-Test-Eicar\.' "$(field g1.Diagnostic-Code)"
is "Final-Recipient r3" "rfc822; r3@rcpt.test" "$(field g2.Final-Recipient)"
is "r3 Action failed" "failed" "$(field g2.Action)"
is "RET=FULL ignored for a virus: headers returned" "True" "$(field returned-subject)"
is "the infected body is not returned" "False" "$(field returned-body)"
unlike "the base64 attachment is nowhere in the NDR" 'WDVPIVAlQEFQ' "$(cat "$SPOOL/sign/new/N1N")"
unlike "no SMG-Virus field in the NDR" 'SMG-Virus|SMG-Arrival: 2026-11-22T05:00:00Z' \
    "$(sed -n '/^SMG-Bounce-Of/,$p' "$SPOOL/sign/new/N1N")"

# the independent check: the email package's own DSN view
$PY3 - "$SPOOL/sign/new/N1N" <<'PY'
import email, sys
raw = open(sys.argv[1], "rb").read()
raw = raw[raw.index(b"\nDate: ") + 1:]
m = email.message_from_bytes(raw)
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status"
ds = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"]
assert len(ds) == 1
blocks = ds[0].get_payload()
assert blocks[0]["Reporting-MTA"] and all(b["Action"] == "failed" for b in blocks[1:])
PY
is "email package accepts it as a delivery-status report" 0 $?

# no NDR: null sender, foreign sender domain, NOTIFY=NEVER, ndr = no
cp "$srcdir/t/data/scan-customer-domains" "$T/customers"
write_conf <<EOF
scan.customer_domains = $T/customers
EOF
enqueue N2 eicar-zip '<>'
enqueue N3 eicar-zip '<victim@forged.test>'
enqueue N4 eicar-zip '<app@mail.customer1.test>'
enqueue N5 eicar-zip '<user@sender.test>' '<r@rcpt.test> NOTIFY=NEVER'
EXTRA_ENV='SMG-Client: addr=10.0.0.2 helo=x tls=none auth=customer2' enqueue N6 eicar-zip '<x@other.test>'
: >"$T/scan.log"
run_scan --spool
is "second run: exit 0" 0 "$RC"
is "null sender: quarantined, no NDR" "quarantine/new/N2" "$(echo $(places N2) $(places N2N))"
like "null sender logged" 'N2: verdict=infected, .*ndr=none \(null sender\)' "$(cat "$T/scan.log")"
is "foreign sender: quarantined, no NDR (backscatter)" "quarantine/new/N3" \
    "$(echo $(places N3) $(places N3N))"
like "backscatter logged" "N3: verdict=infected, .*ndr=none \\(sender domain not the customer's\\)" \
    "$(cat "$T/scan.log")"
is "customer's subdomain: NDR" "quarantine/new/N4 sign/new/N4N" "$(echo $(places N4) $(places N4N))"
is "NOTIFY=NEVER: no NDR" "quarantine/new/N5" "$(echo $(places N5) $(places N5N))"
like "NOTIFY=NEVER logged" 'N5: .*ndr=none \(not requested\)' "$(cat "$T/scan.log")"
is "SMG-Customer wins over auth=: customer1 does not own other.test" "quarantine/new/N6" \
    "$(echo $(places N6) $(places N6N))"

# the returned header never carries what the scanner found: a message
# without a blank line (all of it would be "header"), and one with the
# virus in a header field
write_conf </dev/null
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
raw_enqueue() {
    id=$1
    shift
    {
        printf 'SMG-Queue-ID: %s\nSMG-Sender: <user@sender.test>\n' "$id"
        printf 'SMG-Recipient: <r@rcpt.test>\nSMG-Customer: customer1\n'
        printf "$@"
    } >"$SPOOL/scan/tmp/$id" && mv "$SPOOL/scan/tmp/$id" "$SPOOL/scan/new/$id"
}
raw_enqueue L1 'Subject: no blank line\n%s\n' "$EICAR"
raw_enqueue L2 'Subject: in a header\nX-Data: %s\n\nbody\n' "$EICAR"
raw_enqueue L3 'Subject: plain header\r\nX-Mailer: app\r\n\r\n%s\r\n' "$EICAR"
: >"$T/scan.log"
run_scan --spool
is "virus in the header: exit 0" 0 "$RC"
for id in L1 L2 L3; do
    is "$id: quarantined, NDR written" "quarantine/new/$id sign/new/${id}N" \
        "$(echo $(places $id) $(places ${id}N))"
    is "$id: the virus is nowhere in the NDR" 0 "$(grep -c 'EICAR-STANDARD' "$SPOOL/sign/new/${id}N")"
    ndr_fields "$SPOOL/sign/new/${id}N" >/dev/null
    is "$id: Python's email package reads the NDR" 0 $?
done
like "no blank line: the header fields before the virus are returned" 'Subject: no blank line' \
    "$(sed -n '/^Content-Type: text.rfc822-headers/,$p' "$SPOOL/sign/new/L1N")"
unlike "virus in a header field: that header is not returned" 'Subject: in a header' \
    "$(sed -n '/^Content-Type: text.rfc822-headers/,$p' "$SPOOL/sign/new/L2N")"
like "a clean header is returned whole (CRLF)" 'Subject: plain header.X-Mailer: app' \
    "$(sed -n '/^Content-Type: text.rfc822-headers/,$p' "$SPOOL/sign/new/L3N" | tr -d '\r' | paste -sd.)"

# a queue ID of the longest length: the NDR's ID (the ID + "N") would not
# be valid; it gets a shorter stable one and the queue goes on
long=$(printf 'A%.0s' $(seq 1 128))
enqueue "$long" eicar-zip
enqueue L4 clean
: >"$T/scan.log"
run_scan --spool
is "128-character ID: exit 0" 0 "$RC"
is "128-character ID: quarantined" "quarantine/new/$long" "$(places "$long")"
is "the next message passed" "sign/new/L4" "$(places L4)"
ndr=$(grep -l "^SMG-Bounce-Of: $long\$" "$SPOOL/sign/new/"* 2>/dev/null)
is "one NDR for it in sign/new" 1 "$(printf '%s' "$ndr" | grep -c .)"
like "its ID is logged" "$long: .*ndr=A+-[0-9a-f]+N, status=passed, queue=quarantine" \
    "$(cat "$T/scan.log")"
: >"$T/scan.log"
cp "$SPOOL/quarantine/new/$long" "$SPOOL/scan/new/$long"
rm "$SPOOL/quarantine/new/$long"
run_scan --spool
is "a repeated run replaces that NDR" 1 \
    "$(grep -l "^SMG-Bounce-Of: $long\$" "$SPOOL/sign/new/"* | grep -c .)"

write_conf <<'EOF'
scan.ndr = no
EOF
enqueue N7 eicar-zip
run_scan --spool
is "ndr = no: quarantined only" "quarantine/new/N7" "$(echo $(places N7) $(places N7N))"
like "ndr = no logged" 'N7: .*ndr=none \(off\)' "$(cat "$T/scan.log")"

done_testing
