#!/bin/bash
# bench/run.sh [COUNT] [RATE] — event throughput and cost, ctlua against conntrack -E
# and a bare counting receiver (the floor), one after another on the same load in a
# private network namespace. Writes bench/results.json and prints a table.
# COUNT datagrams (default 300000), each a NEW and a DESTROY; RATE datagrams/s
# (default 0: as fast as the generator goes). RUNS="floor ctlua-count" picks runs.
set -u
COUNT=${1:-300000}
RATE=${2:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
B="$TOP/bench"
if [ -z "${CTLUA_IN_NETNS:-}" ]; then CTLUA_IN_NETNS=1 exec unshare -n -- bash "$0" "$@"; fi
ip link set lo up
nft -f - <<'NFT'
table inet bench {
	chain out {
		type filter hook output priority 0;
		ct state new counter
	}
	chain in {
		type filter hook input priority 0;
		udp dport 1-60000 drop
	}
}
NFT
echo 1 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
BUF=$((16 << 20))

subscribed() {  # PID: holds a NETLINK_NETFILTER socket joined to a group
	local inodes
	inodes=$(ls -l /proc/"$1"/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
	awk -v i=" $inodes" '$2 == 12 && $4 != "00000000" && index(i, " " $10 " ") {f = 1} END {exit !f}' /proc/net/netlink
}
cputime() { awk '{print $14 + $15}' /proc/"$1"/stat 2>/dev/null; }
# idle PID: its CPU time has not moved for 0.3 s (it has drained its backlog)
idle() {
	local a b
	a=$(cputime "$1"); sleep 0.3; b=$(cputime "$1")
	[ "$a" = "$b" ]
}
wait_for() {  # SECONDS CMD...
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.05; done
}

declare -A CMD
CMD[conntrack]="conntrack -E -e NEW,DESTROY"
CMD[floor]="$B/floor $BUF new destroy"
CMD[ctlua-count]="$TOP/ctlua -b $BUF -e 'local n = 0 local function c() n = n + 1 end ct.on(\"new\", c) ct.on(\"destroy\", c) ct.on(\"stop\", function() io.stderr:write(\"delivered \", n, \" overruns \", ct.stats().overruns, \"\\n\") end)'"
CMD[ctlua-aggregate]="$TOP/ctlua -b $BUF -e 'local n, per = 0, {} local function c(e) n = n + 1 local p = e.orig.dport per[p] = (per[p] or 0) + 1 end ct.on(\"new\", {proto = \"udp\"}, c) ct.on(\"destroy\", {proto = \"udp\"}, c) ct.on(\"stop\", function() io.stderr:write(\"delivered \", n, \" overruns \", ct.stats().overruns, \"\\n\") end)'"
CMD[ctlua-json]="$TOP/ctlua -b $BUF -e 'local n, f = 0, io.open(\"/dev/null\", \"w\") local function c(e) n = n + 1 f:write(ct.json(e), \"\\n\") end ct.on(\"new\", c) ct.on(\"destroy\", c) ct.on(\"stop\", function() io.stderr:write(\"delivered \", n, \" overruns \", ct.stats().overruns, \"\\n\") end)'"
CMD[ctlua-1pct-kernel]="$TOP/ctlua -b $BUF -e 'local m = 0 local f = {src = \"127.1.0.1\"} ct.on(\"new\", f, function() m = m + 1 end) ct.on(\"destroy\", f, function() m = m + 1 end) ct.on(\"stop\", function() io.stderr:write(\"delivered \", m, \" overruns \", ct.stats().overruns, \"\\n\")  end)'"
CMD[ctlua-1pct-lua]="$TOP/ctlua --no-kernel-filter -b $BUF -e 'local m = 0 local f = {src = \"127.1.0.1\"} ct.on(\"new\", f, function() m = m + 1 end) ct.on(\"destroy\", f, function() m = m + 1 end) ct.on(\"stop\", function() io.stderr:write(\"delivered \", m, \" overruns \", ct.stats().overruns, \"\\n\")  end)'"
ORDER=${RUNS:-"conntrack floor ctlua-count ctlua-aggregate ctlua-json ctlua-1pct-lua ctlua-1pct-kernel"}
# (d) matches 127.1.0.1, the first of loadgen's 100 sources, which sends blocks
# 0, 100, 200... of 64 datagrams: about 1 % of the events.
ONE_PCT_EVENTS=$(awk -v c="$COUNT" 'BEGIN { for (b = 0; b * 64 < c; b += 100) n += (c - b * 64 < 64 ? c - b * 64 : 64); print 2 * n }')

printf '%-16s %10s %10s %8s %9s %10s %9s %8s %8s\n' run generated delivered lost overruns "cpu_us/ev" "rss_kib" "x_ct" "x_floor"
JSON="["
for r in $ORDER; do
	conntrack -F >/dev/null 2>&1
	wait_for 30 sh -c '[ "$(conntrack -C)" -eq 0 ]'
	before=$(nft list chain inet bench out | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	eval "$B/measure $W/$r.ru ${CMD[$r]}" > "$W/$r.out" 2> "$W/$r.err" &
	M=$!
	wait_for 10 test -s "$W/$r.ru.pid"
	C=$(cat "$W/$r.ru.pid")
	wait_for 20 subscribed "$C" || { echo "$r (pid $C) did not subscribe:" >&2; cat "$W/$r.err" >&2; }
	"$B/loadgen" "$COUNT" "$RATE" > "$W/$r.gen"
	# every entry times out (1 s); listing evicts the expired ones promptly
	wait_for 120 sh -c '[ "$(conntrack -L 2>/dev/null | wc -l)" -eq 0 ]'
	wait_for 60 idle "$C"
	after=$(nft list chain inet bench out | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	gen=$(((after - before) * 2))   # kernel's truth: entries created, each a NEW and a DESTROY
	kill -TERM "$C"; wait "$M"
	case $r in
	conntrack) del=$(sed -n 's/.*: \([0-9]*\) flow events.*/\1/p' "$W/$r.err"); ov=$(grep -c ENOBUFS "$W/$r.err") ;;
	floor) read -r del ov < "$W/$r.out" ;;
	*) read -r _ del _ ov < <(grep "^delivered" "$W/$r.err") ;;
	esac
	if [ "${r#ctlua-1pct}" != "$r" ]; then
		# about 1 % of the events match: delivered counts the matches
		lost=$((ONE_PCT_EVENTS - del))
	else
		lost=$((gen - del))
	fi
	read -r ut st rss < "$W/$r.ru"
	cpu=$(awk -v u="$ut" -v s="$st" -v g="$gen" 'BEGIN { printf "%.2f", (u + s) / g }')
	eval "CPU_$(echo "$r" | tr '-' '_')=$cpu"
	printf '%-16s %10d %10d %8d %9d %10s %9d\n' "$r" "$gen" "$del" "$lost" "$ov" "$cpu" "$rss" >> "$W/table"
	JSON="$JSON{\"run\":\"$r\",\"generated\":$gen,\"delivered\":$del,\"lost\":$lost,\"overruns\":$ov,\"cpu_us_per_event\":$cpu,\"peak_rss_kib\":$rss,\"gen_seconds\":$(cut -d' ' -f2 "$W/$r.gen")},"
done
while read -r run g d l o c m; do
	xc=$(awk -v c="$c" -v b="$CPU_conntrack" 'BEGIN { printf "%.2f", c / b }')
	xf=$(awk -v c="$c" -v b="$CPU_floor" 'BEGIN { printf "%.2f", c / b }')
	printf '%-16s %10s %10s %8s %9s %10s %9s %8s %8s\n' "$run" "$g" "$d" "$l" "$o" "$c" "$m" "$xc" "$xf"
done < "$W/table"
echo "${JSON%,}]" > "$B/results.json"
echo "load: $COUNT datagrams, rate ${RATE:-max}/s; NEW+DESTROY each; results in bench/results.json"
