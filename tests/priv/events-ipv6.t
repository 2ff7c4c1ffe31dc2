#!/bin/bash
# IPv6 with counters on: TCP, UDP, ICMPv6 and ftp (EPSV) expectations, fields and oracle.
. "$(dirname "$0")/../lib/tap.sh"
FAMILY=ipv6 ADDR=::1 ACCT=1
. "$TOP/tests/lib/events.sh"
