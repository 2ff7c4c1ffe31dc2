#!/bin/sh
# make demo — the default script in a throwaway network namespace with a little
# traffic (TCP, UDP, ICMP, an ftp-style expectation); the host's firewall is untouched.
set -e
TOP=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${CTLUA_DEMO_NETNS:-}" ]; then
	CTLUA_DEMO_NETNS=1 exec unshare -n -- sh "$0" "$@"
fi
ip link set lo up
nft -f - <<'NFT'
table inet ctlua_demo {
	ct helper ftp-std { type "ftp" protocol tcp; }
	chain out {
		type filter hook output priority 0;
		ct state new counter
		tcp dport 2121 ct helper set "ftp-std"
	}
}
NFT
for s in udp_timeout icmp_timeout tcp_timeout_time_wait; do
	echo 2 > /proc/sys/net/netfilter/nf_conntrack_$s
done
echo "ctlua demo: events of a private network namespace, as conntrack -E prints them" >&2
"$TOP/ctlua" &
pid=$!
# Wait (bounded) until ctlua, the only netlink listener here, has joined its groups.
i=0
until awk '$2 == 12 && $4 != "00000000" {f=1} END {exit !f}' /proc/net/netlink; do
	i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.05
done
T="$TOP/tests/tgen"
"$T" tcp 127.0.0.1 8080 >/dev/null
"$T" udp 127.0.0.1 5353 >/dev/null
"$T" icmp 127.0.0.1 >/dev/null
"$T" ftp 127.0.0.1 2121 >/dev/null
# Let the short timeouts run out so the DESTROY events show too (bounded).
i=0
while [ "$(conntrack -L 2>/dev/null | wc -l)" -gt 0 ] && [ $i -lt 100 ]; do
	i=$((i + 1)); sleep 0.1
done
sleep 0.2
kill -TERM $pid
wait $pid
