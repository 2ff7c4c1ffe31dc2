#!/bin/bash
# IPFIX export to a real collector: nfdump's nfcapd receives what
# scripts/ipfix-export.lua sends for real TCP, UDP and IPv6 flows and one flow
# NATed by an nft snat rule across a veth pair (counters and kernel timestamps
# on); nfdump reads back the same flows, field by field against conntrack -L and
# the events' timestamps. Then the datagrams themselves are decoded (template
# refresh, sequence numbers, MTU), and a collector that is down costs drops only.
. "$(dirname "$0")/../lib/tap.sh"
need_root
for t in nfcapd nfdump socat; do command -v $t > /dev/null || skip_all "$t missing (make deps)"; done
in_netns "$@"
echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp
export TZ=UTC

# A peer namespace behind a veth pair, with a UDP echo server; our side SNATs
# 10.99.0.1 -> 10.99.0.3 on the way there.
PEER=ctlua-t$$-peer
trap 'ip netns del $PEER 2>/dev/null; cleanup' EXIT
ip netns add $PEER && ip link add veth-a type veth peer name veth-b netns $PEER &&
	ip addr add 10.99.0.1/24 dev veth-a && ip addr add 10.99.0.3/24 dev veth-a && ip link set veth-a up &&
	ip -n $PEER addr add 10.99.0.2/24 dev veth-b && ip -n $PEER link set veth-b up && ip -n $PEER link set lo up
ok $? "veth pair to $PEER"
nft -f - <<'NFT'
table ip ctlua_nat {
	chain post {
		type nat hook postrouting priority 100;
		ip daddr 10.99.0.2 udp dport 8080 snat to 10.99.0.3
	}
}
NFT
ok $? "snat rule"
bg "$T_TMP/echo.out" "$T_TMP/echo.err" ip netns exec $PEER socat UDP4-RECVFROM:8080,fork SYSTEM:cat

mkdir -p "$T_TMP/flows"
bg "$T_TMP/nfcapd.out" "$T_TMP/nfcapd.err" nfcapd -w "$T_TMP/flows" -p 4739 -b 127.0.0.1 -t 3600; NFCAPD=$BG_PID
wait_until 10 listening udp 4739; ok $? "nfcapd listens on 127.0.0.1:4739"
# The export under test, and beside it the event times, for the comparison.
export TIMES=$T_TMP/times.txt
bg "$T_TMP/x.out" "$T_TMP/x.err" "$CTLUA" "$TOP/scripts/ipfix-export.lua" -e '
	local f = assert(io.open(os.getenv("TIMES"), "w"))
	f:setvbuf("line")
	ct.on("destroy", function(ev)
		-- Rounded to the millisecond as the exporter does, carry included
		-- (x.9996 s is x+1.000, not x.000).
		local function t(s)
			local ms = math.floor(s * 1000 + 0.5)
			return os.date("!%Y-%m-%d %H:%M:%S", ms // 1000) .. string.format(".%03d", ms % 1000)
		end
		f:write(ev.orig.sport or 0, " ", t(ev.start), " ", t(ev.stop), "\n")
	end)' -- --collector 127.0.0.1:4739
X=$BG_PID
wait_until 10 nl_subscribed $X; ok $? "ipfix-export.lua subscribed"

{
	"$TGEN" tcp 127.0.0.1 5555 44001
	"$TGEN" tcp ::1 5556 44002
	"$TGEN" udp 127.0.0.1 5353 44003
} > /dev/null; ok $? "TCP, IPv6 TCP and UDP flows"
echo hello | socat -t 2 - UDP4:10.99.0.2:8080,sourceport=45000 > "$T_TMP/echoed.txt"
is "$(cat "$T_TMP/echoed.txt")" "hello" "a UDP flow through the snat rule, echoed back"
conntrack -L 2> /dev/null > "$T_TMP/table.txt"
is "$(wc -l < "$T_TMP/table.txt")" 4 "four entries in the table"
conntrack -F 2> /dev/null
wait_until 20 has_lines "$T_TMP/times.txt" 4; ok $? "four DESTROY events"
stop_pid $X; is "$STOP_RC" 0 "ctlua exits 0 (pending records sent)"
like "$(cat "$T_TMP/x.err")" "ipfix-export: 4 records sent in [0-9]+ messages, 0 dropped" "the script counts 4 records sent"
stop_pid $NFCAPD
like "$(cat "$T_TMP/nfcapd.out" "$T_TMP/nfcapd.err")" "Flows: 4, .*Sequence Errors: 0, Bad Packets: 0" "nfcapd: 4 flows, no sequence errors, no bad packets"

# What conntrack -L said, in nfdump's terms: proto, addresses and ports, packets
# and bytes each way, and the post-NAT source/destination (0.0.0.0 0 unless NATed).
lua5.4 - "$T_TMP/table.txt" > "$T_TMP/want.txt" <<'LUA'
for line in io.lines(arg[1]) do
  local o, r = {}, {}
  local cur = o
  for k, v in line:gmatch("(%S+)=(%S+)") do      -- the second src= starts the reply
    if k == "src" and o.src then cur = r end
    if cur[k] == nil then cur[k] = v end
  end
  local nat = r.dst ~= o.src or r.src ~= o.dst or r.dport ~= o.sport or r.sport ~= o.dport
  print(table.concat({ line:match("^(%S+)"):upper(), o.src, o.sport, o.dst, o.dport, o.packets, o.bytes,
    r.packets, r.bytes, nat and r.dst or "0.0.0.0", nat and r.dport or "0", nat and r.src or "0.0.0.0",
    nat and r.sport or "0" }, " "))
end
LUA
nfdump -R "$T_TMP/flows" -q -o "fmt:%pr %sa %sp %da %dp %ipkt %ibyt %opkt %obyt %xsa %xsp %xda %xdp" |
	awk '{ $1 = $1; print }' | sort > "$T_TMP/got.txt"
sort -o "$T_TMP/want.txt" "$T_TMP/want.txt"
same_file "$T_TMP/got.txt" "$T_TMP/want.txt" \
	"nfdump reads back each flow as conntrack -L had it: addresses, ports, protocol, packets and bytes both ways, NAT"
like "$(cat "$T_TMP/got.txt")" "^UDP 10\.99\.0\.1 45000 10\.99\.0\.2 8080 1 34 1 34 10\.99\.0\.3 45000 10\.99\.0\.2 8080$" \
	"the NATed flow carries its post-NAT source 10.99.0.3"
like "$(cat "$T_TMP/got.txt")" "^TCP ::1 44002 ::1 5556 " "the IPv6 flow"
nfdump -R "$T_TMP/flows" -q -o "fmt:%sp %ts %te" | awk '{ print $1, $2 " " $3, $4 " " $5 }' | sort > "$T_TMP/got-times.txt"
sort "$T_TMP/times.txt" > "$T_TMP/want-times.txt"
same_file "$T_TMP/got-times.txt" "$T_TMP/want-times.txt" "flow start and end, to the millisecond, are the kernel's timestamps"

# The datagrams themselves: a second exporter with a 1 s template refresh, into a
# capture; 60 flows so that records are batched under the MTU.
bg "$T_TMP/cap.bin" "$T_TMP/cap.err" socat -u UDP4-RECV:4740,bind=127.0.0.1 STDOUT; CAP=$BG_PID
wait_until 10 listening udp 4740; ok $? "a capture listens on 4740"
bg "$T_TMP/y.out" "$T_TMP/y.err" "$CTLUA" "$TOP/scripts/ipfix-export.lua" -- --collector 127.0.0.1:4740 --refresh 1 --domain 7
Y=$BG_PID
wait_until 10 nl_subscribed $Y; ok $? "a second exporter subscribed"
"$TGEN" -n 60 udp-oneway 127.0.0.1 9999 46000 > /dev/null
conntrack -F 2> /dev/null
decode() { lua5.4 "$TOP/tests/lib/ipfix-decode.lua" "$T_TMP/cap.bin"; }
records60() { [ "$(decode | awk '$1 == "seq" { n += $4 } END { print n + 0 }')" -ge 60 ]; }
wait_until 20 records60; ok $? "the 60 flows' records captured (and whatever else the flush ended)"
refreshed() { [ "$(decode | awk '$1 == "seq" && $6 > 0' | wc -l)" -ge 3 ]; }
wait_until 20 refreshed; ok $? "templates sent again (three messages carry them)"
stop_pid $Y; kill $CAP 2> /dev/null; wait $CAP 2> /dev/null
decode > "$T_TMP/decoded.txt"
is "$(tail -1 "$T_TMP/decoded.txt" | cut -d' ' -f1)" ok "every message is well-formed IPFIX, sequence numbers count the records before it"
note "$(head -5 "$T_TMP/decoded.txt")"
is "$(awk '$1 == "seq" && $6 > 0 { print $8 }' "$T_TMP/decoded.txt" | sort -n |
	awk 'NR > 1 && $1 - prev < 1 { bad = 1 } { prev = $1 } END { print bad ? "too soon" : "ok" }')" ok \
	"templates are repeated no more than once a second"
is "$(awk '$1 == "seq" { d[$10] = 1 } END { for (k in d) print k }' "$T_TMP/decoded.txt")" 7 "observation domain 7"
biggest=$(lua5.4 - "$T_TMP/cap.bin" <<'LUA'
local f = io.open(arg[1], "rb") local d = f:read("a") local p, max = 1, 0
while p <= #d do local len = string.unpack(">I2", d, p + 2) max = math.max(max, len) p = p + len end
print(max)
LUA
)
[ "${biggest:-9999}" -le 1400 ]; ok $? "no message is over the 1400-byte MTU (biggest $biggest)"
[ "$(awk '$1 == "seq" && $4 > 10' "$T_TMP/decoded.txt" | wc -l)" -ge 1 ]; ok $? "records are batched, many to a message"

# Collector down: nothing listens on 4741. Events are all handled; the exporter
# counts what it could not send.
bg "$T_TMP/z.out" "$T_TMP/z.err" "$CTLUA" --metrics 9479 "$TOP/scripts/ipfix-export.lua" -e '
	local n = 0
	ct.on("destroy", { proto = "udp", dport = 9998 }, function() n = n + 1 end)
	ct.on("stop", function() io.stderr:write("handled ", n, "\n") end)' -- --collector 127.0.0.1:4741
Z=$BG_PID
wait_until 10 nl_subscribed $Z; ok $? "an exporter to a dead collector subscribed"
SINK='{sink="ipfix:udp:127.0.0.1:4741"}'
attempts() {   # messages the exporter tried to send: written + dropped
	curl -s --max-time 5 http://127.0.0.1:9479/metrics |
		awk -v a="ctlua_sink_lines_total$SINK" -v b="ctlua_sink_dropped_total$SINK" '$1 == a || $1 == b { n += $2 } END { print n + 0 }'
}
sent_n() { [ "$(attempts)" -ge "$1" ]; }
for i in 1 2 3; do
	"$TGEN" -n 20 udp-oneway 127.0.0.1 9998 $((47000 + i * 100)) > /dev/null
	conntrack -F 2> /dev/null
	wait_until 20 sent_n $i || break
done
ok $? "three messages tried, one per batch of 20 flows"
dropped=$(curl -s http://127.0.0.1:9479/metrics | awk -v b="ctlua_sink_dropped_total$SINK" '$1 == b { print $2 }')
[ "${dropped:-0}" -ge 1 ]; ok $? "after the first, the kernel refuses them (port unreachable): $dropped dropped"
stop_pid $Z; is "$STOP_RC" 0 "ctlua exits 0"
like "$(cat "$T_TMP/z.err")" "^handled 60$" "every DESTROY event was handled"
like "$(cat "$T_TMP/z.err")" "ipfix-export: [0-9]+ records sent in [0-9]+ messages, [1-9][0-9]* dropped" \
	"records that could not go are counted as dropped"
out=$("$CTLUA" -e 'ct.ipfix{collector = 4739}' 2>&1); like "$out" "bad argument #1 to 'ipfix' \(collector" "a bad collector raises, naming it"
done_testing
