#!/bin/bash
# scripts/cleanup-stale.lua: one sweep deletes exactly the stale entries (checked
# with conntrack -L); --dry-run deletes none. And expect-pinhole.lua opens and
# closes a real expectation.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
S="$TOP/scripts/cleanup-stale.lua"

"$CTLUA" -e '
	local function mk(t) t.timeout = t.timeout or 300 assert(ct.create(t)) end
	-- stale: UDP never answered, to a dead backend (orig dst and DNATed reply), marked 99
	mk{proto="udp", src="10.0.0.1", dst="10.0.0.53", sport=1001, dport=53}
	mk{proto="tcp", src="10.0.0.1", dst="10.66.0.5", sport=1002, dport=80, state="ESTABLISHED"}
	mk{proto="tcp", src="10.0.0.1", dst="10.96.0.10", sport=1003, dport=80, state="ESTABLISHED",
	   reply={src="10.66.0.6", dst="10.0.0.1", sport=8080, dport=1003}}
	mk{proto="tcp", src="10.0.0.2", dst="10.1.1.1", sport=1004, dport=22, state="ESTABLISHED", mark=99}
	-- fresh: answered UDP, live backends, other marks
	mk{proto="udp", src="10.0.0.1", dst="10.0.0.54", sport=1005, dport=53, status={seen_reply=true}}
	mk{proto="tcp", src="10.0.0.1", dst="10.1.1.1", sport=1006, dport=443, state="ESTABLISHED", mark=7}
	mk{proto="tcp", src="10.0.0.1", dst="10.96.0.10", sport=1007, dport=80, state="ESTABLISHED",
	   reply={src="10.1.1.2", dst="10.0.0.1", sport=8080, dport=1007}}'
is "$(conntrack -C)" 7 "seven entries made (four stale)"
RULES="--unreplied-udp 0 --dead-backend 10.66.0.0/24 --mark 99"
conntrack -L 2>/dev/null | sort > "$T_TMP/before"
out=$("$CTLUA" "$S" -- --once --dry-run $RULES 2>&1); ok $? "dry run exits 0"
is "$(echo "$out" | grep -c '^would delete')" 4 "dry run names the four stale entries"
like "$(echo "$out" | tail -1)" "^sweep: 7 checked, 4 stale, 0 deleted, 0 already gone, 0 failed \(dry run\)$" "dry run summary line"
is "$(conntrack -C)" 7 "dry run deletes nothing"
like "$out" "would delete \(unreplied-udp\) udp +17 [0-9]+ src=10\.0\.0\.1 dst=10\.0\.0\.53 sport=1001 dport=53 \[UNREPLIED\]" "deletions are logged as conntrack prints the entry"

out=$("$CTLUA" "$S" -- --once $RULES 2>&1); ok $? "sweep exits 0"
like "$(echo "$out" | tail -1)" "^sweep: 7 checked, 4 stale, 4 deleted, 0 already gone, 0 failed$" "sweep summary line"
got=$(conntrack -L 2>/dev/null | sed -E 's/^([a-z]+ +[0-9]+) [0-9]+ /\1 /; s/ use=[0-9]+//' | sort)
want=$(grep -E 'sport=(1005|1006|1007) ' "$T_TMP/before" | sed -E 's/^([a-z]+ +[0-9]+) [0-9]+ /\1 /; s/ use=[0-9]+//' | sort)
is "$got" "$want" "exactly the fresh entries are left (conntrack -L)"
out=$("$CTLUA" "$S" -- --once $RULES 2>&1)
like "$(echo "$out" | tail -1)" "^sweep: 3 checked, 0 stale, 0 deleted" "a second sweep finds nothing"
err=$("$CTLUA" "$S" -- --once --bogus 2>&1); is $? 2 "unknown option exits 2 (a usage error, issue 17)"
like "$err" "unknown option '--bogus'" "unknown option is named"

# expect-pinhole: a connection with the ftp helper gets a pinhole, which then closes.
bg "$T_TMP/p.out" "$T_TMP/p.err" "$CTLUA" "$TOP/scripts/expect-pinhole.lua" -- 2121 3999 1
P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "pinhole script subscribed"
# A plain connection to the helper's port: no PASV, so the helper makes no expectation
# of its own (ftp allows one per master and would evict ours).
"$TGEN" tcp 127.0.0.1 2121 > /dev/null; ok $? "connection to the ftp helper's port"
wait_until 20 grep -q '^pinhole closed' "$T_TMP/p.out"; ok $? "pinhole opened and closed"
stop_pid $P
like "$(cat "$T_TMP/p.out")" "pinhole open:  127\.0\.0\.1 -> 127\.0\.0\.1:3999" "pinhole open logged"
like "$(cat "$T_TMP/p.out")" "\[NEW\] [0-9]+ proto=6 src=127\.0\.0\.1 dst=127\.0\.0\.1 sport=0 dport=3999 .*helper=ftp" "the expectation's expect-new event"
like "$(cat "$T_TMP/p.out")" "\[DESTROY\] [0-9]+ proto=6 src=127\.0\.0\.1 dst=127\.0\.0\.1 sport=0 dport=3999" "the expectation's expect-destroy event"
done_testing
