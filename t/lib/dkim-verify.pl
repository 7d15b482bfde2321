#!/usr/bin/perl
# dkim-verify.pl - verify every DKIM signature of a message with Mail::DKIM
# (libmail-dkim-perl), the keys looked up in the test's DNS server.
#
# usage: dkim-verify.pl PORT FILE...
# The leading SMG-* envelope fields are removed and line ends made CRLF,
# as smg-send transmits the message.  Prints for each FILE a line
# "== FILE", then one line per signature, "RESULT a=ALG d=DOMAIN
# s=SELECTOR (DETAIL)", or "none".
# SPDX-License-Identifier: MIT
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS::Resolver;

my $port = shift @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port, recurse => 1,
    udp_timeout => 5, tcp_timeout => 5, retry => 2));
for my $path (@ARGV) {
    print "== $path\n";
    check($path);
}

sub check {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!\n";
    binmode $fh;
    my $msg = do { local $/; <$fh> };
    close $fh;
    $msg =~ s/\A(?:SMG-[A-Za-z-]+:[^\n]*\n)+//;
    $msg =~ s/\r?\n/\r\n/g;
    my $v = Mail::DKIM::Verifier->new;
    $v->PRINT($msg);
    $v->CLOSE;
    my @sigs = $v->signatures;
    print "none\n" unless @sigs;
    for my $s (@sigs) {
        printf "%s a=%s d=%s s=%s (%s)\n", $s->result, $s->algorithm // '?',
            $s->domain // '?', $s->selector // '?', $s->result_detail // '';
    }
}
