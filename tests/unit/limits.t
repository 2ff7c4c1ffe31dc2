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

"$CTLUA" --memory-limit 12x -e '' 2>/dev/null; is $? 2 "bad --memory-limit exits 2"
"$CTLUA" --handler-timeout -1 -e '' 2>/dev/null; is $? 2 "bad --handler-timeout exits 2"
done_testing
