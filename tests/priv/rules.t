#!/bin/bash
# Rules live: a real port scan detected once with the right source, ct.spawn output
# delivered while events keep flowing (top.lua in tmux: tests/priv/top.t).
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
short_timeouts

# Port scan: 40 ports probed among a little ordinary traffic.
bg "$T_TMP/scan.out" "$T_TMP/scan.err" "$CTLUA" "$TOP/scripts/portscan.lua" \
	-e 'local n = 0 ct.on("new", function() n = n + 1 io.stderr:write("seen ", n, "\n") end)' \
	-- --ports 20 --window 10
P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "portscan subscribed"
"$TGEN" tcp 127.0.0.1 8080 >/dev/null && "$TGEN" udp 127.0.0.1 5353 >/dev/null
"$TGEN" -n 40 connect 127.0.0.2 1000 > /dev/null; ok $? "scan of 40 ports made"
wait_until 20 grep -q 'WARN portscan:' "$T_TMP/scan.err"; ok $? "portscan alerted"
"$TGEN" -n 10 connect 127.0.0.2 2000 > /dev/null   # the scan goes on: no second alert
# 2 ordinary + 40 + 10 probes: wait until ctlua has seen all 52 NEW events.
wait_until 20 grep -q '^seen 52$' "$T_TMP/scan.err"; ok $? "all 52 NEW events seen"
stop_pid $P
is "$(grep -c 'WARN portscan:' "$T_TMP/scan.err")" 1 "one alert for the scan"
like "$(grep 'WARN portscan:' "$T_TMP/scan.err")" "portscan: 127\.0\.0\.1 reached 21 ports on 2 hosts" "the alert names the scanning source"

# ct.spawn: the command's output reaches its callback while events keep flowing.
bg "$T_TMP/sp.out" "$T_TMP/sp.err" "$CTLUA" -e '
	local during, started = 0, false
	ct.on("new", function()
		if not started then
			started = true
			ct.spawn({"sh", "-c", "read x; echo got $x; echo oops >&2; exit 7"}, {stdin = "hello\n"},
				function(code, out, err) print("exit", code, out:gsub("\n", ""), err:gsub("\n", ""), during) ct.stop() end)
			ct.spawn({"sh", "-c", "echo spawned > '"$T_TMP"'/spawned"})
		else
			during = during + 1
		end
	end)'
P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "spawn script subscribed"
"$TGEN" udp 127.0.0.1 6000 >/dev/null; ok $? "first event starts the command"
wait_until 10 test -s "$T_TMP/spawned"; ok $? "a second command ran"
# The shell waits on its stdin: the loop keeps delivering meanwhile.
wait_until 20 grep -q '^exit' "$T_TMP/sp.out"
wait $P; is $? 0 "ctlua stopped from the spawn callback"
like "$(cat "$T_TMP/sp.out")" "^exit	7	got hello	oops	[0-9]+$" "exit code, stdout (from stdin text) and stderr reach the callback"

bg "$T_TMP/sp2.out" "$T_TMP/sp2.err" "$CTLUA" -e '
	local n = 0
	ct.spawn({"sh", "-c", "while [ ! -e '"$T_TMP"'/go ]; do sleep 0.05; done; echo released"},
		function(code, out) print("events while it ran:", n, out) ct.stop() end)
	ct.on("new", {proto = "udp"}, function() n = n + 1
		if n == 3 then io.open("'"$T_TMP"'/go", "w"):close() end end)'
P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "long command started"
"$TGEN" -n 3 udp-oneway 127.0.0.1 7000 47000 > /dev/null
wait_until 20 grep -q 'released' "$T_TMP/sp2.out"; ok $? "the command finished after events were handled"
wait $P
like "$(cat "$T_TMP/sp2.out")" "^events while it ran:	3	released" "three events handled while the command ran"

done_testing
