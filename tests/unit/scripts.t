#!/bin/bash
# The example scripts against replayed recordings with a known answer (no root):
# a scan hidden in normal traffic, a flood, dangerous expectations, exact flow logs.
. "$(dirname "$0")/../lib/tap.sh"
D="$TOP/tests/data"; S="$TOP/scripts"

out=$("$CTLUA" --replay "$D/scan.txt" "$S/portscan.lua" 2>&1)
is "$(echo "$out" | grep -c 'WARN portscan:')" 1 "portscan: one alert in a minute of traffic"
like "$out" "WARN portscan: 10\.0\.0\.66 reached 21 ports on 1 hosts in 10 s" "portscan names the scanner when it passes 20 ports"
like "$out" "^2023-11-14T22:13:54\.200Z" "the alert carries the recorded time of the 21st port"
out=$("$CTLUA" --replay "$D/scan.txt" "$S/portscan.lua" -- --ports 30 2>&1)
is "$(echo "$out" | grep -c 'WARN portscan:')" 0 "portscan --ports 30: the 25-port scan stays below"
out=$("$CTLUA" --replay "$D/scan.txt" "$S/portscan.lua" -- --hosts 0 --ports 1000 2>&1)
is "$(echo "$out" | grep -c 'WARN portscan:')" 6 "portscan --hosts 0: every source with a destination alerts once"
out=$("$CTLUA" --replay "$D/scan.txt" -e 'ct.on("stop", function() print(ct.json(ct.stats().recorded)) end)' "$S/portscan.lua" -- --delete --hook "echo blocked" 2>&1)
like "$out" '"list":1' "portscan --delete looks up the scanner's entries (recorded in replay)"

out=$("$CTLUA" --replay "$D/flood.txt" "$S/rate-alert.lua" 2>&1)
is "$(echo "$out" | grep -c 'WARN flood:')" 1 "rate-alert: one alert"
like "$out" "WARN flood: 10\.0\.0\.9 opens 10[0-9]\.[0-9] connections/s \(over 5 s\)" "rate-alert names the flooder as it passes 100/s"
out=$("$CTLUA" --replay "$D/flood.txt" "$S/rate-alert.lua" -- --proto tcp 2>&1)
is "$(echo "$out" | grep -c 'WARN flood:')" 0 "rate-alert --proto tcp ignores the UDP flood"

out=$("$CTLUA" --replay "$D/expect.txt" "$S/expect-watch.lua" -- --allow-port 50000 --allow-port 5060 --helper ftp 2>&1)
is "$(echo "$out" | grep -c 'WARN expectation:')" 3 "expect-watch: three alerts"
like "$out" "wildcard source, anyone may connect to: 192\.0\.2\.10:5060 \(helper sip" "wildcard source of the sip expectation"
like "$out" "helper not allowed: 192\.0\.2\.10:5060" "sip is not an allowed helper"
like "$out" "destination port not allowed: 192\.0\.2\.21:2222" "port outside the allowed list"
is "$(echo "$out" | grep -c '\[NEW\] 300 proto=6')" 3 "every expectation is logged as conntrack prints it"
out=$("$CTLUA" --replay "$D/expect.txt" "$S/expect-watch.lua" -- --allow-host 192.0.2.0/24 --quiet 2>&1)
is "$(echo "$out" | grep -c 'WARN expectation:')" 1 "with allowed hosts only the wildcard alerts"

# flowlog: durations and counters exactly those of the DESTROY events.
"$CTLUA" --netlink-file "$D/ipv4.nl" "$S/log.lua" -- --json > "$T_TMP/rec.json"
"$CTLUA" --replay "$T_TMP/rec.json" "$S/flowlog.lua" -- --json > "$T_TMP/flows.json" 2>"$T_TMP/flows.err"
out=$(lua5.4 - "$T_TMP/rec.json" "$T_TMP/flows.json" <<'LUA'
local cjson = require "cjson"
local want = {}
for l in io.lines(arg[1]) do
  local e = cjson.decode(l)
  if e.event == "destroy" then want[#want + 1] = e end
end
local n, bad = 0, 0
for l in io.lines(arg[2]) do
  n = n + 1
  local f, e = cjson.decode(l), want[n]
  -- JSON numbers carry 14 significant digits: epoch times keep 0.1 ms.
  local ok = e and f.id == e.id and math.abs(f.duration - (e.stop - e.start)) < 1e-3
    and f.orig_packets == e.orig.packets and f.orig_bytes == e.orig.bytes
    and f.reply_packets == e.reply.packets and f.reply_bytes == e.reply.bytes
    and f.src == e.orig.src and f.dport == e.orig.dport
  if not ok then bad = bad + 1; print("# mismatch: " .. l) end
end
print(n, #want, bad)
LUA
)
is "$(echo "$out" | tail -1)" "5	5	0" "flowlog: one record per DESTROY, duration = stop - start, counters exact"
out=$("$CTLUA" --replay "$T_TMP/rec.json" "$S/flowlog.lua")
like "$out" "flow tcp 127\.0\.0\.1:43001 -> 127\.0\.0\.1:5555 duration=[0-9.]+s orig=6p/326B reply=4p/222B states=SYN_SENT,SYN_RECV,ESTABLISHED,FIN_WAIT,LAST_ACK,TIME_WAIT" \
	"flowlog text: counters each way and the state history"
out=$("$CTLUA" --replay "$D/scan.txt" "$S/flowlog.lua" 2>&1 >/dev/null)
is "$out" "" "no DESTROY, no warning"
printf '%s\n' "$(grep DESTROY "$D/userspace.conntrack" | head -1)" "[DESTROY] udp      17 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1" > "$T_TMP/plain.txt"
out=$("$CTLUA" --replay "$T_TMP/plain.txt" "$S/flowlog.lua" 2>&1)
is "$(echo "$out" | grep -c 'WARN flowlog: counters are off')" 1 "counters off: one warning, however many flows"

# Every script answers bad arguments as a usage error (exit 2, as the README says:
# issue 17 changed it from 1) in one line, no traceback; --help lists the options.
for s in portscan rate-alert expect-watch flowlog top cleanup-stale ipfix-export; do
	err=$("$CTLUA" "$S/$s.lua" -- --no-such-option 2>&1); rc=$?
	is "$rc" 2 "$s.lua: bad argument exits 2"
	like "$err" "unknown (argument|option) '--no-such-option'" "$s.lua: names the bad argument"
done
for s in portscan rate-alert expect-watch flowlog top ipfix-export; do
	like "$("$CTLUA" "$S/$s.lua" -- --help 2>/dev/null)" "^usage: ctlua scripts/$s\.lua" "$s.lua --help prints its usage"
done
err=$("$CTLUA" "$S/ipfix-export.lua" 2>&1); rc=$?
is "$rc" 2 "ipfix-export.lua without --collector exits 2"
like "$err" "--collector is required" "and says so"
# On a replayed recording (no kernel: the records go to a UDP port nobody reads),
# every DESTROY becomes one record.
out=$("$CTLUA" --replay "$D/ipv4.conntrack" "$S/ipfix-export.lua" -- --collector 127.0.0.1:9 2>&1)
like "$out" "ipfix-export: [0-9]+ records sent in [0-9]+ messages, [0-9]+ dropped" "ipfix-export.lua runs on a replay"
want=$(grep -c DESTROY "$D/ipv4.conntrack")
got=$(echo "$out" | sed -n 's/.*ipfix-export: \([0-9]*\) records sent in [0-9]* messages, \([0-9]*\) dropped.*/\1 \2/p' | awk '{ print $1 + $2 }')
is "$got" "$want" "one record per DESTROY ($want)"
done_testing
