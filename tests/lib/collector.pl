#!/usr/bin/perl
# collector.pl tcp:PORT|unix:PATH OUT CYCLES — a line collector that misbehaves:
# for CYCLES rounds it reads for a while, then (in turn) resets the connection
# (SO_LINGER 0), stops reading for a second, closes it normally, restarts (stops
# listening for half a second). Then it touches OUT.done and reads on. Complete
# lines go to OUT; the fragment a connection ends with is not a line.
# Before it closes a TCP connection, an nft rule (chain inet ctlua_test block)
# holds back ctlua's packets and it reads what it has: what its kernel
# acknowledged it has read, so the sender's count of acknowledged lines is exact.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP);
use Time::HiRes qw(time sleep);

my ($spec, $out, $cycles) = @ARGV;
my ($kind, $addr) = split /:/, $spec, 2;
open(my $o, '>>', $out) or die "$out: $!";
$o->autoflush(1);
my ($l, $c, $buf);

sub listen_on {
	if ($kind eq 'tcp') {
		$l = IO::Socket::INET->new(Listen => 16, LocalAddr => "127.0.0.1:$addr", ReuseAddr => 1)
			or die "listen: $!";
	} else {
		unlink $addr;
		$l = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $addr, Listen => 16) or die "listen: $!";
	}
}
sub nft { return unless $kind eq 'tcp'; system("nft", @_) == 0 or die "nft @_" }
sub block { nft("add rule inet ctlua_test block tcp dport $addr drop") }
sub unblock { nft("flush chain inet ctlua_test block") }
sub end_conn { close($c) if $c; undef $c; }

# Reads (and accepts) for $t seconds.
sub serve {
	my $end = time + shift;
	while ((my $left = $end - time) > 0) {
		if (!$c) {
			if (IO::Select->new($l)->can_read($left)) { $c = $l->accept; $buf = ''; }
			next;
		}
		next unless IO::Select->new($c)->can_read($left);
		my $n = sysread($c, my $d, 65536);
		if (!$n) { end_conn(); next; }
		setsockopt($c, IPPROTO_TCP, 12, 1) if $kind eq 'tcp';   # TCP_QUICKACK
		$buf .= $d;
		my $i = rindex($buf, "\n");
		if ($i >= 0) { print $o substr($buf, 0, $i + 1); $buf = substr($buf, $i + 1); }
	}
}
# Nothing more comes in; read what is there, let the last acknowledgements go out.
sub drain { block(); serve(0.3); }

listen_on();
for my $i (0 .. $cycles - 1) {
	serve(0.5);
	my $m = $i % 4;
	if ($m == 0) {          # reset
		drain();
		setsockopt($c, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)) if $c;
		end_conn(); unblock();
	} elsif ($m == 1) {     # stop reading
		sleep 1;
	} elsif ($m == 2) {     # close normally
		drain(); end_conn(); unblock();
	} else {                # restart
		drain(); end_conn(); close($l); unblock(); sleep 0.5; listen_on();
	}
}
{ open(my $done, ">", "$out.done") or die "$out.done: $!"; close($done); }
serve(1) while 1;
