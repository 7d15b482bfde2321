#!/usr/bin/python3
"""check-synth.py - a small synthetic mail set for the smg-check tests.

usage: check-synth.py DIR COUNT SEED
Writes DIR/ham/NNN and DIR/spam/NNN, COUNT of each, drawn with SEED from
a ham vocabulary, a spam vocabulary and words both share, dated now so
that no date rule fires.  The set is made fresh by every test run; the
tests never read the real corpus.
SPDX-License-Identifier: MIT
"""
import email.utils
import os
import random
import sys

HAM = ("meeting project schedule report review deadline budget agenda minutes "
       "team release patch kernel compiler thanks regards attached draft "
       "question lunch invoice contract quarterly roadmap").split()
SPAM = ("viagra cheap winner offer guaranteed casino bonus millions pills "
        "discount credit lottery prize exclusive limited refinance loan cash "
        "bargain jackpot miracle slimming rolex replica").split()
BOTH = "the and you your this with for today please new".split()


def message(rng, spam, n):
    own = SPAM if spam else HAM
    frm = "promo%d@deals%d.test" % (n, n % 7) if spam else "colleague%d@work.test" % (n % 5)
    words = []
    for i in range(80):
        words.append(rng.choice(BOTH) if rng.random() < 0.3 else rng.choice(own))
        if i % 12 == 11:
            words.append("\n")
    body = " ".join(words).replace(" \n ", "\n")
    return ("From: %s\nTo: someone@example.net\nSubject: %s %s\nDate: %s\n"
            "Message-ID: <%d.%s@%s>\n\n%s\n" % (
                frm, rng.choice(own), rng.choice(own),
                email.utils.formatdate(localtime=False), n, "s" if spam else "h",
                frm.split("@")[1], body))


def main():
    top, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    for kind in ("ham", "spam"):
        os.makedirs(os.path.join(top, kind), exist_ok=True)
        for n in range(count):
            with open(os.path.join(top, kind, "%03d" % n), "w") as f:
                f.write(message(rng, kind == "spam", n))


main()
