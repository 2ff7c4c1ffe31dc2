#!/bin/bash
# tests/data/capture.sh FAMILY — records the canned messages the unprivileged tests
# replay: real kernel event datagrams (FAMILY.nl) and what conntrack -E / -E expect
# printed for the same events (FAMILY.conntrack, FAMILY.expect), and the tuples the
# traffic used (FAMILY.tgen). Run as root, once,
# when the fixtures need to change: `bash tests/data/capture.sh ipv4`.
set -e
fam=${1:?usage: capture.sh ipv4|ipv6}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${CTLUA_IN_NETNS:-}" ]; then CTLUA_IN_NETNS=1 exec unshare -n -- bash "$0" "$@"; fi
case $fam in ipv4) A=127.0.0.1 ;; ipv6) A=::1 ;; *) exit 2 ;; esac
ip link set lo up
nft -f - <<'NFT'
table inet cap {
	ct helper ftp-std { type "ftp" protocol tcp; }
	chain out { type filter hook output priority 0; ct state new counter; tcp dport 2121 ct helper set "ftp-std"; }
}
NFT
for s in udp_timeout icmp_timeout icmpv6_timeout tcp_timeout_time_wait; do echo 1 > /proc/sys/net/netfilter/nf_conntrack_$s; done
echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp
D="$TOP/tests/data"
conntrack -E > "$D/$fam.conntrack" 2>/dev/null & c1=$!
conntrack -E expect > "$D/$fam.expect" 2>/dev/null & c2=$!
coproc CAP { "$TOP/tests/nlcapture" "$D/$fam.nl"; }
read -r ready <&"${CAP[0]}"
for p in $c1 $c2; do
	for i in $(seq 100); do awk -v p=$p '$2==12 && $3==p && $4!="00000000"{f=1} END{exit !f}' /proc/net/netlink && break; sleep 0.05; done
done
T="$TOP/tests/tgen"
{
	"$T" tcp $A 5555 43001
	"$T" udp $A 5353 43002
	"$T" icmp $A 4343
	"$T" ftp $A 2121 --data
} > "$D/$fam.tgen"
for i in $(seq 300); do [ "$(conntrack -L 2>/dev/null | wc -l)" -eq 0 ] && break; sleep 0.1; done
sleep 0.5
kill $CAP_PID $c1 $c2; wait
