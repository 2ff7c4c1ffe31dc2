#!/bin/bash
# --replay: recorded conntrack -E text and ctlua JSON lines into scripts, without
# root, on the recorded clock; table operations recorded, not sent.
. "$(dirname "$0")/../lib/tap.sh"
D="$TOP/tests/data"
# Unprivileged even when the suite runs as root.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T_TMP"
	AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
else
	AS_USER=""
fi
FMT='local ts = ... == "ts"
for _, n in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
	ct.on(n, function(e) print(ct.format(e, { timestamp = ts })) end)
end'

# ct.format of every replayed conntrack -E line reproduces it byte for byte.
for f in ipv4.conntrack ipv4.expect ipv6.conntrack ipv6.expect userspace.conntrack; do
	$AS_USER "$CTLUA" --replay "$D/$f" -e "$FMT" > "$T_TMP/out" 2> "$T_TMP/err"
	is $? 0 "replay of $f exits 0"
	same_file "$T_TMP/out" "$D/$f" "ct.format reproduces every line of $f"
done
$AS_USER "$CTLUA" --replay "$D/userspace-ts.conntrack" -e "$FMT" -- ts > "$T_TMP/out"
same_file "$T_TMP/out" "$D/userspace-ts.conntrack" "-o timestamp lines round-trip, [USERSPACE] and all"
cat "$D/ipv6.conntrack" | $AS_USER "$CTLUA" --replay - -e "$FMT" > "$T_TMP/out"
same_file "$T_TMP/out" "$D/ipv6.conntrack" "--replay - reads stdin"

# JSON lines: record (log.lua --json) -> replay -> record is identical.
"$CTLUA" --netlink-file "$D/ipv6.nl" "$TOP/scripts/log.lua" -- --json > "$T_TMP/a.json"
$AS_USER "$CTLUA" --replay "$T_TMP/a.json" "$TOP/scripts/log.lua" -- --json > "$T_TMP/b.json"
[ -s "$T_TMP/a.json" ]; ok $? "recorded $(lines "$T_TMP/a.json") JSON events"
# Same objects line by line (lua-cjson does not order keys, so compare decoded).
out=$(lua5.4 - "$T_TMP/a.json" "$T_TMP/b.json" "$TOP/tests/lib/?.lua" <<'LUA'
package.path = arg[3] .. ";" .. package.path
local cjson, eq = require "cjson", require("tap").deep_eq
local fa, fb = io.lines(arg[1]), io.lines(arg[2])
local n, bad = 0, 0
for la in fa do
	local lb = fb()
	n = n + 1
	if not lb or not eq(cjson.decode(la), cjson.decode(lb)) then bad = bad + 1 end
end
if fb() then bad = bad + 1 end
print(n, bad)
LUA
)
is "$out" "$(lines "$T_TMP/a.json")	0" "JSON record -> replay -> record gives the same events, every field"

# Virtual clock: one event a second for an hour; a 10 s timer fires at the same
# event positions as live, and the hour takes no hour.
lua5.4 -e 'for i = 0, 3599 do
	io.write(string.format("[%d.000000]\t    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=%d dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=%d\n",
		1700000000 + i, 1024 + i, 1024 + i)) end' > "$T_TMP/hour.txt"
out=$($AS_USER "$CTLUA" --replay "$T_TMP/hour.txt" -e '
	local n, ticks, bad, first = 0, 0, 0, nil
	ct.every(10, function()
		ticks = ticks + 1
		-- the k-th tick is due at first + 10k and has seen the events before it
		if ct.now() ~= first + 10 * ticks or n ~= 10 * ticks then bad = bad + 1 end
	end)
	ct.on("new", function(e)
		first = first or e.time
		if ct.now() ~= e.time then bad = bad + 1 end
		n = n + 1
	end)
	ct.on("stop", function() print(n, ticks, bad) end)')
is "$out" "3600	359	0" "every(10) over an hour of events: 359 ticks, each at its recorded time after exactly the earlier events; ct.now() is the event time"
out=$($AS_USER "$CTLUA" --replay "$T_TMP/hour.txt" -e '
	local fired = {}
	ct.after(30, function() fired[#fired + 1] = "after30@" .. math.floor(ct.now() - 1700000000) end)
	local t = ct.every(100, function(t) fired[#fired + 1] = "every100@" .. math.floor(ct.now() - 1700000000)
		if #fired >= 3 then t:stop() end end)
	ct.on("stop", function() print(table.concat(fired, " ")) end)')
is "$out" "after30@30 every100@100 every100@200" "timers armed at load start from the first recorded time; stop() works"

# Table operations are recorded, not sent; stats count them.
out=$($AS_USER "$CTLUA" --replay "$D/ipv4.conntrack" -e '
	ct.on("destroy", function(e) assert(ct.delete(e)) end)
	ct.on("new", {proto = "udp"}, function(e) assert(ct.update(e, {mark = 1})) end)
	ct.on("stop", function() local s = ct.stats()
		print(s.recorded.delete, s.recorded.update, s.events.new, s.events.destroy, s.commands) end)')
is "$out" "5	1	5	5	0" "delete/update during replay are recorded (5, 1), nothing sent"

# Lines that are not events are counted and named, the rest goes on.
printf '%s\n' "garbage here" "$(head -1 "$D/ipv4.conntrack")" "conntrack v1.4.7 (conntrack-tools): 1 flow events have been shown." > "$T_TMP/mixed.txt"
out=$($AS_USER "$CTLUA" --replay "$T_TMP/mixed.txt" -e 'ct.on("stop", function() local s = ct.stats() print(s.events.new, s.skipped_lines) end)' 2>"$T_TMP/err")
is "$out" "1	1" "a bad line is skipped and counted; conntrack's summary line is ignored"
like "$(cat "$T_TMP/err")" "warning: .*mixed\.txt:1: not an event" "a bad line is warned about with file:line"
err=$($AS_USER "$CTLUA" --strict --replay "$T_TMP/mixed.txt" -e 'ct.on("new", print)' 2>&1); is $? 1 "--strict: a bad line exits 1"
like "$err" "^ctlua: .*mixed\.txt:1: not an event" "--strict names file:line"
# JSON lines that are not replayable events are skipped and counted like bad text
# lines: unknown kinds, control events (stop/reload/overrun/resync never replay),
# times that are not finite numbers. The stop handlers run once, at the end.
GOOD='{"event":"new","time":1700000000.5,"family":"ipv4","proto":"udp","protonum":17,"orig":{"src":"10.0.0.1","dst":"10.0.0.2","sport":1,"dport":53},"reply":{"src":"10.0.0.2","dst":"10.0.0.1","sport":53,"dport":1}}'
printf '%s\n' "$GOOD" '{"event":"bogus"}' '{"event":"new","time":"abc"}' '{"event":"stop"}' \
	'{"event":"reload"}' '{"event":"overrun"}' '{"event":"resync"}' '{"event":"new","time":Infinity}' \
	'{"event":"update","time":NaN}' '{"event":5}' '{"time":1700000001}' "$GOOD" > "$T_TMP/bad.json"
out=$($AS_USER "$CTLUA" --replay "$T_TMP/bad.json" -e '
	ct.every(1, function() end)
	local n, calls = 0, {}
	ct.on("new", function() n = n + 1 end)
	for _, k in ipairs { "reload", "overrun", "resync" } do
		ct.on(k, function() calls[#calls + 1] = k end)
	end
	ct.on("stop", function() local s = ct.stats()
		print(n, s.skipped_lines, #calls, s.events.new or 0) end)' 2>"$T_TMP/err"); rc=$?
is "$rc" 0 "JSON replay with bad lines in it exits 0"
is "$out" "2	10	0	2" "both good events delivered, 10 bad lines skipped and counted, no control handler called, stop handlers once"
is "$(grep -c 'warning: .*bad\.json:[0-9]*: not an event' "$T_TMP/err")" 10 "each bad JSON line is warned about with file:line"
like "$(cat "$T_TMP/err")" "bad\.json:2: not an event \(unknown event kind 'bogus'\)" "an unknown kind is named"
like "$(cat "$T_TMP/err")" "bad\.json:3: not an event \(bad time\)" "a non-numeric time is named"
like "$(cat "$T_TMP/err")" "bad\.json:4: not an event \(unknown event kind 'stop'\)" "a recorded stop is not an event"
for l in '{"event":"bogus"}' '{"event":"new","time":"abc"}' '{"event":"stop"}'; do
	printf '%s\n' "$GOOD" "$l" > "$T_TMP/one.json"
	err=$($AS_USER "$CTLUA" --strict --replay "$T_TMP/one.json" -e 'ct.on("new", function() end)' 2>&1)
	is "$?" 1 "--strict: $l exits 1"
	like "$err" "^ctlua: .*one\.json:2: not an event" "--strict: $l named with file:line"
done
$AS_USER "$CTLUA" --replay "$T_TMP/missing.txt" -e 'ct.on("new", print)' 2>/dev/null; is $? 3 "a missing replay file exits 3"
done_testing
