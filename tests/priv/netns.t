#!/bin/bash
# Several network namespaces from one ctlua: --netns A --netns B tags each event
# with ev.netns, and a delete issued from an event acts in that event's namespace
# only (the same tuple lives in both); --netns all follows namespaces as `ip netns`
# adds and deletes them.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"

A=ctlua-t$$-a B=ctlua-t$$-b C=ctlua-t$$-c
trap 'for n in $A $B $C; do ip netns del $n 2>/dev/null; done; cleanup' EXIT
setup_ns() {
	ip netns add "$1" && ip -n "$1" link set lo up &&
	ip netns exec "$1" nft -f - <<'NFT'
table inet t {
	chain out {
		type filter hook output priority 0;
		ct state new counter
	}
}
NFT
}
setup_ns $A && setup_ns $B; ok $? "namespaces $A and $B with conntrack on"

cat > "$T_TMP/two.lua" <<'LUA'
io.stdout:setvbuf("line")
local B = ...
ct.on("new", { proto = "udp" }, function(ev)
  print("new", ev.netns, ev.orig.dport)
  if ev.netns == B and ev.orig.dport == 5555 then print("delete", ct.delete(ev)) end
  if ev.orig.dport == 6000 then
    local a, b = ct.count(ev.netns), ct.list({ netns = ev.netns, proto = "udp" })
    print("count", ev.netns, a, #b, b[1] and b[1].netns)
  end
end)
LUA
bg "$T_TMP/two.out" "$T_TMP/two.err" "$CTLUA" --netns $A --netns $B "$T_TMP/two.lua" -- $B; P=$BG_PID
# /proc/net/netlink lists the sockets of the namespace of whoever reads it.
subscribed_in() { ip netns exec "$1" bash -c ". '$TOP/tests/lib/tap.sh' >/dev/null; nl_subscribed $P"; }
wait_until 10 subscribed_in $A && wait_until 10 subscribed_in $B
ok $? "ctlua holds a subscribed socket in each namespace"
! nl_subscribed $P; ok $? "and none in its own"
ip netns exec $A "$TGEN" udp-oneway 127.0.0.1 5555 40000 > /dev/null
ip netns exec $B "$TGEN" udp-oneway 127.0.0.1 5555 40000 > /dev/null
wait_until 20 grep -q "^delete" "$T_TMP/two.out"; ok $? "the event from $B triggered the delete"
like "$(cat "$T_TMP/two.out")" "^new	$A	5555$" "the event from $A is tagged $A"
like "$(cat "$T_TMP/two.out")" "^new	$B	5555$" "the event from $B is tagged $B"
like "$(cat "$T_TMP/two.out")" "^delete	true$" "ct.delete(ev) succeeded"
is "$(ip netns exec $B conntrack -L -p udp --dport 5555 2>/dev/null | wc -l)" 0 "the entry is gone from $B"
is "$(ip netns exec $A conntrack -L -p udp --dport 5555 2>/dev/null | wc -l)" 1 "the same tuple in $A is untouched"
ip netns exec $A "$TGEN" udp-oneway 127.0.0.1 6000 40001 > /dev/null
wait_until 20 grep -q "^count" "$T_TMP/two.out"; ok $? "table reads from an event in $A"
is "$(grep '^count' "$T_TMP/two.out")" "count	$A	2	2	$A" "ct.count(netns) and ct.list{netns} read $A's table; entries carry netns"
[ "$(grep -c "	$A	\|	$B	" "$T_TMP/two.out")" -ge 3 ] && ! grep -q "^new	self" "$T_TMP/two.out"
ok $? "our own namespace was not watched"
out=$("$CTLUA" --netns $A -e 'print(pcall(ct.get, {netns = "nowhere", proto = "udp"}))' 2>&1)
like "$out" "network namespace 'nowhere' is not watched" "a namespace not watched is a clear error"
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"

# Resync across namespaces: one dump per namespace, each diffed against its own
# set (conntrack ids are per namespace). The first resync delivers what is there.
bg "$T_TMP/rs.out" "$T_TMP/rs.err" "$CTLUA" --netns $A --netns $B -e '
	io.stdout:setvbuf("line")
	ct.on("new", { proto = "udp" }, function(ev) if ev.resync then print("new", ev.netns, ev.orig.dport) end end)
	ct.on("destroy", function(ev) if ev.resync then print("gone", ev.netns, ev.orig.dport) end end)
	local runs = 0
	ct.every(0.1, function() ct.resync() runs = runs + 1 if runs == 5 then print("runs 5") end end)'
P=$BG_PID
wait_until 20 grep -q "^runs 5" "$T_TMP/rs.out"; ok $? "five resyncs over two namespaces"
is "$(grep -v '^runs' "$T_TMP/rs.out" | sort | tr '\t\n' '  ')" "new $A 5555 new $A 6000 " \
	"the first delivers $A's two UDP entries tagged $A, none from $B; later ones find nothing to repair"
stop_pid $P

# /metrics per namespace: events and table size.
bg "$T_TMP/m.out" "$T_TMP/m.err" "$CTLUA" --metrics 9480 --netns $A --netns $B -e 'ct.on("new", function() end)'; P=$BG_PID
wait_until 10 subscribed_in $A; ok $? "ctlua --metrics --netns subscribed"
ip netns exec $B "$TGEN" udp-oneway 127.0.0.1 5557 40002 > /dev/null
b1() { scrape 9480 | grep -q "^ctlua_events_total{event=\"new\",netns=\"$B\"} 1$"; }
wait_until 20 b1; ok $? "ctlua_events_total carries the namespace"
want_a=$(ip netns exec $A conntrack -C); want_b=$(ip netns exec $B conntrack -C)
like "$(scrape 9480 | grep '^ctlua_conntrack_entries' | tr '\n' ' ')" \
	"ctlua_conntrack_entries\{netns=\"$A\"\} $want_a ctlua_conntrack_entries\{netns=\"$B\"\} $want_b" \
	"ctlua_conntrack_entries per namespace ($want_a, $want_b) as conntrack -C counts them"
stop_pid $P

# --netns all: namespaces that come and go, and our own.
bg "$T_TMP/all.out" "$T_TMP/all.err" "$CTLUA" -v --netns all -e '
	io.stdout:setvbuf("line")
	ct.on("new", { proto = "udp" }, function(ev) print(ev.netns, ev.orig.dport) end)
	ct.every(0.1, function() local t = ct.namespaces() table.sort(t) io.stderr:write("watching ", table.concat(t, " "), "\n") end)'
P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "ctlua --netns all subscribed"
"$TGEN" udp-oneway 127.0.0.1 7000 40000 > /dev/null
wait_until 20 grep -q "^self	7000$" "$T_TMP/all.out"; ok $? "events from our own namespace are tagged self"
setup_ns $C
wait_until 20 grep -q "watching network namespace $C" "$T_TMP/all.err"; ok $? "a namespace added after the start is followed"
ip netns exec $C "$TGEN" udp-oneway 127.0.0.1 7001 40000 > /dev/null
wait_until 20 grep -q "^$C	7001$" "$T_TMP/all.out"; ok $? "its events arrive tagged $C"
ip netns exec $A "$TGEN" udp-oneway 127.0.0.1 7002 40000 > /dev/null
wait_until 20 grep -q "^$A	7002$" "$T_TMP/all.out"; ok $? "namespaces that existed at the start too"
ip netns del $C
wait_until 20 grep -q "network namespace $C is gone" "$T_TMP/all.err"; ok $? "a deleted namespace is let go"
gone() { tail -1 "$T_TMP/all.err" | grep -q "^watching" && ! tail -1 "$T_TMP/all.err" | grep -q "$C"; }
wait_until 20 gone; ok $? "ct.namespaces() no longer lists it"
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"
"$CTLUA" --netns no-such-ns-$$ -e '' 2> "$T_TMP/bad.err"; is $? 3 "an unknown namespace: exit 3"
like "$(cat "$T_TMP/bad.err")" "--netns no-such-ns-$$: No such file or directory" "naming it"
done_testing
