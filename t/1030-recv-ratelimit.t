#!/bin/bash
# 1030-recv-ratelimit.t - the per-customer rate limit: off by default,
# 100 mails/min when on, per-customer overrides, exact under several
# concurrent clients of the same customer (one smg-recv process each);
# a state folder that cannot be made answers 451 4.3.0.
# SPDX-License-Identifier: MIT
. "$srcdir/t/tap/tap.sh"
. "$srcdir/t/lib/recv.sh"

make_tls
make_creds
cat >"$T/ratelimits" <<'EOF2'
# customer   limit
customer2    5/min
EOF2
write_conf </dev/null
start_recv

cat >"$T/client.py" <<'PY'
import smtplib, ssl, sys
port, user, pw, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.starttls(context=ctx)
s.login(user, pw)
for i in range(n):
    try:
        s.sendmail("a@sender.test", ["b@rcpt.test"], "Subject: %d\r\n\r\nx\r\n" % i)
        print("250")
    except smtplib.SMTPSenderRefused as e:
        print(e.smtp_code, e.smtp_error.decode())
s.quit()
PY
client() { $PY3 "$T/client.py" "$RECV_PORT" "$@"; }

out=$(client customer1 secret1 130)
is "off by default: 130 of 130 accepted" 130 "$(printf '%s\n' "$out" | grep -c '^250$')"

stop_recv
write_conf <<EOF2
recv.rate_limit = 100/min
recv.rate_limit_table = $T/ratelimits
recv.max_errors = 1000
EOF2
rm -rf "$SPOOL"
start_recv

# six clients of customer1 at once, 30 messages each: exactly 100 pass
for c in 1 2 3 4 5 6; do
    client customer1 secret1 30 >"$T/out.$c" 2>&1 &
    eval "pid$c=\$!"
done
wait $pid1 $pid2 $pid3 $pid4 $pid5 $pid6
cat "$T"/out.? >"$T/all"
is "100/min: exactly 100 of 180 concurrent messages accepted" 100 "$(grep -c '^250$' "$T/all")"
is "the other 80 got 451 4.7.1 Ratelimit reached" 80 "$(grep -c '^451 4.7.1 Ratelimit reached$' "$T/all")"
is "100 files queued" 100 "$(queued)"
like "refusals logged with the customer" 'customer=customer1, reject=451 4.7.1 Ratelimit reached' "$(cat "$T/recv.log")"

out=$(client customer2 secret2 8)
is "table override 5/min for customer2" 5 "$(printf '%s\n' "$out" | grep -c '^250$')"
like "then 451 4.7.1" '451 4.7.1 Ratelimit reached' "$out"

# state that cannot be kept refuses for now (no mail goes uncounted), and
# an operator who removes the folder to start afresh needs no restart,
# even of the workers that had it open
rm -rf "$T/state/ratelimit"
echo "not a folder" >"$T/state/ratelimit"
out=$(client customer2 secret2 1)
is "state unusable: 451 4.3.0" "451 4.3.0 Error: temporary failure, try again later" "$out"
like "and the reason logged" 'ratelimit error: 4.3.0 .*/ratelimit: cannot create' "$(grep 'ratelimit error' "$T/recv.log")"
rm -f "$T/state/ratelimit"
out=$(client customer2 secret2 1)
is "folder gone: made anew, customer2 (at its limit before) accepted" "250" "$out"
done_testing
