#!/bin/bash
# --resync under churn: many short UDP flows (NEW, then DESTROY on expiry) into the
# smallest buffer that still grows, so overruns come and resyncs repair them while
# events keep coming. Events queued on the event socket before a dump must not be
# applied on top of it. The oracle: once traffic stops and every entry has expired
# (polling conntrack -L evicts them, so their DESTROY events come), the script's own
# live set, kept from new/destroy events alone, equals conntrack -L. Three runs.
# RUNS=N, FLOWS=N (per generator), WAIT=S (bound on convergence) override the
# defaults for manual measurements.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
short_timeouts
RUNS=${RUNS:-3}
FLOWS=${FLOWS:-100000}
WAIT=${WAIT:-60}

cat > "$T_TMP/live.lua" <<'LUA'
-- The live set from events; written out (sorted ids) whenever it changed.
local out = ...
local live, n, changed = {}, 0, true
local max = 0
ct.on("new", function(ev)
  if not live[ev.id] then live[ev.id] = true; n = n + 1; changed = true end
  if n > max then max = n end
end)
ct.on("destroy", function(ev)
  if live[ev.id] then live[ev.id] = nil; n = n - 1; changed = true end
end)
ct.every(0.25, function()
  if not changed then return end
  changed = false
  local ids = {}
  for id in pairs(live) do ids[#ids + 1] = id end
  table.sort(ids)
  local f = assert(io.open(out .. ".tmp", "w"))
  for _, id in ipairs(ids) do f:write(id, "\n") end
  f:close()
  assert(os.rename(out .. ".tmp", out))
end)
ct.on("stop", function()
  local s = ct.stats()
  print(n, max, s.overruns, s.resync.runs, s.resync.new, s.resync.destroy)
end)
LUA

kernel_ids() {
	conntrack -L -o id 2>/dev/null | sed -n 's/.*id=\([0-9]*\).*/\1/p' | sort -n
}
# converged PID VIEW — its socket is drained and its view equals the (evicting) table.
converged() {
	kernel_ids > "$T_TMP/kernel.txt"
	nl_drained "$1" || return 1
	[ -f "$2" ] || return 1
	cmp -s "$2" "$T_TMP/kernel.txt"
}

for run in $(seq 1 "$RUNS"); do
	view=$T_TMP/view.$run
	rm -f "$view"
	bg "$T_TMP/out.$run" "$T_TMP/err.$run" "$CTLUA" --resync -b 64K "$T_TMP/live.lua" -- "$view"
	P=$BG_PID
	wait_until 10 nl_subscribed $P; ok $? "run $run: ctlua --resync subscribed"
	# Two generators on the two cores, distinct ports: many flows a second.
	"$TGEN" -n "$FLOWS" udp-oneway 127.0.0.1 7 > /dev/null &
	g1=$!
	"$TGEN" -n "$FLOWS" udp-oneway 127.0.0.1 8 > /dev/null &
	g2=$!
	wait $g1 $g2
	# Entries expire within seconds; the poll of conntrack -L evicts them.
	wait_until "$WAIT" converged $P "$view"
	ok $? "run $run: the script's live set equals conntrack -L once quiet"
	if [ -f "$view" ] && ! cmp -s "$view" "$T_TMP/kernel.txt"; then
		diag "run $run: view $(lines "$view") ids, kernel $(lines "$T_TMP/kernel.txt");" \
			"only in view: $(LC_ALL=C comm -23 <(LC_ALL=C sort "$view") <(LC_ALL=C sort "$T_TMP/kernel.txt") | wc -l)," \
			"only in kernel: $(LC_ALL=C comm -13 <(LC_ALL=C sort "$view") <(LC_ALL=C sort "$T_TMP/kernel.txt") | wc -l)"
	fi
	stop_pid $P; is "$STOP_RC" 0 "run $run: ctlua exits 0"
	read -r left max overruns runs rnew rdestroy < "$T_TMP/out.$run"
	note "run $run: left $left, peak $max, $overruns overruns, $runs resyncs (new $rnew, destroy $rdestroy)"
	[ "${overruns:-0}" -ge 1 ] && [ "${runs:-0}" -ge 1 ]
	ok $? "run $run: overruns (${overruns:-?}) led to resyncs (${runs:-?})"
	conntrack -F 2>/dev/null
done
done_testing
