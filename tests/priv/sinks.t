#!/bin/bash
# Sinks: JSON lines to a file read back by jq, syslog datagrams to a unix socket
# listener (as /dev/log would get them), and a TCP collector that goes away and
# comes back: ctlua queues up to its bound, counts what it drops, reconnects, and
# event delivery never waits.
. "$(dirname "$0")/../lib/tap.sh"
need_root
for t in socat jq curl; do command -v $t > /dev/null || skip_all "$t missing (make deps)"; done
in_netns "$@"

# 1. The default script's --json --to file: one JSON object per event, read by jq.
bg "$T_TMP/log.out" "$T_TMP/log.err" "$CTLUA" -- --json --to "file:$T_TMP/events.json"; P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "log.lua --to file subscribed"
for p in 6001 6002 6003; do "$TGEN" udp-oneway 127.0.0.1 $p 41000 > /dev/null; done
news() { [ "$(jq -r 'select(.event == "new") | .orig.dport' "$T_TMP/events.json" 2>/dev/null | wc -l)" -ge 3 ]; }
wait_until 20 news; ok $? "three NEW events in the file"
is "$(jq -r 'select(.event == "new") | "\(.proto) \(.orig.src) \(.orig.dport)"' "$T_TMP/events.json" | tr '\n' ,)" \
	"udp 127.0.0.1 6001,udp 127.0.0.1 6002,udp 127.0.0.1 6003," "jq reads each line: proto, address, port"
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"
is "$(cat "$T_TMP/log.out")" "" "nothing went to stdout"

# 2. --to syslog:PATH: RFC 3164 datagrams, as syslog(3) writes to /dev/log.
bg "$T_TMP/syslog.txt" /dev/null socat -u UNIX-RECV:"$T_TMP/log.sock" STDOUT; S=$BG_PID
wait_until 10 test -S "$T_TMP/log.sock"; ok $? "a unix datagram listener"
bg "$T_TMP/sl.out" "$T_TMP/sl.err" "$CTLUA" -- --to "syslog:$T_TMP/log.sock"; P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "log.lua --to syslog subscribed"
"$TGEN" udp-oneway 127.0.0.1 6010 41000 > /dev/null
got_syslog() { grep -q 'dport=6010' "$T_TMP/syslog.txt"; }
wait_until 20 got_syslog; ok $? "the event reached the listener"
like "$(cat "$T_TMP/syslog.txt")" "^<30>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} ctlua\[$P\]:     \[NEW\] udp      17 30 src=127\.0\.0\.1 dst=127\.0\.0\.1 sport=41000 dport=6010" \
	"<daemon.info>TIMESTAMP ctlua[PID]: then the conntrack -E line"
stop_pid $P; kill $S 2>/dev/null

# 3. A TCP collector restarting. Each JSON line is ~500 bytes, the queue 2000.
cat > "$T_TMP/tcp.lua" <<'LUA'
local s = ct.sink { to = "tcp", address = "127.0.0.1:5140", format = "json", max_queue = 2000 }
ct.on("new", { proto = "udp" }, function(ev) s:write(ev) end)
LUA
collector() { bg "$1" /dev/null socat -u TCP-LISTEN:5140,reuseaddr OPEN:/dev/stdout; C=$BG_PID; }
collector "$T_TMP/c1.txt"
wait_until 10 listening tcp 5140; ok $? "collector 1 listens"
bg "$T_TMP/tcp.out" "$T_TMP/tcp.err" "$CTLUA" --metrics 9478 "$T_TMP/tcp.lua"; P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "ctlua with a TCP sink subscribed"
metric() { scrape 9478 | sed -n "s/^$1 //p"; }
SINK='{sink="tcp:127.0.0.1:5140"}'
connected() { [ "$(metric "ctlua_sink_connected$SINK")" = "$1" ]; }
wait_until 10 connected 1; ok $? "the sink connected"
for p in $(seq 7001 7005); do "$TGEN" udp-oneway 127.0.0.1 $p 42000 > /dev/null; done
wait_until 20 has_lines "$T_TMP/c1.txt" 5; ok $? "5 lines reached collector 1"

kill $C; wait $C 2>/dev/null
wait_until 20 connected 0; ok $? "ctlua noticed the collector went away"
for p in $(seq 7101 7120); do "$TGEN" udp-oneway 127.0.0.1 $p 42000 > /dev/null; done
news25() { [ "$(metric 'ctlua_events_total{event="new"}')" = 25 ]; }
wait_until 20 news25; ok $? "events kept flowing while the collector was down (25 NEW)"
dropped=$(metric "ctlua_sink_dropped_total$SINK"); queued=$(metric "ctlua_sink_queued_bytes$SINK")
note "while down: $dropped dropped, $queued bytes queued"
[ "${dropped:-0}" -gt 0 ] && [ "${queued:-0}" -gt 0 ] && [ "${queued:-0}" -le 2000 ]
ok $? "past the 2000-byte queue lines were dropped and counted ($dropped)"

collector "$T_TMP/c2.txt"
wait_until 20 connected 1; ok $? "ctlua reconnected to collector 2"
want=$((20 - dropped))
wait_until 20 has_lines "$T_TMP/c2.txt" $want; ok $? "the $want queued lines were delivered"
for p in $(seq 7201 7205); do "$TGEN" udp-oneway 127.0.0.1 $p 42000 > /dev/null; done
wait_until 20 has_lines "$T_TMP/c2.txt" $((want + 5)); ok $? "new lines follow"
[ "$(metric "ctlua_sink_reconnects_total$SINK")" -ge 1 ]; ok $? "reconnects counted"
ports=$(cat "$T_TMP/c1.txt" "$T_TMP/c2.txt" | jq -r '.orig.dport' | sort -u | wc -l)
is "$((ports + dropped))" 30 "every event was delivered once or counted as dropped ($ports + $dropped)"
is "$(head -n $want "$T_TMP/c2.txt" | jq -r .orig.dport | tr '\n' ' ')" "$(seq 7101 $((7100 + want)) | tr '\n' ' ')" \
	"the queue kept the oldest lines, in order"
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"
kill $C 2>/dev/null

out=$("$CTLUA" -e 'ct.sink{to = "carrier-pigeon"}' 2>&1); is $? 1 "an unknown sink raises"
like "$out" "bad argument #1 to 'sink' \(to:" "naming the argument"
out=$("$CTLUA" -- --to bogus:x 2>&1); like "$out" "log.lua: bad sink 'bogus:x'" "log.lua --to checks its argument"
done_testing
