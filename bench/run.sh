#!/bin/bash
# bench/run.sh [COUNT] [RATE] — event throughput and cost of ctlua against conntrack -E
# and a bare counting receiver (the floor), one receiver after another on the same
# load in a private network namespace. Prints Markdown tables, writes bench/results.json.
#
# Three parts, all on loadgen's load (UDP datagrams, each a NEW and a DESTROY event):
#  1. every row RUNS times (default 3; the rows with a "no loss" target LOSS_RUNS
#     times, default 5) on COUNT datagrams (default 300000) at RATE datagrams/s
#     (default 0: the generator's full speed); medians reported;
#  2. for the SEARCH rows, the highest lossless rate: a geometric bisection over
#     loadgen's rate between SEARCH_LO and SEARCH_HI flows/s, SEARCH_STEPS steps of
#     SEARCH_SECONDS each; a step passes when no event or line is lost;
#  3. peak RSS of the MEM rows over MEM_EVENTS (1M and 10M events) at MEM_RATE.
# ROWS="floor ctlua-count" picks rows (RUNS="..." with names, the older form, too);
# SEARCH= or MEM_EVENTS= skips a part. BENCH_QUICK=1: a run of a minute or two.
# The log rows write to a tmpfs file and count its lines; CT_BUF is conntrack's -b
# (default the same 16 MiB as ctlua's; empty: conntrack's own default).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B="$TOP/bench"
if [ -z "${CTLUA_IN_NETNS:-}" ]; then CTLUA_IN_NETNS=1 exec unshare -n -- bash "$0" "$@"; fi

if [ -n "${BENCH_QUICK:-}" ] && [ "$BENCH_QUICK" != 0 ]; then
	: "${RUNS:=1}" "${LOSS_RUNS:=1}" "${SEARCH_STEPS:=3}" "${SEARCH_SECONDS:=2}"
	: "${MEM_EVENTS:=200000 1000000}" "${MEM_RATE:=0}"
	DEF_COUNT=50000
fi
COUNT=${1:-${DEF_COUNT:-300000}}
RATE=${2:-0}
case ${RUNS:-} in
*[!0-9]*) ROWS=${ROWS:-$RUNS}; RUNS=3 ;;   # the older RUNS="row row" form
esac
RUNS=${RUNS:-3}
LOSS_RUNS=${LOSS_RUNS:-5}
LOSS_ROWS=${LOSS_ROWS:-"ctlua-log ctlua-json ctlua-count"}
SEARCH=${SEARCH-"conntrack-log ctlua-log ctlua-json"}
SEARCH_LO=${SEARCH_LO:-1000}
SEARCH_HI=${SEARCH_HI:-200000}
SEARCH_STEPS=${SEARCH_STEPS:-6}
SEARCH_SECONDS=${SEARCH_SECONDS:-10}
MEM_ROWS=${MEM_ROWS:-ctlua-count}
MEM_EVENTS=${MEM_EVENTS-"1000000 10000000"}
MEM_RATE=${MEM_RATE:-60000}
BUF=$((16 << 20))
CT_BUF=${CT_BUF-$BUF}
ORDER=${ROWS:-"conntrack floor ctlua-count ctlua-aggregate ctlua-1pct-lua ctlua-1pct-kernel conntrack-log ctlua-log ctlua-json"}

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
T=$(mktemp -d /dev/shm/ctlua-bench.XXXXXX)   # tmpfs: the logs' disk is not measured
trap 'rm -rf "$W" "$T"' EXIT

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

CTB=${CT_BUF:+-b $CT_BUF}
STOP='ct.on("stop", function() io.stderr:write("delivered ", n, " overruns ", ct.stats().overruns, "\n") end)'
declare -A CMD OUT
CMD[conntrack]="conntrack -E -e NEW,DESTROY $CTB"
CMD[floor]="$B/floor $BUF new destroy"
CMD[ctlua-count]="$TOP/ctlua -b $BUF -e 'local n = 0 local function c() n = n + 1 end ct.on(\"new\", c) ct.on(\"destroy\", c) $STOP'"
CMD[ctlua-aggregate]="$TOP/ctlua -b $BUF -e 'local n, per = 0, {} local function c(e) n = n + 1 local p = e.orig.dport per[p] = (per[p] or 0) + 1 end ct.on(\"new\", {proto = \"udp\"}, c) ct.on(\"destroy\", {proto = \"udp\"}, c) $STOP'"
CMD[ctlua-json-null]="$TOP/ctlua -b $BUF -e 'local n, f = 0, io.open(\"/dev/null\", \"w\") local function c(e) n = n + 1 f:write(ct.json(e), \"\\n\") end ct.on(\"new\", c) ct.on(\"destroy\", c) $STOP'"
CMD[ctlua-1pct-kernel]="$TOP/ctlua -b $BUF -e 'local n = 0 local f = {src = \"127.1.0.1\"} ct.on(\"new\", f, function() n = n + 1 end) ct.on(\"destroy\", f, function() n = n + 1 end) $STOP'"
CMD[ctlua-1pct-lua]="$TOP/ctlua --no-kernel-filter -b $BUF -e 'local n = 0 local f = {src = \"127.1.0.1\"} ct.on(\"new\", f, function() n = n + 1 end) ct.on(\"destroy\", f, function() n = n + 1 end) $STOP'"
# The main job, as an admin types it: every event written to a file, lines counted.
# conntrack -E without -e and ctlua's default script both take NEW, UPDATE, DESTROY.
CMD[conntrack-log]="conntrack -E $CTB"
CMD[ctlua-log]="$TOP/ctlua"
CMD[ctlua-json]="$TOP/ctlua -- --json"
for r in conntrack-log ctlua-log ctlua-json; do OUT[$r]="$T/$r.log"; done
OUT[floor]="$W/floor.out"   # its count, on stdout
for r in $ORDER $SEARCH $MEM_ROWS; do
	[ -n "${CMD[$r]:-}" ] || { echo "bench: no row $r (rows: ${!CMD[*]})" >&2; exit 2; }
done

# (d) matches 127.1.0.1, the first of loadgen's 100 sources, which sends blocks
# 0, 100, 200... of 64 datagrams: about 1 % of the events.
one_pct() { awk -v c="$1" 'BEGIN { for (b = 0; b * 64 < c; b += 100) n += (c - b * 64 < 64 ? c - b * 64 : 64); print 2 * n }'; }

# run_one PART ROW COUNT RATE: one receiver on one load; appends a line to $W/samples:
# part row count rate generated delivered lost overruns user_us sys_us rss_kib gen_s
run_one() {
	local part=$1 r=$2 count=$3 rate=$4 out=${OUT[$2]:-/dev/null}
	conntrack -F >/dev/null 2>&1
	wait_for 30 sh -c '[ "$(conntrack -C)" -eq 0 ]'
	rm -f "$W/$r.ru" "$W/$r.ru.pid"
	local before after gen del ov lost M C
	before=$(nft list chain inet bench out | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	eval "$B/measure $W/$r.ru ${CMD[$r]}" > "$out" 2> "$W/$r.err" &
	M=$!
	wait_for 10 test -s "$W/$r.ru.pid"
	C=$(cat "$W/$r.ru.pid")
	wait_for 20 subscribed "$C" || { echo "$r (pid $C) did not subscribe:" >&2; cat "$W/$r.err" >&2; }
	"$B/loadgen" "$count" "$rate" > "$W/$r.gen"
	# every entry times out (1 s); listing evicts the expired ones promptly
	wait_for 120 sh -c '[ "$(conntrack -L 2>/dev/null | wc -l)" -eq 0 ]'
	wait_for 60 idle "$C"
	after=$(nft list chain inet bench out | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	gen=$(((after - before) * 2))   # kernel's truth: entries created, each a NEW and a DESTROY
	kill -TERM "$C"; wait "$M"
	case $r in
	floor) read -r del ov < "$out" ;;
	conntrack) del=$(sed -n 's/.*: \([0-9]*\) flow events.*/\1/p' "$W/$r.err"); ov=$(grep -c ENOBUFS "$W/$r.err") ;;
	*-log|ctlua-json) del=$(wc -l < "$out"); ov=$(grep -c ENOBUFS "$W/$r.err") ;;
	*) read -r _ del _ ov < <(grep "^delivered" "$W/$r.err") ;;
	esac
	[ "$out" = /dev/null ] || rm -f "$out"
	case $r in
	ctlua-1pct*) lost=$(($(one_pct "$count") - del)) ;;   # delivered counts the matches
	*) lost=$((gen - del)) ;;
	esac
	local ut st rss
	read -r ut st rss < "$W/$r.ru"
	echo "$part $r $count $rate $gen ${del:-0} $lost ${ov:-0} $ut $st $rss $(cut -d' ' -f2 "$W/$r.gen")" >> "$W/samples"
	SAMPLE="gen=$gen delivered=${del:-0} lost=$lost overruns=${ov:-0} cpu_us=$((ut + st))"
}
START=$SECONDS
echo "bench: $COUNT datagrams at $([ "$RATE" = 0 ] && echo "full speed" || echo "$RATE/s"); rows: $ORDER" >&2
for r in $ORDER; do
	n=$RUNS
	case " $LOSS_ROWS " in *" $r "*) [ "$LOSS_RUNS" -gt "$n" ] && n=$LOSS_RUNS ;; esac
	for i in $(seq "$n"); do
		run_one main "$r" "$COUNT" "$RATE"
		echo "  $r run $i/$n: $SAMPLE" >&2
	done
done

# Highest lossless rate: geometric bisection between SEARCH_LO and SEARCH_HI.
for r in $SEARCH; do
	lo=$SEARCH_LO hi=$SEARCH_HI
	for i in $(seq "$SEARCH_STEPS"); do
		rate=$(awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%d", sqrt(l * h) }')
		count=$((rate * SEARCH_SECONDS))
		[ "$count" -le 6000000 ] || count=6000000   # loadgen's distinct tuples
		run_one search "$r" "$count" "$rate"
		echo "  $r search $i/$SEARCH_STEPS at $rate/s: $SAMPLE" >&2
		case $SAMPLE in *" lost=0 overruns=0 "*) lo=$rate ;; *) hi=$rate ;; esac
	done
done

for r in $MEM_ROWS; do
	for ev in $MEM_EVENTS; do
		run_one mem "$r" $((ev / 2)) "$MEM_RATE"
		echo "  $r memory over $ev events: $SAMPLE" >&2
	done
done

BENCH_SECONDS=$((SECONDS - START)) COUNT=$COUNT RATE=$RATE RUNS=$RUNS LOSS_RUNS=$LOSS_RUNS \
	LOSS_ROWS=$LOSS_ROWS SEARCH_LO=$SEARCH_LO SEARCH_HI=$SEARCH_HI SEARCH_STEPS=$SEARCH_STEPS \
	SEARCH_SECONDS=$SEARCH_SECONDS MEM_RATE=$MEM_RATE BUF=$BUF CT_BUF=$CT_BUF ORDER=$ORDER \
	lua5.4 "$B/report.lua" "$W/samples" "$B/results.json"
