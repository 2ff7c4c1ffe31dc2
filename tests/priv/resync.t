#!/bin/bash
# Lost events, repaired two ways: --resync (dump and diff after an overrun, deliver
# the difference as ev.resync events) and --reliable (the kernel resends DESTROY
# events that did not fit). Forced overruns: the smallest buffer, slow handlers,
# bursts of entries. The oracle is the kernel table (conntrack -L) and conntrack -D's
# own count.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
# Entries must outlive the test: the table at the end is the oracle.
echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout

cat > "$T_TMP/view.lua" <<'LUA'
-- Keeps the set of live entry ids from events; on the marker flow (dport 9) writes
-- it out, once no resync is due, so the file is the script's converged view.
local out = ...
local live, received, synthetic = {}, 0, 0
local due, want = false, false
local function slow() local t = os.clock() repeat until os.clock() - t > 0.001 end
local function write()
  local ids = {}
  for id in pairs(live) do ids[#ids + 1] = id end
  table.sort(ids)
  local f = assert(io.open(out .. ".tmp", "w"))
  for _, id in ipairs(ids) do f:write(id, "\n") end
  f:close()
  assert(os.rename(out .. ".tmp", out))
  want = false
end
ct.on("new", function(ev)
  live[ev.id] = true
  if ev.resync then synthetic = synthetic + 1 else received = received + 1 end
  slow()
  if ev.orig.dport == 9 then
    want = true
    if not due then write() end
  end
end)
ct.on("destroy", function(ev)
  live[ev.id] = nil
  if ev.resync then synthetic = synthetic + 1 else received = received + 1 end
  slow()
end)
ct.on("overrun", function() due = true end)
ct.on("resync", function(r)
  due = false
  io.stderr:write(string.format("resync new=%d destroy=%d tracked=%d\n", r.new, r.destroy, r.tracked))
  if want then write() end
end)
ct.on("stop", function()
  local s = ct.stats()
  print(received, synthetic, s.overruns, s.resync.runs)
end)
LUA

bg "$T_TMP/rs.out" "$T_TMP/rs.err" "$CTLUA" --resync -b 1 "$T_TMP/view.lua" -- "$T_TMP/view.txt"
RS=$BG_PID
wait_until 10 nl_subscribed $RS; ok $? "ctlua --resync subscribed"
"$TGEN" -n 600 udp-oneway 127.0.0.1 7 40000 > /dev/null
deleted=$(conntrack -D -p udp --dport 7 2>&1 | sed -n 's/.* \([0-9]*\) flow entries have been deleted.*/\1/p')
is "$deleted" 600 "burst 1: 600 entries made and deleted"
"$TGEN" -n 600 udp-oneway 127.0.0.1 8 41000 > /dev/null
"$TGEN" udp-oneway 127.0.0.1 9 50000 > /dev/null
wait_until 60 test -f "$T_TMP/view.txt"; ok $? "the script wrote its view after the marker"
conntrack -L -o id 2>/dev/null | sed -n 's/.*id=\([0-9]*\).*/\1/p' | sort -n > "$T_TMP/kernel.txt"
is "$(lines "$T_TMP/kernel.txt")" 601 "the kernel holds burst 2 and the marker"
sort -n "$T_TMP/view.txt" > "$T_TMP/view.sorted"
same_file "$T_TMP/view.sorted" "$T_TMP/kernel.txt" "after resync the script's live set equals conntrack -L"
stop_pid $RS; is "$STOP_RC" 0 "ctlua --resync exits 0"
read -r received synthetic overruns runs < "$T_TMP/rs.out"
note "received $received events, $synthetic synthetic, $overruns overruns, $runs resyncs"
[ "${received:-1801}" -lt 1801 ]; ok $? "events were lost ($received of 1801 received)"
[ "${overruns:-0}" -ge 1 ] && [ "${runs:-0}" -ge 1 ]; ok $? "overruns ($overruns) led to resyncs ($runs)"
[ "${synthetic:-0}" -gt 0 ]; ok $? "resync delivered the difference as ev.resync events ($synthetic)"
like "$(cat "$T_TMP/rs.err")" "^resync new=[0-9]+ destroy=[0-9]+ tracked=[0-9]+" "resync handlers get the counts"

conntrack -F 2>/dev/null

# --reliable: a destroy-only script, too slow for a flush of 600 entries. Without
# it, DESTROY events are lost; with it, every one arrives, once.
cat > "$T_TMP/destroys.lua" <<'LUA'
local want, out = tonumber((...)), select(2, ...)
local n = 0
ct.on("destroy", function()
  n = n + 1
  local t = os.clock() repeat until os.clock() - t > 0.001
  if n == want then io.open(out, "w"):close() end
end)
ct.on("stop", function() print(n, ct.stats().overruns) end)
LUA
for mode in plain reliable; do
	opt=; [ $mode = reliable ] && opt=--reliable
	bg "$T_TMP/$mode.out" "$T_TMP/$mode.err" "$CTLUA" $opt -b 1 "$T_TMP/destroys.lua" -- 600 "$T_TMP/$mode.done"
	P=$BG_PID
	wait_until 10 nl_subscribed $P; ok $? "$mode: ctlua subscribed"
	"$TGEN" -n 600 udp-oneway 127.0.0.1 10 42000 > /dev/null
	deleted=$(conntrack -D -p udp --dport 10 2>&1 | sed -n 's/.* \([0-9]*\) flow entries have been deleted.*/\1/p')
	is "$deleted" 600 "$mode: 600 entries made and deleted"
	if [ $mode = reliable ]; then
		wait_until 60 test -f "$T_TMP/$mode.done"; ok $? "reliable: all 600 DESTROY events arrived"
	else
		wait_until 20 nl_drained $P
	fi
	wait_until 20 nl_drained $P
	stop_pid $P; is "$STOP_RC" 0 "$mode: ctlua exits 0"
	read -r n ov < "$T_TMP/$mode.out"
	note "$mode: $n destroy events, $ov overruns reported"
	eval "${mode}_n=\${n:-0} ${mode}_ov=\${ov:-0}"
done
[ "$plain_n" -lt 600 ] && [ "$plain_ov" -ge 1 ]; ok $? "without --reliable DESTROY events are lost ($plain_n of 600, $plain_ov overruns)"
is "$reliable_n" 600 "with --reliable the count of DESTROY events equals the entries destroyed"
is "$reliable_ov" 0 "--reliable reports no overruns (the kernel repairs them)"
done_testing
