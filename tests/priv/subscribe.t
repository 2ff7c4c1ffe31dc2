#!/bin/bash
# Only the netlink groups some handler needs are joined, at start and at run time.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
short_timeouts

# groups_of CODE — the group bitmap (/proc/net/netlink) of a ctlua running CODE.
groups_of() {
	bg "$T_TMP/g.out" "$T_TMP/g.err" "$CTLUA" -e "$1"; _p=$BG_PID
	wait_until 10 nl_subscribed $_p
	NLGROUPS=$(nl_groups $_p)
	stop_pid $_p
}
f='local function f() end '
groups_of "$f ct.on('destroy', f)"
is "$NLGROUPS" 00000004 "destroy handlers only: DESTROY group alone"
groups_of "$f ct.on('new', f) ct.on('expect-destroy', f) ct.on('overrun', f)"
is "$NLGROUPS" 00000021 "new + expect-destroy: those two groups"
groups_of "$f ct.on('new', f) ct.on('update', f) ct.on('destroy', f) ct.on('expect-new', f) ct.on('expect-destroy', f)"
is "$NLGROUPS" 0000002f "every event: five groups (never expectation UPDATE)"

# At run time: cancelling the only NEW handler leaves its group; a new handler joins.
bg "$T_TMP/d.out" "$T_TMP/d.err" "$CTLUA" -e '
	local h = ct.on("new", function() end)
	ct.after(0.05, function()
		h:cancel()
		ct.on("update", function() end)
		io.stderr:write("switched\n")
	end)'
P=$BG_PID
wait_until 10 grep -q switched "$T_TMP/d.err"; ok $? "handlers switched at run time"
is "$(nl_groups $P)" 00000002 "cancel leaves NEW, a new update handler joins UPDATE"
stop_pid $P

# A destroy-only script receives no NEW/UPDATE traffic at all.
bg "$T_TMP/x.out" "$T_TMP/x.err" "$CTLUA" -e '
	ct.on("destroy", function() io.stderr:write("destroy\n") end)
	ct.on("stop", function() local s = ct.stats().events
		print(s.new, s.update, s.destroy) end)'
P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "destroy-only ctlua subscribed"
"$TGEN" tcp 127.0.0.1 5555 42001 >/dev/null && "$TGEN" udp 127.0.0.1 5353 42002 >/dev/null
ok $? "traffic generated"
wait_until 60 table_empty; ok $? "entries destroyed"
wait_until 20 sh -c "[ \$(grep -c '^destroy\$' '$T_TMP/x.err') -ge 2 ]"; ok $? "both DESTROYs read"
stop_pid $P
is "$(cat "$T_TMP/x.out")" "0	0	2" "destroy-only script received 0 NEW, 0 UPDATE, 2 DESTROY"
done_testing
