#!/bin/bash
# The kernel event filter changes what reaches ctlua, never what handlers see: the
# same scripts with and without it (--no-kernel-filter) on the same mixed traffic.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
short_timeouts

# Each case: handler filters (Lua), then whether the kernel can take a part of them.
cases=(
	'{proto = "udp"}|{proto = "tcp", dst = "::1"}'
	'{dst = "127.0.0.0/8"}|{src = "127.0.0.1", proto = {"tcp", "icmp"}}'
	'{proto = "tcp", state = {"ESTABLISHED", "TIME_WAIT"}}'
	'{dst = {"127.0.0.1", "::1"}, proto = "udp"}'
	'{dport = {5353, 7001}}'
	'{proto = "udp"}|NONE'
)
script() {  # FILTERS: one recording handler per filter and event kind
	local lua='local out = {} local function rec(i) return function(e)
		local o = e.orig out[#out + 1] = table.concat({i, e.event, e.proto, o.src, o.dst, tostring(o.sport or o.type), tostring(o.dport or o.id), tostring(e.state)}, " ") end end'
	local i=0 f
	IFS='|' read -ra fs <<< "$1"
	for f in "${fs[@]}"; do
		i=$((i + 1))
		if [ "$f" = NONE ]; then
			lua="$lua for _, n in ipairs{'new','update','destroy'} do ct.on(n, rec($i)) end"
		else
			lua="$lua for _, n in ipairs{'new','update','destroy'} do ct.on(n, $f, rec($i)) end"
		fi
	done
	lua="$lua ct.on('stop', function() table.sort(out) for _, l in ipairs(out) do print(l) end
		local s = ct.stats() local n = 0 for _, v in pairs(s.events) do n = n + v end
		io.stderr:write('received ', n, ' kernel ', ct.json(s.kernel_filter), '\\n') end)"
	printf '%s' "$lua"
}
k=0
for c in "${cases[@]}"; do
	k=$((k + 1))
	L=$(script "$c")
	bg "$T_TMP/on$k" "$T_TMP/on$k.err" "$CTLUA" -e "$L"; ON=$BG_PID
	bg "$T_TMP/off$k" "$T_TMP/off$k.err" "$CTLUA" --no-kernel-filter -e "$L"; OFF=$BG_PID
	wait_until 10 nl_subscribed $ON && wait_until 10 nl_subscribed $OFF
	ok $? "case $k: both subscribed"
	{
		"$TGEN" tcp 127.0.0.1 7001 $((42000 + k * 10))
		"$TGEN" tcp ::1 7002 $((42001 + k * 10))
		"$TGEN" udp 127.0.0.1 5353 $((42002 + k * 10))
		"$TGEN" udp ::1 5353 $((42003 + k * 10))
		"$TGEN" icmp 127.0.0.1 $((300 + k))
		"$TGEN" icmp ::1 $((400 + k))
	} > /dev/null
	wait_until 60 table_empty
	# (no unfiltered progress handler here: it would switch the kernel filter off)
	wait_until 20 nl_drained $ON && wait_until 20 nl_drained $OFF
	ok $? "case $k: both have read everything the kernel sent them"
	stop_pid $ON; stop_pid $OFF
	[ -s "$T_TMP/off$k" ]; ok $? "case $k ($c): handlers matched $(lines "$T_TMP/off$k") events"
	same_file "$T_TMP/on$k" "$T_TMP/off$k" "case $k: handlers saw the same events with the kernel filter as without"
	note "with: $(grep received "$T_TMP/on$k.err")" "without: $(grep received "$T_TMP/off$k.err")"
done
# The kernel really filtered where it could, and stayed out where it could not.
like "$(grep received "$T_TMP/on1.err")" 'kernel \{.*"protos":2' "case 1: protocols go to the kernel"
n_on=$(sed -n 's/^received \([0-9]*\).*/\1/p' "$T_TMP/on1.err"); n_off=$(sed -n 's/^received \([0-9]*\).*/\1/p' "$T_TMP/off1.err")
[ "$n_on" -lt "$n_off" ]; ok $? "case 1: fewer events reach ctlua with the kernel filter ($n_on < $n_off)"
like "$(grep received "$T_TMP/on3.err")" '"states":2' "case 3: TCP states go to the kernel"
like "$(grep received "$T_TMP/on5.err")" 'kernel false' "case 5: ports are not expressible: no kernel filter"
like "$(grep received "$T_TMP/on6.err")" 'kernel false' "case 6: a handler without a filter: no kernel filter"
done_testing
