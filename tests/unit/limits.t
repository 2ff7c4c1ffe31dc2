#!/bin/bash
# Limits on scripts: a runaway handler or timer is interrupted by the time budget,
# a handler that allocates without bound hits the memory cap; ctlua goes on.
. "$(dirname "$0")/../lib/tap.sh"
D="$TOP/tests/data"

out=$("$CTLUA" --replay "$D/ipv4.conntrack" --handler-timeout 100 -e '
	local n, m = 0, 0
	ct.on("new", function(e) n = n + 1 if n == 2 then while true do end end end)
	ct.on("new", function() m = m + 1 end)
	ct.on("stop", function() local s = ct.stats() print(n, m, s.timeouts, s.handler_errors) end)' 2>"$T_TMP/err")
is "$out" "5	5	1	1" "an endless handler is interrupted once; every later handler and event still runs"
like "$(cat "$T_TMP/err")" "error in 'new' handler \(\(command line\):3\): \(command line\):3: handler exceeded 100 ms" \
	"the interruption is reported at the runaway line"

out=$("$CTLUA" --handler-timeout 50 -e '
	local ticks = 0
	ct.after(0.01, function() while true do end end)
	ct.every(0.02, function(t) ticks = ticks + 1 if ticks == 3 then t:stop() print("ticks", ticks, ct.stats().timeouts) end end)' 2>"$T_TMP/err")
is "$out" "ticks	3	1" "an endless timer is interrupted; other timers go on"

out=$("$CTLUA" --replay "$D/ipv4.conntrack" --memory-limit 32M -e '
	local n, m = 0, 0
	ct.on("new", function(e)
		n = n + 1
		if n == 2 then local t = {} while true do t[#t + 1] = string.rep("x", 1000) .. #t end end
	end)
	ct.on("new", function() m = m + 1 end)
	ct.on("stop", function() collectgarbage() local s = ct.stats()
		print(n, m, s.handler_errors, s.memory < 32 * 1024 * 1024) end)' 2>"$T_TMP/err")
is "$out" "5	5	1	true" "a handler growing without bound hits the cap; the rest is delivered"
like "$(cat "$T_TMP/err")" "error in 'new' handler \(\(command line\):3\): not enough memory" "reported as not enough memory"
# An error storm: 1M replayed events over 1000 s of recorded time, one handler failing
# on every 10th (200k on the ASan build, which is ten times slower).
case "$CTLUA" in *asan*) N=200000 ;; *) N=1000000 ;; esac
lua5.4 -e 'for i = 0, '"$N"' - 1 do io.write(string.format("[%d.000000]\t    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=%d dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=%d\n", 1700000000 + i // 1000, 1024 + i % 60000, 1024 + i % 60000)) end' > "$T_TMP/storm.txt"
out=$("$CTLUA" --replay "$T_TMP/storm.txt" -e '
	local n, m = 0, 0
	ct.on("new", function() n = n + 1 if n % 10 == 0 then error("every tenth") end end)
	ct.on("new", function() m = m + 1 end)
	ct.on("stop", function() local s = ct.stats() print(n, m, s.handler_errors) end)' 2>"$T_TMP/storm.err")
is "$out" "$N	$N	$((N / 10))" "alive after $N events: every call made, exactly $((N / 10)) errors counted"
is "$(grep -c "^ctlua: error in 'new' handler" "$T_TMP/storm.err")" 5 "the first 5 errors are printed whole"
is "$(grep -c "failed [0-9]* more times in 10 s, last: (command line):3: every tenth" "$T_TMP/storm.err")" $((N / 10000 - 1)) \
	"then one summary line per 10 s of (recorded) time"
is "$(sed -n 's/.*failed \([0-9]*\) more times.*/\1/p' "$T_TMP/storm.err" | awk '{ s += $1 } END { print s }')" $((N / 10 - 5)) \
	"the summaries, with a last one at stop, account for every other error"

# A script that keeps its memory at the cap: every later call fails, each after a
# full collection. After 10 in a row ctlua says so and stops with status 5 (the
# unit restarts it). Was: the failures went on for ever (1673 timer errors in 20 s).
lua5.4 "$TOP/tests/data/repeat-nl.lua" 200 "$D/ipv4.nl" > "$T_TMP/200.nl"
t0=$(date +%s%N)
timeout -s KILL 60 "$CTLUA" --netlink-file "$T_TMP/200.nl" --memory-limit 32M -e '
	keep = {}
	local n, ticks = 0, 0
	ct.on("new", function()
		n = n + 1
		if n == 2 then   -- fill the cap to the last bytes, and keep it all
			for _, sz in ipairs{100000, 1000, 10, 0} do
				pcall(function() while true do keep[#keep + 1] = sz > 0 and string.rep("x", sz) .. #keep or {} end end)
			end
		end
	end)
	ct.every(0.01, function() ticks = ticks + 1 local t = string.rep("y", 10000) .. ticks end)
	ct.on("stop", function() io.stderr:write("stopped after ", ticks, " ticks\n") end)' >/dev/null 2>"$T_TMP/cap.err"
rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$rc" 5 "kept at the memory cap: ctlua stops with status 5 ($ms ms)"
like "$(cat "$T_TMP/cap.err")" "ctlua: the Lua state is at its memory cap \([0-9]+ of 33554432 bytes in use after a full collection\)" \
	"the first failure at the cap is explained"
like "$(cat "$T_TMP/cap.err")" "ctlua: 10 calls into Lua in a row failed at the memory cap .*: stopping; raise --memory-limit" \
	"the stop is explained"
like "$(cat "$T_TMP/cap.err")" "stopped after [0-9]+ ticks" "the stop handlers still ran"
[ "$ms" -le 15000 ]; ok $? "stopped within 15 s"

# Default cap: a quarter of the RAM, at most 1 GiB; 0 means none.
ram=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 ))
want=$(( ram / 4 < 1073741824 ? ram / 4 : 1073741824 ))
got=$("$CTLUA" -v --replay /dev/null -e '' 2>&1 | sed -n 's/^ctlua: Lua memory cap: \([0-9]*\) bytes$/\1/p')
[ -n "$got" ] && [ $(( got - want )) -le 1048576 ] && [ $(( want - got )) -le 1048576 ]; ok $? "default memory cap $got, a quarter of RAM or 1 GiB ($want)"
like "$("$CTLUA" -v --memory-limit 0 --replay /dev/null -e '' 2>&1)" "Lua memory cap: 0 bytes \(none\)" "--memory-limit 0: no cap"
"$CTLUA" --memory-limit 2G --replay "$D/ipv4.conntrack" -e '' 2>/dev/null; is $? 0 "--memory-limit 2G is accepted"

"$CTLUA" --memory-limit 12x -e '' 2>/dev/null; is $? 2 "bad --memory-limit exits 2"
"$CTLUA" --handler-timeout -1 -e '' 2>/dev/null; is $? 2 "bad --handler-timeout exits 2"
done_testing
