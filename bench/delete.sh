#!/bin/bash
# bench/delete.sh [N] — deleting N entries (default 100000) selected by a filter:
# ctlua (one dump, batched deletes) against conntrack -D with the same filter, on the
# same table, in a private network namespace. Prints both wall times.
set -e
N=${1:-100000}
TOP=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${CTLUA_IN_NETNS:-}" ]; then CTLUA_IN_NETNS=1 exec unshare -n -- bash "$0" "$@"; fi
ip link set lo up

# fill N UDP entries to be deleted and N/10 TCP entries that must stay
fill() {
	"$TOP/ctlua" -e "
	for i = 0, $N - 1 do
		assert(ct.create{proto='udp', src='10.' .. (i >> 16) .. '.' .. ((i >> 8) & 255) .. '.' .. (i & 255),
			dst='192.0.2.1', sport=1024 + i % 50000, dport=53, timeout=600})
	end
	for i = 0, $N // 10 - 1 do
		assert(ct.create{proto='tcp', src='10.200.' .. ((i >> 8) & 255) .. '.' .. (i & 255),
			dst='192.0.2.2', sport=2000, dport=80, timeout=600, state='ESTABLISHED'})
	end"
}
ms() { date +%s%N | cut -b1-13; }

fill
echo "table: $(conntrack -C) entries ($N udp to delete)"
t0=$(ms)
"$TOP/ctlua" -e 'local l = assert(ct.list({proto = "udp", dport = 53}))
	local d, g, f = ct.delete(l)
	io.stderr:write(string.format("ctlua: listed %d, deleted %d, gone %d, failed %d\n", #l, d, g, f))'
t1=$(ms)
left=$(conntrack -C)
echo "ctlua ct.delete(ct.list{proto='udp', dport=53}): $((t1 - t0)) ms, $left entries left"

conntrack -F 2>/dev/null
fill
t0=$(ms)
conntrack -D -p udp --dport 53 > /dev/null 2>&1
t1=$(ms)
echo "conntrack -D -p udp --dport 53:               $((t1 - t0)) ms, $(conntrack -C) entries left"
