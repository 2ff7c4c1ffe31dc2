#!/bin/bash
# Table operations from Lua against the conntrack tool: create, get, update, delete,
# flush, count, list with filters, expectations; events of ctlua's own commands.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"

L() { "$CTLUA" -e "$1" 2>&1; }
# Timeouts tick between two reads of the same entry: compare lines without them.
untimed() { sed -E 's/^([a-z0-9]+ +[0-9]+) [0-9]+ /\1 T /' | sort; }

out=$(L 'print(ct.create{proto="tcp", orig={src="10.1.0.1", dst="10.2.0.1", sport=1000, dport=80},
	timeout=300, state="ESTABLISHED", mark=7, zone=0, status={assured=true, seen_reply=true}})')
is "$out" "true" "ct.create (tcp, orig tuple, state, mark, status) returns true"
G=$(conntrack -G -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 1000 --dport 80 2>/dev/null)
like "$G" "^tcp +6 (300|299|298) ESTABLISHED src=10\.1\.0\.1 dst=10\.2\.0\.1 sport=1000 dport=80 src=10\.2\.0\.1 dst=10\.1\.0\.1 sport=80 dport=1000 \[ASSURED\] mark=7 use=[0-9]+$" \
	"conntrack -G shows it with every field set (reply inverted from orig)"
out=$(L 'print(ct.format(ct.get{proto="tcp", src="10.1.0.1", dst="10.2.0.1", sport=1000, dport=80}))')
is "$(echo "$out" | untimed)" "$(echo "$G" | untimed)" "ct.get of a tuple table formats as conntrack -G prints it"

L 'assert(ct.create{proto="udp", src="10.1.0.1", dst="10.2.0.2", sport=53, dport=5353, timeout=200, mark=7})
   assert(ct.create{proto="udp", src="10.1.0.2", dst="10.2.0.2", sport=54, dport=5353, timeout=200, mark=8})
   assert(ct.create{proto="icmp", src="10.1.0.3", dst="10.2.0.3", type=8, code=0, id=77, timeout=30})
   assert(ct.create{proto="tcp", family="ipv6", src="fd00::1", dst="fd00::2", sport=2000, dport=443, timeout=300, state="SYN_SENT"})
   assert(ct.create{proto="udp", src="fd00::1", dst="fd00::3", sport=2001, dport=53, timeout=100,
	reply={src="fd00::3", dst="fd00::9", sport=53, dport=2001}})' > /dev/null
is "$(conntrack -C)" 6 "five more created (conntrack -C)"
is "$(L 'print(ct.count())')" "$(conntrack -C)" "ct.count() equals conntrack -C"
# list with filters == conntrack -L with the same filter
cmp_list() {  # DESC LUAFILTER CONNTRACK-ARGS...
	desc=$1 f=$2; shift 2
	got=$(L "for _, e in ipairs(assert(ct.list($f))) do print(ct.format(e)) end" | untimed)
	want=$(conntrack -L "$@" 2>/dev/null | untimed)
	is "$got" "$want" "ct.list($f) equals conntrack -L $* ($desc)"
}
cmp_list "all" "" 
cmp_list "protocol" '{proto="udp"}' -p udp
cmp_list "mark (kernel filter)" '{mark=7}' -m 7
cmp_list "family" '{family="ipv6"}' -f ipv6
cmp_list "source address" '{src="10.1.0.1"}' -s 10.1.0.1
cmp_list "status" '{status="assured"}' -u ASSURED
cmp_list "reply source (NATed reply)" '{reply={src="fd00::9"}}' -f ipv6 -r fd00::9
n=$(L 'local n = 0 for e in ct.entries({proto = "udp"}) do n = n + 1 end print(n)')
is "$n" "$(conntrack -L -p udp 2>/dev/null | wc -l)" "ct.entries iterates without building an array"
n=$(L 'for e in ct.entries() do break end print(ct.count())')
is "$n" 6 "breaking out of ct.entries closes the dump; the next command works"

out=$(L 'local e = ct.get{proto="udp", src="10.1.0.1", dst="10.2.0.2", sport=53, dport=5353}
	print(ct.update(e, {mark = 0x30, mask = 0xf0, timeout = 77}))')
is "$out" true "ct.update(entry, {mark, mask, timeout})"
like "$(conntrack -G -p udp -s 10.1.0.1 -d 10.2.0.2 --sport 53 --dport 5353 2>/dev/null)" \
	"^udp +17 7[5-7] .* mark=55 use=[0-9]+$" "conntrack -G shows the masked mark (7 -> 0x37) and the new timeout"
out=$(L 'print(ct.update({proto="udp", src="10.9.9.9", dst="10.2.0.2", sport=1, dport=2}, {mark = 1}))')
is "$out" "nil	No such file or directory	ENOENT" "updating a missing entry returns nil, message, ENOENT"
out=$(L 'print(ct.update({proto="udp", src="10.1.0.2", dst="10.2.0.2", sport=54, dport=5353}, {labels = {"3"}}))')
like "$out" "^nil	No space left on device \(conntrack labels need a rule using connlabel in the ruleset.*\)	ENOSPC$" "labels without connlabel in the ruleset: a clear refusal is returned, not raised"
nft add chain inet ctlua_test lbl '{ type filter hook output priority 10; }'
nft add rule inet ctlua_test lbl ct label set 127
# (the label extension is added when an entry is made, so a new entry)
out=$(L 'local t = {proto="udp", src="10.1.0.7", dst="10.2.0.2", sport=54, dport=5353, timeout=60}
	assert(ct.create(t))
	print(ct.update(t, {labels = {"3", "5"}})) local l = ct.get(t).labels print(l["3"], l["5"], l["4"])')
is "$out" "true
true	true	nil" "with connlabel in the ruleset, labels are set and read back"
nft flush chain inet ctlua_test lbl && nft delete chain inet ctlua_test lbl
L 'assert(ct.delete{proto="udp", src="10.1.0.7", dst="10.2.0.2", sport=54, dport=5353})' 

out=$(L 'local e = ct.get{proto="icmp", src="10.1.0.3", dst="10.2.0.3", type=8, code=0, id=77}
	print(ct.delete(e)) print(ct.delete(e))')
is "$out" "true
nil	No such file or directory	ENOENT" "ct.delete: true, then nil, message, ENOENT (already gone)"
conntrack -G -p icmp -s 10.1.0.3 -d 10.2.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77 >/dev/null 2>&1
is $? 1 "deleted entry is gone for conntrack -G"
out=$(L 'print(ct.delete(ct.list({proto = "udp"})))')
is "$out" "3	0	0	nil" "ct.delete(list) deletes a list in batches: deleted, gone, failed"
is "$(L 'print(ct.flush("ipv6"))') $(conntrack -C)" "true 1" "ct.flush(\"ipv6\") leaves the IPv4 entry"
is "$(L 'print(ct.flush()) print(ct.count())')" "true
0" "ct.flush() empties the table"

# Events of our own commands reach handlers, marked self; others' are not.
out=$(timeout 20 "$CTLUA" -e '
	local t = {proto="tcp", src="10.5.0.1", dst="10.5.0.2", sport=7, dport=8}
	local seen = {}
	local function rec(ev) seen[#seen + 1] = ev.event .. ":" .. tostring(ev.self) .. (ev.mark and ":" .. ev.mark or "") end
	ct.on("new", rec) ct.on("update", rec)
	ct.on("destroy", function(ev) rec(ev) print(table.concat(seen, " ")) ct.stop() end)
	ct.after(0, function()
		assert(ct.create{proto="tcp", src="10.5.0.1", dst="10.5.0.2", sport=7, dport=8, timeout=60, state="ESTABLISHED"})
		assert(ct.update(t, {mark = 5}))
		os.execute("conntrack -U -p tcp -s 10.5.0.1 -m 6 >/dev/null 2>&1")
		assert(ct.delete(t))
	end)' 2>"$T_TMP/self.err")
is "$out" "new:true:0 update:true:5 update:nil:6 destroy:true:6" "own commands' events carry self = true, others' do not; UPDATE events show the new mark"

# Expectations: create from Lua, seen by conntrack -L expect and as an event; delete.
bg "$T_TMP/x.out" "$T_TMP/x.err" "$CTLUA" -e '
	ct.on("expect-new", function(ev) print("expect-new", ev.tuple.dport, ev.self) end)
	ct.on("expect-destroy", function(ev) print("expect-destroy", ev.tuple.dport, ev.self) end)'
X=$BG_PID
wait_until 10 nl_subscribed $X; ok $? "expectation listener subscribed"
"$TGEN" ftp 127.0.0.1 2121 > "$T_TMP/ftp.out"; ok $? "ftp control connection made an expectation"
read -r _ _ SP _ DP _ < "$T_TMP/ftp.out"
like "$(conntrack -L expect 2>/dev/null)" "dport=$DP .*master-src=127\.0\.0\.1 master-dst=127\.0\.0\.1 sport=$SP dport=2121 class=0 helper=ftp" "conntrack -L expect shows the helper's expectation"
out=$(L "for _, x in ipairs(assert(ct.expect.list({helper = 'ftp'}))) do print(x.tuple.dport, x.master.sport) end")
is "$out" "$DP	$SP" "ct.expect.list sees the ftp helper's expectation"
# ftp allows one expectation per master: delete the helper's before making ours.
out=$(L "for _, x in ipairs(ct.expect.list()) do print(x.tuple.dport, ct.expect.delete(x)) end")
is "$out" "$DP	true" "ct.expect.delete of a listed table"
is "$(conntrack -L expect 2>/dev/null | wc -l)" 0 "conntrack -L expect: it is gone"
out=$(L "local m = ct.list({dport = 2121})[1]
	print(ct.expect.create{proto='tcp', master=m.orig, tuple={src='127.0.0.1', dst='127.0.0.1', sport=0, dport=4444},
		mask={src='255.255.255.255', dst='255.255.255.255', sport=0, dport=65535}, timeout=100, helper='ftp'})")
is "$out" true "ct.expect.create with a master, tuple, mask, timeout, helper"
# The kernel takes the timeout from the helper's policy (ftp: 300 s), as for conntrack -I expect.
like "$(conntrack -L expect 2>/dev/null)" "^[0-9]+ proto=6 src=127\.0\.0\.1 dst=127\.0\.0\.1 sport=0 dport=4444 mask-src=255\.255\.255\.255 mask-dst=255\.255\.255\.255 sport=0 dport=65535 master-src=127\.0\.0\.1 master-dst=127\.0\.0\.1 sport=$SP dport=2121 class=0 helper=ftp" \
	"conntrack -L expect shows the created expectation"
out=$(L "print(ct.format(assert(ct.expect.get{proto='tcp', tuple={src='127.0.0.1', dst='127.0.0.1', sport=0, dport=4444}})))")
like "$out" "^[0-9]+ proto=6 .*dport=4444 .*helper=ftp$" "ct.expect.get by tuple"
out=$(L "print(ct.expect.delete{proto='tcp', tuple={src='127.0.0.1', dst='127.0.0.1', sport=0, dport=4444}})
	print(ct.expect.delete{proto='tcp', tuple={src='127.0.0.1', dst='127.0.0.1', sport=0, dport=4444}})")
is "$out" "true
nil	No such file or directory	ENOENT" "ct.expect.delete by tuple; ENOENT when already gone"
is "$(conntrack -L expect 2>/dev/null | wc -l)" 0 "no expectation left for conntrack -L expect"
wait_until 10 sh -c "[ \$(grep -c '^expect-destroy' '$T_TMP/x.out') -ge 2 ]"; ok $? "expect-destroy events seen"
stop_pid $X
like "$(cat "$T_TMP/x.out")" "expect-new	$DP	nil" "the helper's expectation is not self"
like "$(cat "$T_TMP/x.out")" "expect-new	4444	nil" "another ctlua's expectation is not self either"
is "$(L "print(ct.expect.flush())")" true "ct.expect.flush()"
s=$(L 'assert(ct.count()) local s = ct.stats() print(s.commands >= 1, s.command_errors)')
is "$s" "true	0" "ct.stats() counts commands"
done_testing
