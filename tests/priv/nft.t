#!/bin/bash
# ct.nft against real sets: add (with a timeout) and delete elements, batches as
# text, nft's own messages and codes on failure, misuse raising; in the namespace
# asked for with --netns (and only there); after ctlua dropped its privileges, as
# root and as --user nobody. Then a real scan blocked by portscan.lua --block: the
# scanner's address lands in the set from the alerting event's handler, its next
# packets are dropped, the element expires; rate-alert.lua --block likewise.
# Last, one ct.nft.add (median of 1000) against forking `nft add element` once.
. "$(dirname "$0")/../lib/tap.sh"
need_root
command -v nft > /dev/null || skip_all "nft missing (make deps)"
in_netns "$@"

T=ctlua-t$$-t S=ctlua-t$$-s
trap 'ip netns del $T 2>/dev/null; ip netns del $S 2>/dev/null; cleanup' EXIT
# T is scanned by S over a veth pair; T drops what its blocklist holds.
ip netns add $T && ip netns add $S && ip -n $T link set lo up && ip -n $S link set lo up &&
	ip link add vt netns $T type veth peer name vs netns $S &&
	ip -n $T addr add 192.0.2.1/24 dev vt && ip -n $S addr add 192.0.2.2/24 dev vs &&
	ip -n $T link set vt up && ip -n $S link set vs up &&
	ip netns exec $T nft -f - <<'NFT'
table inet filter {
	set blocklist { type ipv4_addr; flags timeout; }
	set plain { type ipv4_addr; }
	chain input {
		type filter hook input priority 0;
		ip saddr @blocklist counter drop
		ct state new counter
	}
}
NFT
ok $? "namespaces $T and $S joined by a veth pair, $T with a blocklist"
elements() { ip netns exec $T nft list set inet filter "$1" | tr -d '\n\t' | tr -s ' ' | sed -n 's/.*elements = { \([^}]*\) }.*/\1/p'; }
drops() { ip netns exec $T nft list chain inet filter input | sed -n 's/.*@blocklist counter packets \([0-9]*\).*/\1/p'; }

# The API, from a timer (after the privilege drop), in T.
cat > "$T_TMP/api.lua" <<'LUA'
io.stdout:setvbuf("line")
local T = ...
local function show(what, ...)   -- one line each: nft's messages span three
  local t = table.pack(...)
  for i = 1, t.n do t[i] = (tostring(t[i]):gsub("\n", " | ")) end
  print(what, table.unpack(t, 1, t.n))
end
ct.after(0, function()
  local o = { netns = T }
  show("add", ct.nft.add("inet filter blocklist", "198.51.100.7", { timeout = 600, netns = T }))
  show("list", (ct.nft.run("list set inet filter blocklist", o):match("198%.51%.100%.7 timeout 10m")))
  show("add-many", ct.nft.add("inet filter plain", { "198.51.100.1", "198.51.100.2" }, o))
  show("add-again", ct.nft.add("inet filter plain", "198.51.100.1", o))
  show("delete", ct.nft.delete("inet filter plain", "198.51.100.1", o))
  show("delete-gone", ct.nft.delete("inet filter plain", "198.51.100.1", o))
  show("no-set", ct.nft.add("inet filter nope", "198.51.100.9", o))
  show("timeout-on-plain", ct.nft.add("inet filter plain", "198.51.100.9", { timeout = 5, netns = T }))
  show("batch", ct.nft.run("add element inet filter plain { 198.51.100.3 }\nadd element inet filter plain { 198.51.100.4 }", o))
  show("syntax", ct.nft.run("add elemnt inet filter plain { 1.2.3.4 }", o))
  show("own", ct.nft.run("add table inet mine"))
  for _, bad in ipairs { "1.2.3.4; flush ruleset", "1.2.3.4 }", "", "a\nb" } do
    show("raises", pcall(ct.nft.add, "inet filter plain", bad, o))
  end
  show("raises-set", pcall(ct.nft.add, "inet filter plain; flush ruleset", "1.2.3.4", o))
  show("raises-timeout", pcall(ct.nft.add, "inet filter blocklist", "1.2.3.4", { timeout = -1, netns = T }))
  show("raises-netns", pcall(ct.nft.add, "inet filter blocklist", "1.2.3.4", { netns = "nowhere" }))
  -- Unwatched, the namespace's context goes: nothing to act in.
  show("unwatch", ct.unwatch(T))
  show("after-unwatch", pcall(ct.nft.run, "list tables", o))
  -- A spawned command inherits no netlink socket of libnftables'.
  ct.spawn({ "sh", "-c", "for f in /proc/self/fd/*; do n=${f##*/}; [ $n -gt 2 ] && readlink $f; done | grep -c socket" },
    function(code, out) print("child-sockets", (out:gsub("\n", ""))) ct.stop() end)
end)
LUA
"$CTLUA" --netns $T "$T_TMP/api.lua" -- $T > "$T_TMP/api.out" 2> "$T_TMP/api.err"
ok $? "the API script ran (after the privilege drop)"
r() { grep "^$1	" "$T_TMP/api.out" | cut -f2- | head -1; }
is "$(r add)" "true" "ct.nft.add with a timeout"
is "$(r list)" "198.51.100.7 timeout 10m" "ct.nft.run lists the set: the element and its timeout"
like "$(elements blocklist)" "^198\.51\.100\.7 timeout 10m expires" "the element is in $T's real set"
is "$(r add-many)" "true" "a list of elements in one command"
is "$(r add-again)" "true" "adding an element already there is no error (nft add)"
is "$(r delete)" "true" "ct.nft.delete"
like "$(r delete-gone)" "^nil	Error: Could not process rule: No such file or directory.*	ENOENT$" "deleting what is not there: nil, nft's message, ENOENT"
like "$(r no-set)" "^nil	Error: No such file or directory.*	ENOENT$" "a set that does not exist: ENOENT"
like "$(r timeout-on-plain)" "^nil	Error: .*	E[A-Z]+$" "a timeout on a set without flags timeout: nft's error"
is "$(r batch)" "" "a batch as text: nothing printed"
like "$(r syntax)" "^nil	Error: syntax error.*	EINVAL$" "a syntax error: EINVAL with nft's message"
is "$(elements plain)" "198.51.100.2, 198.51.100.3, 198.51.100.4" "the set holds what was added and not deleted"
is "$(grep -c '^raises	false	bad argument #2' "$T_TMP/api.out")" 4 "elements that are not plain nft words raise"
like "$(r raises-set)" "^false	bad argument #1 .*family table set" "so does such a set"
like "$(r raises-timeout)" "^false	bad argument #3 .*timeout" "a bad timeout raises"
like "$(r raises-netns)" "^false	.*network namespace 'nowhere' is not watched" "a namespace not watched raises"
is "$(r child-sockets)" "0" "a spawned command inherits no netlink socket"
like "$(r after-unwatch)" "^false	.*not watched" "a namespace unwatched: raises"
nft list table inet mine > /dev/null 2>&1; ok $? "without netns: ctlua's own namespace"
! ip netns exec $T nft list table inet mine > /dev/null 2>&1; ok $? "and not $T"
[ -s "$T_TMP/api.err" ] && diag "$(cat "$T_TMP/api.err")"

# --user nobody keeps CAP_NET_ADMIN: enough for libnftables.
chmod 755 "$T_TMP"
out=$("$CTLUA" --user nobody -e 'ct.after(0, function() print(ct.nft.run("add table inet nobodys")) ct.stop() end)' 2>&1)
nft list table inet nobodys > /dev/null 2>&1; ok $? "as --user nobody too ($out)"
out=$("$CTLUA" --user nobody --netns $T -e "ct.after(0, function() print(ct.nft.run('add table inet nobodys', {netns = '$T'})) ct.stop() end)" 2>&1)
ip netns exec $T nft list table inet nobodys > /dev/null 2>&1; ok $? "as --user nobody with --netns: in that namespace ($out)"

# A scan from S, one probe at a time: each either makes a NEW event in T or is
# dropped. The alert comes at the 6th port; the 7th probe is already dropped.
bg "$T_TMP/scan.out" "$T_TMP/scan.err" "$CTLUA" --netns $T "$TOP/scripts/portscan.lua" \
	-e 'local n = 0 ct.on("new", function() n = n + 1 io.stderr:write("seen ", n, "\n") end)' \
	-- --ports 5 --window 60 --block "inet filter blocklist" --block-for 3
P=$BG_PID
subscribed_in() { ip netns exec "$1" bash -c ". '$TOP/tests/lib/tap.sh' >/dev/null; nl_subscribed $P"; }
wait_until 10 subscribed_in $T; ok $? "portscan --block subscribed in $T"
seen() { grep -c '^seen' "$T_TMP/scan.err"; }
probe() {   # probe PORT: sends one datagram from S, waits until T saw it or dropped it
	local s0 d0; s0=$(seen) d0=$(drops)
	ip netns exec $S "$TGEN" udp-oneway 192.0.2.1 "$1" > /dev/null
	wait_until 5 eval '[ "$(seen)" -gt $s0 ] || [ "$(drops)" -gt $d0 ]'
}
for p in $(seq 7001 7010); do probe $p || break; done
ok $? "10 probes sent, each seen or dropped"
like "$(cat "$T_TMP/scan.err")" "WARN portscan: 192\.0\.2\.2 reached 6 ports on 1 hosts" "the scan alerted at the 6th port"
like "$(cat "$T_TMP/scan.err")" "INFO portscan: blocked 192\.0\.2\.2 in inet filter blocklist for 3 s" "and blocked the scanner"
is "$(seen)" 6 "blocked within one event of the alert: no NEW event after it"
is "$(drops)" 4 "the scanner's next 4 packets were dropped"
like "$(elements blocklist)" "192\.0\.2\.2 timeout 3s expires" "its address is in the real set, with its timeout"
gone() { ! elements blocklist | grep -q 192.0.2.2; }
wait_until 10 gone; ok $? "the element expires"
probe 7011; ok $? "a probe after the expiry"
is "$(seen)" 7 "gets through again"
# --quiet-for defaults to --block-for: the scanner, still over the threshold, is
# caught again at once.
is "$(grep -c 'INFO portscan: blocked 192\.0\.2\.2' "$T_TMP/scan.err")" 2 "and is blocked again"
stop_pid $P; is "$STOP_RC" 0 "portscan exits 0"
wait_until 10 gone; ok $? "that element expires too"

# During --replay nothing is run: the blocks are counted.
out=$("$CTLUA" --replay "$TOP/tests/data/scan.txt" -e 'ct.on("stop", function() print(ct.json(ct.stats().recorded)) end)' \
	"$TOP/scripts/portscan.lua" -- --block "inet filter blocklist" --block-for 60 2>&1)
like "$out" '"nft.add":1' "--replay: portscan --block records its one block"
like "$out" "INFO portscan: blocked 10\.0\.0\.66" "and says so"

# rate-alert --block: a flood of new flows, then the flooder's next ones dropped.
bg "$T_TMP/flood.out" "$T_TMP/flood.err" "$CTLUA" --netns $T "$TOP/scripts/rate-alert.lua" \
	-- --rate 2 --window 5 --block "inet filter blocklist" --block-for 30
P=$BG_PID
wait_until 10 subscribed_in $T; ok $? "rate-alert --block subscribed in $T"
d0=$(drops)
ip netns exec $S "$TGEN" -n 30 udp-oneway 192.0.2.1 8000 > /dev/null
wait_until 10 grep -q 'INFO flood: blocked 192\.0\.2\.2' "$T_TMP/flood.err"; ok $? "the flood alerted and blocked its source"
d1=$(drops)
ip netns exec $S "$TGEN" -n 5 udp-oneway 192.0.2.1 9000 > /dev/null
more() { [ "$(drops)" -ge $((d1 + 5)) ]; }
wait_until 5 more; ok $? "its next flows are dropped ($d0 -> $d1 -> $(drops))"
stop_pid $P; is "$STOP_RC" 0 "rate-alert exits 0"

# How long one ct.nft.add takes (median of 1000, distinct elements) against one
# forked `nft add element`, both in T.
cat > "$T_TMP/bench.lua" <<'LUA'
local T = ...
ct.after(0, function()
  local t = {}
  for i = 1, 1000 do
    local a = string.format("203.0.%d.%d", i // 250, i % 250 + 1)
    local t0 = ct.now()
    assert(ct.nft.add("inet filter blocklist", a, { timeout = 60, netns = T }))
    t[i] = ct.now() - t0
  end
  table.sort(t)
  print(string.format("%.0f", (t[500] + t[501]) / 2 * 1e6))
  ct.stop()
end)
LUA
med=$("$CTLUA" --netns $T "$T_TMP/bench.lua" -- $T 2> "$T_TMP/bench.err")
[ -s "$T_TMP/bench.err" ] && diag "$(cat "$T_TMP/bench.err")"
t0=$(date +%s%N)
ip netns exec $T nft add element inet filter blocklist '{ 203.0.200.1 timeout 60s }'
t1=$(date +%s%N)
fork=$(( (t1 - t0) / 1000 ))
[ -n "$med" ] && [ "$med" -lt "$fork" ]; ok $? "one ct.nft.add: ${med} us (median of 1000); one forked nft add element: ${fork} us"
is "$(ip netns exec $T nft list set inet filter blocklist | grep -o '203\.0\.' | wc -l)" 1001 "all 1001 elements landed"
done_testing
