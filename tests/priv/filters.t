#!/bin/bash
# Filters and table operations as conntrack has them, on the real kernel of a fresh
# netns: entries of generic protocols round-trip, expectation class/fn/nat reach the
# kernel, {mark = 0} means the same for handlers and lists, /etc/protocols names,
# LISTEN, port range, status bits added and removed one at a time, NAT bindings on
# create, counters zeroing, the dying/unconfirmed lists; and scripts/log.lua's
# conntrack -E filter options against conntrack -E on the same traffic.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"

L() { "$CTLUA" -e "$1" 2>&1; }
untimed() { sed -E 's/^([a-z0-9]+ +[0-9]+) [0-9]+ /\1 T /' | sort; }

# --- protocols without ports: listed entries go back to get / delete
conntrack -I -t 50 -s 0.0.0.0 -d 224.0.0.22 -p 2 >/dev/null 2>&1
conntrack -I -t 50 -s 1.1.1.1 -d 2.2.2.2 -p 200 >/dev/null 2>&1
conntrack -I -t 50 -s 2001:db8::1 -d 2001:db8::2 -p 200 >/dev/null 2>&1
out=$(L 'print(ct.create{proto = "dccp", src = "1.1.1.1", dst = "2.2.2.3", timeout = 50})')
is "$out" true "ct.create of a DCCP entry without ports (generic in this kernel) is not refused"
is "$(conntrack -C)" 4 "four port-less entries (igmp, 200 v4/v6, dccp)"
out=$(L 'local n = 0
	for _, e in ipairs(assert(ct.list())) do
		local g = ct.get(e)
		if g and g.protonum == e.protonum then n = n + 1 else print("get", e.proto, g) end
	end
	print(n) print(ct.delete(ct.list()))')
is "$out" "4
4	0	0	nil" "every listed entry goes back to ct.get and ct.delete (generic protocols, no ports)"
is "$(conntrack -C)" 0 "conntrack -C: all deleted"
is "$(L 'print(ct.delete(ct.list({proto = "udp"})))')" "0	0	0	nil" \
	"ct.delete(ct.list(f)) with nothing listed: nothing to do, no error"

# --- expectation class, fn, nat are sent (or refused), never dropped
out=$(L 'local m = {proto = "udp", src = "10.0.0.1", dst = "10.0.0.2", sport = 5060, dport = 5060, timeout = 100, helper = "sip"}
	assert(ct.create(m))
	print(ct.expect.create{proto = "udp", master = m, tuple = {src = "10.0.0.2", dst = "10.0.0.1", sport = 0, dport = 7000},
		mask = {src = "255.255.255.255", dst = "255.255.255.255", sport = 0, dport = 65535}, timeout = 60,
		helper = "sip", class = 1, fn = "nat-follow-master", nat = {dir = "reply", src = "10.9.9.9", dst = "0.0.0.0", sport = 7001, dport = 0}})
	local x = ct.expect.get{proto = "udp", tuple = {src = "10.0.0.2", dst = "10.0.0.1", sport = 0, dport = 7000}}
	print(x.class, x.fn, x.nat.dir, x.nat.src, x.nat.sport)
	print(pcall(ct.expect.create, {proto = "udp", master = m, tuple = {src = "10.0.0.2", dst = "10.0.0.1", sport = 0, dport = 7002},
		mask = {src = "255.255.255.255", dst = "255.255.255.255", sport = 0, dport = 65535}, timeout = 60, class = 2}))')
like "$(echo "$out" | sed -n 1p)" "^true$" "ct.expect.create with class, fn and nat"
is "$(echo "$out" | sed -n 2p)" "1	nat-follow-master	reply	10.9.9.9	7001" "the kernel has the class, the function and the NAT tuple"
like "$(conntrack -L expect 2>/dev/null)" "dport=7000 .* class=1 helper=sip$" "conntrack -L expect shows class=1"
like "$(echo "$out" | sed -n 3p)" "^false	.*class: needs helper" "a class without a helper (which the kernel ignores) is refused"
conntrack -F >/dev/null 2>&1; conntrack -F expect >/dev/null 2>&1

# --- {mark = 0}: absent mark in events is mark 0, as in lists; mark/mask
bg "$T_TMP/m.out" "$T_TMP/m.err" "$CTLUA" -e '
	ct.on("new", {mark = 0, proto = "udp"}, function(e) print("zero", e.orig.dport) end)
	ct.on("new", {mark = {value = 4, mask = 4}}, function(e) print("four", e.orig.dport) end)
	ct.on("new", {proto = "igmp"}, function(e) print("igmp", e.protonum) end)'
M=$BG_PID
wait_until 10 nl_subscribed $M; ok $? "mark listener subscribed"
conntrack -I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 1 --dport 100 -t 50 >/dev/null 2>&1
conntrack -I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 1 --dport 105 -t 50 -m 5 >/dev/null 2>&1
conntrack -I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 1 --dport 103 -t 50 -m 3 >/dev/null 2>&1
conntrack -I -p 2 -s 0.0.0.0 -d 224.0.0.22 -t 50 >/dev/null 2>&1
wait_until 10 sh -c "[ \$(wc -l < '$T_TMP/m.out') -ge 3 ]"
stop_pid $M
is "$(sort "$T_TMP/m.out")" "four	105
igmp	2
zero	100" "handlers: {mark = 0} sees the unmarked entry, {mark = {value = 4, mask = 4}} mark 5, {proto = 'igmp'} protocol 2"
cmp_list() {  # LUAFILTER CONNTRACK-ARGS...
	f=$1; shift
	got=$(L "for _, e in ipairs(assert(ct.list($f))) do print(ct.format(e)) end" | untimed)
	want=$(conntrack -L "$@" 2>/dev/null | untimed)
	is "$got" "$want" "ct.list($f) equals conntrack -L $*"
}
cmp_list '{mark = 0}' -m 0
cmp_list '{mark = {value = 4, mask = 4}}' -m 4/4
cmp_list '{mark = {value = 1, mask = 1}}' -m 1/1
cmp_list '{proto = "igmp"}' -p igmp
cmp_list '{proto = "ipv6-icmp"}' -p ipv6-icmp
like "$(L 'print(pcall(ct.list, {proto = "nosuchproto"}))')" "unknown protocol 'nosuchproto'" "an unknown protocol name is refused"
like "$(L 'print(pcall(ct.list, {dport = 65536}))')" "port 65536 out of range" "a port of 65536 in a list filter is refused"
like "$(L 'print(pcall(ct.on, "new", {orig = {sport = 65536}}, print))')" "port 65536 out of range" "and in a handler filter"
conntrack -F >/dev/null 2>&1

# --- TCP state LISTEN, as conntrack names state 9
out=$(L 'print(ct.create{proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20, state = "LISTEN", status = {seen_reply = true}, timeout = 50})')
is "$out" true "ct.create with state LISTEN"
cmp_list '{proto = "tcp", state = "LISTEN"}' -p tcp --state LISTEN

# --- status: one bit added or removed, the rest kept (conntrack -U -u adds)
conntrack -I -s 1.1.1.2 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 >/dev/null 2>&1
conntrack -U -s 1.1.1.2 -d 2.2.2.2 -p tcp --sport 10 --dport 20 -u FIXED_TIMEOUT >/dev/null 2>&1
out=$(L 'local t = {proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20}
	print(ct.update(t, {status = {fixed_timeout = true}}))
	local function bits(e) local n = {} for k in pairs(e.status) do n[#n + 1] = k end table.sort(n) return table.concat(n, ",") end
	local c = ct.get{proto = "tcp", src = "1.1.1.2", dst = "2.2.2.2", sport = 10, dport = 20}
	print(bits(ct.get(t)) == bits(c), bits(ct.get(t)))
	print(ct.update(t, {status = {fixed_timeout = false}}))
	print(ct.get(t).status.fixed_timeout, ct.get(t).status.seen_reply)
	print(ct.update(t, {status = {assured = true, expected = false}}))
	print(ct.get(t).status.assured)
	print(pcall(ct.update, t, {status = {nosuch = true}}))')
is "$(echo "$out" | sed -n 1p)" true "ct.update(e, {status = {fixed_timeout = true}}) adds the bit"
is "$(echo "$out" | sed -n 2p)" "true	confirmed,fixed_timeout,seen_reply" "the same bits as conntrack -U -u FIXED_TIMEOUT gives"
like "$(echo "$out" | sed -n 3p)" "^nil	status bit 'fixed_timeout' is set and the kernel cannot clear it	EOPNOTSUPP$" \
	"{fixed_timeout = false} on a set bit: refused (ctnetlink never clears a bit), not accepted and dropped"
is "$(echo "$out" | sed -n 4p)" "true	true" "the bits are unchanged"
is "$(echo "$out" | sed -n 5,6p)" "true
true" "{assured = true, expected = false}: one added, one already off"
like "$(echo "$out" | sed -n 7p)" "^false	.*status: unknown flag 'nosuch'" "an unknown status name raises"
conntrack -F >/dev/null 2>&1

# --- NAT bindings on create, as conntrack -I --src-nat / --dst-nat
nat_case() {  # DESC LUA-NAT CONNTRACK-NAT-ARGS...
	desc=$1 nat=$2; shift 2
	conntrack -I -s 1.1.1.1 -d 2.2.2.2 "$@" -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 >/dev/null 2>&1
	want=$(conntrack -L 2>/dev/null | untimed)
	conntrack -F >/dev/null 2>&1
	r=$(L "print(ct.create{proto = 'tcp', src = '1.1.1.1', dst = '2.2.2.2', sport = 10, dport = 20, state = 'LISTEN',
		status = {seen_reply = true}, timeout = 50, $nat})")
	got=$(conntrack -L 2>/dev/null | untimed)
	conntrack -F >/dev/null 2>&1
	is "$r $got" "true $want" "ct.create{$nat} makes what conntrack -I $* makes ($desc)"
}
nat_case "dnat" 'dst_nat = "3.3.3.3"' --dst-nat 3.3.3.3
nat_case "snat" 'src_nat = "3.3.3.3"' --src-nat 3.3.3.3
nat_case "dnat with port" 'dst_nat = {addr = "3.3.3.3", port = 80}' --dst-nat 3.3.3.3:80
like "$(L 'print(pcall(ct.create, {proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20, timeout = 5, dst_nat = "fd00::1"}))')" \
	"dst_nat: address 'fd00::1' is not of the entry's family" "a NAT address of the other family raises"

# --- counters: -L -z; the dying and unconfirmed lists
echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
"$TGEN" udp 127.0.0.1 5353 44003 >/dev/null
out=$(L 'local function pk() local e = ct.list{proto = "udp"}[1] return e and e.orig.packets end
	local before = pk()
	local z = ct.list{proto = "udp", zero = true}
	print(before, z[1].orig.packets, pk())')
is "$out" "1	1	0" "ct.list{zero = true} returns the counters and zeroes them (as -L -z)"
cmp_list '{table = "dying"}' dying
cmp_list '{table = "unconfirmed"}' unconfirmed
like "$(L 'print(pcall(ct.list, {table = "other"}))')" "table: \"dying\" or \"unconfirmed\" expected" "an unknown table raises"
conntrack -F >/dev/null 2>&1

# --- scripts/log.lua with conntrack -E's filters, against conntrack -E
short_timeouts
nft -f - <<'NFT'
table inet ctlua_f {
	chain c_raw {
		type filter hook output priority -300;
		udp dport 6000 ct zone set 3
	}
	chain c_mark {
		type filter hook output priority 0;
		udp dport 5001 ct mark set 5
		udp dport 5002 ct mark set 6
	}
	chain c_nat {
		type nat hook output priority -100;
		udp dport 7000 dnat ip to 127.0.0.2:7001
	}
	chain c_snat {
		type nat hook postrouting priority 100;
		udp dport 7100 snat ip to 127.0.0.5
	}
}
NFT
FILTERS=(
	"-p udp -e NEW,DESTROY --dport 5001"
	"-p tcp --state SYN_SENT"
	"-e UPDATES -p tcp"
	"-f ipv6"
	"-s 127.0.0.0/8 -d 127.0.0.1"
	"-m 5"
	"-m 4/4"
	"-w 3"
	"-g"
	"-j 127.0.0.2:7001"
	"-n"
	"-p igmp"
)
# conntrack -E -m 0 shows nothing (events leave a zero mark out); for ctlua, as for
# lists, absent is 0: every event but those of the marked flows.
bg "$T_TMP/all" /dev/null conntrack -E;                 ALL=$BG_PID
bg "$T_TMP/m0" "$T_TMP/m0.err" "$CTLUA" -- -m 0;       M0=$BG_PID
# -n/-g with an address: conntrack -L's meaning (conntrack -E 1.4.7 matches other
# flows with them): the flow NATed to that address, checked against the whole stream.
bg "$T_TMP/n5" /dev/null "$CTLUA" -- -n 127.0.0.5;    N5=$BG_PID
bg "$T_TMP/g3" /dev/null "$CTLUA" -- -g 127.0.0.3;    G3=$BG_PID
CTP=("$ALL") LGP=("$M0" "$N5" "$G3")
for i in "${!FILTERS[@]}"; do
	# shellcheck disable=SC2086
	bg "$T_TMP/ct$i" /dev/null conntrack -E ${FILTERS[$i]};        CTP+=("$BG_PID")
	# shellcheck disable=SC2086
	bg "$T_TMP/lg$i" "$T_TMP/lg$i.err" "$CTLUA" -- ${FILTERS[$i]}; LGP+=("$BG_PID")
done
for p in "${CTP[@]}" "${LGP[@]}"; do wait_until 10 nl_subscribed "$p" || break; done
ok $? "conntrack -E and log.lua subscribed for ${#FILTERS[@]} filter sets"
{
	"$TGEN" tcp 127.0.0.1 5555 44001
	"$TGEN" tcp ::1 5556 44002
	"$TGEN" udp 127.0.0.1 5001 44010
	"$TGEN" udp 127.0.0.1 5002 44011
	"$TGEN" udp 127.0.0.1 6000 44012
	"$TGEN" udp-oneway 127.0.0.1 7000 44013
	"$TGEN" udp-oneway 127.0.0.1 7100 44015
	"$TGEN" udp ::1 5353 44014
} > /dev/null; ok $? "traffic generated"
wait_until 60 table_empty; ok $? "every entry destroyed"
for i in "${!FILTERS[@]}"; do
	wait_until 10 sh -c "[ \$(wc -l < '$T_TMP/lg$i') -ge \$(wc -l < '$T_TMP/ct$i') ]"
done
wait_until 10 sh -c "[ \$(wc -l < '$T_TMP/m0') -ge \$(grep -vc ' dport=500[12] ' '$T_TMP/all') ]"
wait_until 10 has_lines "$T_TMP/n5" 2
for p in "${CTP[@]}" "${LGP[@]}"; do stop_pid "$p"; done
for i in "${!FILTERS[@]}"; do
	n=$(lines "$T_TMP/ct$i")
	same_file "$T_TMP/lg$i" "$T_TMP/ct$i" "log.lua -- ${FILTERS[$i]} prints what conntrack -E ${FILTERS[$i]} prints ($n lines)"
done
grep ' dport=7100 ' "$T_TMP/all" > "$T_TMP/all-snat"
same_file "$T_TMP/n5" "$T_TMP/all-snat" "log.lua -- -n 127.0.0.5: the source-NATed flow, as conntrack -L --src-nat 127.0.0.5 would"
is "$(lines "$T_TMP/g3")" 0 "log.lua -- -g 127.0.0.3: nothing is NATed to it"
grep -v ' dport=500[12] ' "$T_TMP/all" > "$T_TMP/all-unmarked"
same_file "$T_TMP/m0" "$T_TMP/all-unmarked" "log.lua -- -m 0 prints every event but those of marked flows (absent mark = 0)"
[ "$(lines "$T_TMP/ct2")" -gt 0 ] && [ "$(lines "$T_TMP/ct5")" -gt 0 ] && [ "$(lines "$T_TMP/ct7")" -gt 0 ] &&
	[ "$(lines "$T_TMP/ct8")" -gt 0 ] && [ "$(lines "$T_TMP/ct9")" -gt 0 ] && [ "$(lines "$T_TMP/ct10")" -gt 0 ]
ok $? "the update, mark, zone and NAT filter sets saw events (the comparison is not vacuous)"
out=$("$CTLUA" -- -j -n 2>&1); like "$out" "cannot be combined" "log.lua: -j with -n is refused, as conntrack refuses it"
out=$("$CTLUA" -- -e NEW,FOO 2>&1); like "$out" "bad event 'FOO'" "log.lua: an unknown event name is refused"
out=$("$CTLUA" -- -u NOSUCH 2>&1); like "$out" "bad status 'NOSUCH'" "log.lua: an unknown status name is refused"
nft delete table inet ctlua_f
done_testing
