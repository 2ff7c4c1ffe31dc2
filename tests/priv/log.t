#!/bin/bash
# The default script (what `make run` starts) against conntrack -E, its --json and
# --timestamp forms, the README one-liner, and overruns under a tiny buffer.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
short_timeouts

bg "$T_TMP/ct.txt" /dev/null conntrack -E;                 CT=$BG_PID
bg "$T_TMP/exp.txt" /dev/null conntrack -E expect;         EXP=$BG_PID
bg "$T_TMP/log.txt" "$T_TMP/log.err" "$CTLUA";             LOG=$BG_PID
bg "$T_TMP/json.txt" /dev/null "$CTLUA" -- --json;         JSON=$BG_PID
bg "$T_TMP/ts.txt" /dev/null "$CTLUA" -- --timestamp;      TS=$BG_PID
bg "$T_TMP/one.txt" /dev/null "$CTLUA" -e 'ct.on("new", {proto="tcp"}, function(e) print(e.orig.src, e.orig.dport, e.state) end)'
ONE=$BG_PID
for p in $CT $EXP $LOG $JSON $TS $ONE; do wait_until 10 nl_subscribed $p || break; done
ok $? "all listeners subscribed"
like "$(cat "$T_TMP/log.err")" "conntrack table is empty.*\
|nft 'add table inet ctlua" "an empty table at start says how to turn tracking on"

{
	"$TGEN" tcp 127.0.0.1 5555 44001
	"$TGEN" tcp ::1 5556 44002
	"$TGEN" udp 127.0.0.1 5353 44003
	"$TGEN" ftp 127.0.0.1 2121
} > /dev/null; ok $? "traffic generated"
wait_until 60 table_empty; ok $? "every entry destroyed"
want=$(( $(lines "$T_TMP/ct.txt") + $(lines "$T_TMP/exp.txt") ))
for f in log json ts; do
	wait_until 20 has_lines "$T_TMP/$f.txt" $want || break
done
ok $? "each log form printed all $want events"
for p in $LOG $JSON $TS $ONE $CT $EXP; do stop_pid $p; done

cat "$T_TMP/ct.txt" "$T_TMP/exp.txt" | sort > "$T_TMP/want.txt"
sort "$T_TMP/log.txt" > "$T_TMP/got.txt"
same_file "$T_TMP/got.txt" "$T_TMP/want.txt" "default script prints what conntrack -E and -E expect print"
bad=$(lua5.4 -e 'local cjson = require "cjson"
	local n = 0
	for l in io.lines() do
		local ok, ev = pcall(cjson.decode, l)
		if not (ok and type(ev.event) == "string" and type(ev.time) == "number") then n = n + 1 end
	end
	print(n)' < "$T_TMP/json.txt")
is "$bad" 0 "--json prints one JSON object per line ($(lines "$T_TMP/json.txt") lines)"
sed 's/^\[[0-9]*\.[0-9]\{6\}\]\t//' "$T_TMP/ts.txt" | sort > "$T_TMP/ts-stripped.txt"
same_file "$T_TMP/ts-stripped.txt" "$T_TMP/want.txt" "--timestamp lines are conntrack lines behind a [sec.usec] tab prefix"
is "$(grep -vc '^\[[0-9]*\.[0-9]\{6\}\]	' "$T_TMP/ts.txt")" 0 "--timestamp prefixes every line"
is "$(cat "$T_TMP/one.txt")" "127.0.0.1	5555	SYN_SENT
::1	5556	SYN_SENT
127.0.0.1	2121	SYN_SENT" "the README one-liner prints one line per new TCP connection"

# Overrun: a slow handler and the smallest buffer; ctlua counts, tells, goes on.
bg "$T_TMP/ov.out" "$T_TMP/ov.err" "$CTLUA" -b 1 -e '
	ct.on("new", function() local t = os.clock() repeat until os.clock() - t > 0.002 end)
	ct.on("overrun", function(n) io.stderr:write("overrun ", n, "\n") end)
	ct.on("new", {dport = 9}, function() io.stderr:write("after\n") end)
	ct.on("stop", function() print(ct.stats().overruns, ct.stats().rcvbuf) end)'
OV=$BG_PID
wait_until 10 nl_subscribed $OV; ok $? "slow ctlua subscribed"
"$TGEN" -n 400 udp-oneway 127.0.0.1 7 45000 > /dev/null
wait_until 30 grep -q '^overrun 1$' "$T_TMP/ov.err"; ok $? "overrun handlers get the count"
# Events still arrive after the overrun. A marker sent while the tiny buffer is
# still full may itself be dropped, so send one until one gets through (bounded).
got=1
for i in $(seq 1 30); do
	"$TGEN" udp-oneway 127.0.0.1 9 $((46000 + i)) > /dev/null
	if wait_until 2 grep -q '^after$' "$T_TMP/ov.err"; then got=0; break; fi
done
ok $got "events are delivered after an overrun"
stop_pid $OV; is "$STOP_RC" 0 "ctlua exits 0 after overruns"
read -r n buf < "$T_TMP/ov.out"
[ "${n:-0}" -ge 1 ]; ok $? "ct.stats().overruns counts them ($n)"
[ "${buf:-0}" -gt 2304 ]; ok $? "each overrun doubled the receive buffer (2304 -> $buf bytes)"
done_testing
