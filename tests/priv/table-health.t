#!/bin/bash
# table-health.lua live: a table with a small nf_conntrack_max filled by real flows
# raises the fill alert (naming what fills it and what to do) and the drop alert,
# once each however long it lasts, and both clear when the table recovers.
#
# nf_conntrack_max is one value for every namespace on kernels up to at least 6.18
# (read-only outside the first): where this namespace cannot set its own, the
# test sets it in the namespace it was started in (the first one, where it can be
# set) for the few seconds it runs, and puts it back.
. "$(dirname "$0")/../lib/tap.sh"
need_root
# The namespace the test was started in, kept open on fd 9 across in_netns.
[ -n "${CTLUA_IN_NETNS:-}" ] || exec 9< /proc/self/ns/net
in_netns "$@"

MAX=/proc/sys/net/netfilter/nf_conntrack_max
LIMIT=64
if [ -w $MAX ] && echo $LIMIT 2>/dev/null > $MAX; then
	set_max() { echo "$1" > $MAX; }
	note "nf_conntrack_max set in this namespace"
else
	command -v nsenter > /dev/null || skip_all "nsenter missing (util-linux)"
	old=$(nsenter --net=/proc/self/fd/9 cat $MAX) || skip_all "cannot read the starting namespace's nf_conntrack_max"
	# Each namespace counts its own entries against the one maximum: lowering it
	# must not drop the host's own traffic for those seconds.
	host=$(nsenter --net=/proc/self/fd/9 conntrack -C 2>/dev/null) || skip_all "cannot count the starting namespace's entries"
	[ "$host" -lt $((LIMIT / 2)) ] || skip_all "the starting namespace holds $host entries: a global nf_conntrack_max of $LIMIT would drop its traffic"
	set_max() { nsenter --net=/proc/self/fd/9 sh -c "echo $1 > $MAX"; }
	trap 'set_max "$old"; cleanup' EXIT
	set_max $LIMIT || skip_all "cannot set nf_conntrack_max"
	note "nf_conntrack_max is global here: set to $LIMIT for this test (was $old)"
fi
is "$(cat $MAX)" $LIMIT "nf_conntrack_max is $LIMIT"

bg "$T_TMP/out" "$T_TMP/err" "$CTLUA" "$TOP/scripts/table-health.lua" \
	-e 'ct.after(0, function() io.stderr:write("ready\n") end)' \
	-e 'ct.every(1, function() io.stderr:write("tick\n") end)' -- --interval 1 --top 3
P=$BG_PID
wait_until 10 grep -q '^ready' "$T_TMP/err"; ok $? "table-health took its first reading"

# flows N PORT — N UDP flows to ports PORT..., each from its own socket; those the
# kernel drops fail with EPERM (and tgen with them): expected here.
flows() { for i in $(seq 0 $(($1 - 1))); do "$TGEN" udp-oneway 127.0.0.1 $(($2 + i)) > /dev/null 2>&1; done; true; }
# 100 UDP flows to 100 ports: 64 fit, the rest are dropped (the table is full and
# no entry is evictable in the few buckets the kernel looks at) or push others out.
flows 100 9000
like "$(conntrack -S | tr -s ' \t' ' ')" "drop=[1-9]|early_drop=[1-9]" "the kernel dropped: $(conntrack -S | grep -o ' drop=[0-9]*\| early_drop=[0-9]*' | tr -d '\n')"
wait_until 10 grep -q 'WARN table-health: table' "$T_TMP/err"; ok $? "the fill alert"
wait_until 10 grep -q 'WARN table-health: [0-9]* \(packets dropped\|entries evicted early\)' "$T_TMP/err"; ok $? "the drop alert"
fill=$(grep 'WARN table-health: table' "$T_TMP/err")
note "$fill" "$(grep 'WARN table-health: [0-9]' "$T_TMP/err")"
like "$fill" "table (9[0-9]|100)% full \(6[0-4]/$LIMIT entries\)" "it says how full"
like "$fill" "raise net\.netfilter\.nf_conntrack_max \(now $LIMIT" "what to raise"
like "$fill" "udp \(unreplied\) [0-9]+ -> net\.netfilter\.nf_conntrack_udp_timeout;" "which timeout keeps most of it"
like "$fill" "top sources 127\.0\.0\.1 6[0-4]; destinations 127\.0\.0\.1 6[0-4]; ports udp/9[0-9]+ 1" "and which flows fill it"
like "$(grep 'WARN table-health: [0-9]* packets dropped' "$T_TMP/err")" "the table is full, new connections fail: raise net\.netfilter\.nf_conntrack_max" "the drop alert says why and what to do"

# Still full a while later, and more flows dropped: no second alert.
flows 20 9500
# The test's own timer runs right after the script's, on the same interval: each
# "tick" is one more reading done.
ticks() { grep -c '^tick' "$T_TMP/err"; }
t0=$(ticks)
more_ticks() { [ "$(ticks)" -ge $((t0 + 3)) ]; }
wait_until 10 more_ticks; ok $? "three more readings"
is "$(grep -c 'WARN table-health: table' "$T_TMP/err")" 1 "one fill alert while it lasts"
is "$(grep -c 'WARN table-health: [0-9]* packets dropped' "$T_TMP/err")" 1 "one drop alert"

# Recovery: the table empties; both conditions clear.
conntrack -F 2> /dev/null
wait_until 10 grep -q 'INFO table-health: fill: cleared' "$T_TMP/err"; ok $? "the fill alert clears"
wait_until 10 grep -q 'INFO table-health: \(packets dropped\|entries evicted early\): cleared' "$T_TMP/err"; ok $? "the drop alert clears"
stop_pid $P; is "$STOP_RC" 0 "table-health exits 0"
[ "$T_FAIL" -gt 0 ] && diag "$(grep -v "^tick" "$T_TMP/err")"
[ -n "${old:-}" ] && set_max "$old"

out=$("$CTLUA" "$TOP/scripts/table-health.lua" -- --help 2>/dev/null); rc=$?
is "$rc" 0 "--help exits 0"
like "$out" "^usage: ctlua scripts/table-health\.lua" "--help prints the usage on stdout"
like "$out" "^  --fill PCT +alert when the table is PCT% full \(default 90\)" "--help gives each option's meaning and default"
"$CTLUA" "$TOP/scripts/table-health.lua" -- --no-such-option > /dev/null 2>&1; is $? 2 "a bad argument exits 2 (a usage error)"
done_testing
