#!/bin/bash
# IPv4: TCP, UDP, ICMP and ftp expectations, fields and conntrack -E oracle.
. "$(dirname "$0")/../lib/tap.sh"
FAMILY=ipv4 ADDR=127.0.0.1
. "$TOP/tests/lib/events.sh"
