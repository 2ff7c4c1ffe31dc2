#!/bin/bash
# Stream sinks under faults, with real conntrack events flowing: a TCP collector
# that resets connections, stops reading, closes them and restarts, in a loop; a
# unix collector doing the same. ctlua must live, and its own counters must add
# up: offered = sent + dropped + pending, and what the collector received is
# what ctlua counted as sent (TCP: acknowledged; unix: at least that). Then a
# collector that never reads: max_queue bounds ctlua's memory.
. "$(dirname "$0")/../lib/tap.sh"
need_root
command -v perl > /dev/null || skip_all "perl missing (make deps)"
in_netns "$@"
nft add chain inet ctlua_test block '{ type filter hook output priority -10; }'
COLLECTOR="$TOP/tests/lib/collector.pl"

cat > "$T_TMP/sink.lua" <<'LUA'
local kind, addr, path = os.getenv("KIND"), os.getenv("ADDR"), os.getenv("STATS")
local s = assert(ct.sink { to = kind, address = addr, path = addr, format = "json", max_queue = 64 * 1024 })
local written = 0
ct.on("new", { proto = "udp" }, function(ev) written = written + 1; s:write(ev) end)
ct.every(0.1, function()
  local t = s:stats()
  local f = io.open(path .. ".tmp", "w")
  f:write(string.format("%d %d %d %d %d %d\n", written, t.offered, t.sent, t.dropped, t.pending, t.reconnects))
  f:close()
  os.rename(path .. ".tmp", path)
end)
LUA

# traffic STOPFILE SPORT — distinct UDP flows until STOPFILE exists (NEW events).
traffic() {
	local port=10000
	while [ ! -e "$1" ]; do
		"$TGEN" -n 20 udp-oneway 127.0.0.1 $port "$2" > /dev/null
		port=$((port + 1))
	done
}
stat_field() { awk -v f="$2" '{ print $f }' "$1" 2>/dev/null; }
# settled STATS OUT — ctlua counted every write, nothing is pending, the collector has all it sent.
settled() {
	read -r w off sent dropped pending rec < "$1" || return 1
	[ "$w" = "$off" ] && [ "$pending" = 0 ] && [ "$(lines "$2")" -ge "$sent" ]
}

# faults KIND ADDR LABEL CYCLES SPORT
faults() {
	local kind=$1 addr=$2 label=$3 cycles=$4 sport=$5 out="$T_TMP/$3.lines" st="$T_TMP/$3.stats"
	bg /dev/null "$T_TMP/$label.cerr" perl "$COLLECTOR" "$kind:$addr" "$out" "$cycles"; local C=$BG_PID
	if [ "$kind" = tcp ]; then wait_until 10 listening tcp "$addr"; else wait_until 10 test -S "$addr"; fi
	ok $? "$label: collector listens"
	local to=$addr; [ "$kind" = tcp ] && to=127.0.0.1:$addr
	KIND=$kind ADDR=$to STATS=$st bg "$T_TMP/$label.out" "$T_TMP/$label.err" "$CTLUA" "$T_TMP/sink.lua"; local P=$BG_PID
	wait_until 10 nl_subscribed $P; ok $? "$label: ctlua subscribed"
	traffic "$T_TMP/$label.stop" "$sport" & local G=$!
	T_PIDS="$T_PIDS $G"
	wait_until 120 test -e "$out.done"; ok $? "$label: the collector went through its $cycles faults"
	touch "$T_TMP/$label.stop"; wait $G
	kill -0 $P 2>/dev/null; ok $? "$label: ctlua is alive after them"
	wait_until 60 settled "$st" "$out"; ok $? "$label: every line sent or dropped, the collector has what was sent"
	read -r w off sent dropped pending rec < "$st"
	local got; got=$(lines "$out")
	note "$label: written $w, offered $off, sent $sent, dropped $dropped, pending $pending, reconnects $rec, received $got"
	[ "$w" -gt 0 ] && [ "$dropped" -gt 0 ] && [ "$rec" -ge $((cycles / 2)) ]
	ok $? "$label: the faults showed: lines dropped ($dropped), reconnects ($rec)"
	is "$off" "$((sent + dropped + pending))" "$label: offered $off = sent $sent + dropped $dropped + pending $pending"
	if [ "$kind" = tcp ]; then
		is "$got" "$sent" "$label: the collector received exactly the lines ctlua counted as sent"
	else
		[ "$got" -ge "$sent" ] && [ "$got" -le "$off" ]
		ok $? "$label: the collector received no fewer lines than sent ($got >= $sent), none lost uncounted"
	fi
	dups=$(jq -r '[.orig.sport, .orig.dport] | @tsv' "$out" | sort | uniq -d | wc -l)
	is "$dups" 0 "$label: no line arrived twice"
	stop_pid $P; is "$STOP_RC" 0 "$label: ctlua exits 0"
	kill $C 2>/dev/null; wait $C 2>/dev/null
}

command -v jq > /dev/null || skip_all "jq missing (make deps)"
faults tcp 5141 tcp 8 20000
faults unix "$T_TMP/collector.sock" unix 8 40000

# A collector that accepts and never reads; 2-byte lines, max_queue 1 MiB.
cat > "$T_TMP/mem.lua" <<'LUA'
local s = ct.sink { to = "tcp", address = "127.0.0.1:5142", max_queue = 1 << 20 }
local function rss()
  local f = io.open("/proc/self/status"); local t = f:read("a"); f:close()
  return tonumber(t:match("VmRSS:%s*(%d+)")) * 1024
end
local rounds, base = 0, nil
ct.every(0.05, function()
  if not s:stats().connected then return end
  base = base or rss()
  for _ = 1, 50000 do s:write("x") end
  rounds = rounds + 1
  if rounds == 80 then
    collectgarbage()
    local t = s:stats()
    print(string.format("%d %d %d %d %d %d", base, rss(), t.queued, t.offered, t.sent + t.dropped + t.pending, t.dropped))
    ct.stop()
  end
end)
LUA
perl -MIO::Socket::INET -e '$l = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1:5142", ReuseAddr => 1) or die; $c = $l->accept; sleep 600' &
M=$!; T_PIDS="$T_PIDS $M"
wait_until 10 listening tcp 5142; ok $? "a collector that never reads listens"
# (Under ASan: a small quarantine, which otherwise keeps freed Lua strings resident on purpose.)
read -r base rss queued off sum dropped <<< "$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1" \
	timeout 300 "$CTLUA" "$T_TMP/mem.lua" 2> "$T_TMP/mem.err")"
note "RSS before the flood $((base / 1024)) kB, after $((rss / 1024)) kB; queued $queued bytes; $off offered, $dropped dropped"
[ "${queued:-0}" -gt $((1 << 19)) ] && [ "${queued:-0}" -le $((1 << 20)) ]; ok $? "the queue filled up to max_queue ($queued bytes)"
is "$sum" "$off" "sent + dropped + pending = offered ($off)"
[ $((rss - base)) -lt $((3 << 20)) ]; ok $? "RSS grew by less than 3 x max_queue ($(( (rss - base) / 1024 )) kB)"
kill $M 2>/dev/null
done_testing
