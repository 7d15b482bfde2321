#!/usr/bin/python3
"""rate-source.py - an SMTP client that sends at a fixed rate.

  rate-source.py HOST PORT RATE COUNT SIZE FROM TO [CONNECTIONS]

sends COUNT messages of about SIZE bytes, message i at START + i/RATE
seconds (an open-loop schedule: a late message does not push the next
ones back), one message per connection as smtp-source does, over up to
CONNECTIONS (default 16) sessions at once.  `scripts/bench pipeline`
uses it for the latency pass at a set fraction of the peak rate, which
smtp-source cannot hold (its -w waits after each message).  Prints one
line: "SENT ACCEPTED SECONDS LATE_P99_MS", where LATE is how far behind
its schedule a message started (the client's own lag; if it is large the
rate was not held).

SPDX-License-Identifier: MIT
"""
import smtplib
import sys
import threading
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    rate, count, size = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sender, rcpt = sys.argv[6], sys.argv[7]
    conns = int(sys.argv[8]) if len(sys.argv) > 8 else 16
    line = "La de da de da 1.\r\n" * 4
    body = (line * (size // len(line) + 1))[: max(0, size - 200)]
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "late": []}
    start = time.monotonic() + 0.2

    def worker():
        while True:
            with lock:
                i = state["next"]
                if i >= count:
                    return
                state["next"] = i + 1
            due = start + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            late = time.monotonic() - due
            msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: rate %d\r\n"
                   "Message-ID: <rate%d.%d@bench.example.com>\r\n\r\n%s"
                   % (sender, rcpt, i, i, int(start), body))
            try:
                s = smtplib.SMTP(host, port, "client.example.com", timeout=60)
                s.sendmail(sender, [rcpt], msg)
                s.quit()
                good = 1
            except (smtplib.SMTPException, OSError) as e:
                print("rate-source: message %d: %r" % (i, e), file=sys.stderr)
                good = 0
            with lock:
                state["ok"] += good
                state["late"].append(late)

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    late = sorted(state["late"])
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))] * 1000 if late else 0
    print("%d %d %.3f %.1f" % (count, state["ok"], time.monotonic() - start, p99))


if __name__ == "__main__":
    main()
