#!/usr/bin/perl
# stamp.pl - prefix each line of standard input with the wall clock in
# seconds since the epoch, to the microsecond, and copy it to standard
# output at once (unbuffered).  `scripts/bench pipeline` puts it between
# each smg program's stderr and its log file, so that the time from
# smg-recv's status=queued line to smg-send's status=sent line can be
# measured below the second without changing lib/log.
# SPDX-License-Identifier: MIT
use strict;
use warnings;
use Time::HiRes qw(time);

$| = 1;
while (my $line = <STDIN>) {
    printf "%.6f %s", time, $line;
}
