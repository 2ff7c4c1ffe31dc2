# tests/lib/events.sh — real traffic in a fresh netns; ctlua's tables checked field by
# field, and its ct.format() lines compared with conntrack -E / -E expect (the oracle).
# Sourced by events-ipv4.t / events-ipv6.t with FAMILY and ADDR set.
need_root
in_netns "$@"
short_timeouts
[ "${ACCT:-0}" = 1 ] && echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct

bg "$T_TMP/ct.txt" "$T_TMP/ct.err" conntrack -E;           CT_PID=$BG_PID
bg "$T_TMP/exp.txt" "$T_TMP/exp.err" conntrack -E expect;  EXP_PID=$BG_PID
bg "$T_TMP/ctlua.out" "$T_TMP/ctlua.err" "$CTLUA" "$TOP/tests/priv/record.lua" -- "$T_TMP/ctlua"
LUA_PID=$BG_PID
wait_until 10 nl_subscribed $CT_PID && wait_until 10 nl_subscribed $EXP_PID &&
	wait_until 10 nl_subscribed $LUA_PID
ok $? "ctlua and both conntrack -E listeners subscribed"

{
	"$TGEN" tcp "$ADDR" 5555 40001
	"$TGEN" udp "$ADDR" 5353 40002
	"$TGEN" icmp "$ADDR" 4242
	"$TGEN" ftp "$ADDR" 2121
	"$TGEN" ftp "$ADDR" 2121 --data
} > "$T_TMP/tgen.out" 2> "$T_TMP/tgen.err"
ok $? "traffic generated ($(wc -l < "$T_TMP/tgen.out") operations)"

# Entries time out within ~1 s; listing evicts expired ones, so DESTROYs come promptly.
wait_until 60 table_empty; ok $? "every entry destroyed"
wait_until 20 sh -c "[ \$(wc -l < '$T_TMP/ctlua.fmt') -ge \$(( \$(wc -l < '$T_TMP/ct.txt') + \$(wc -l < '$T_TMP/exp.txt') )) ]"
ok $? "ctlua saw as many events as conntrack -E and -E expect together"

stop_pid $LUA_PID; is "$STOP_RC" 0 "ctlua exits 0 on SIGTERM"
stop_pid $CT_PID; stop_pid $EXP_PID
[ -s "$T_TMP/ctlua.stats" ]; ok $? "stop handler ran on SIGTERM"

# Oracle: the same lines, event by event (order between the two streams aside).
grep -v '^ *\[[A-Z]*\] [0-9]* proto=' "$T_TMP/ctlua.fmt" | sort > "$T_TMP/lua-ct.txt"
grep '^ *\[[A-Z]*\] [0-9]* proto=' "$T_TMP/ctlua.fmt" | sort > "$T_TMP/lua-exp.txt"
sort "$T_TMP/ct.txt" > "$T_TMP/ct.sorted"
sort "$T_TMP/exp.txt" > "$T_TMP/exp.sorted"
[ "$(lines "$T_TMP/ct.sorted")" -ge 15 ]; ok $? "conntrack -E saw the traffic ($(lines "$T_TMP/ct.sorted") events)"
[ "$(lines "$T_TMP/exp.sorted")" -ge 4 ]; ok $? "conntrack -E expect saw the expectations ($(lines "$T_TMP/exp.sorted") events)"
same_file "$T_TMP/lua-ct.txt" "$T_TMP/ct.sorted" "ct.format lines equal conntrack -E ($FAMILY)"
same_file "$T_TMP/lua-exp.txt" "$T_TMP/exp.sorted" "ct.format lines equal conntrack -E expect ($FAMILY)"

tap_lua "$TOP/tests/priv/check_events.lua" "$T_TMP/ctlua.json" "$T_TMP/tgen.out" "$FAMILY"
if [ "${ACCT:-0}" = 1 ]; then
	grep -q '"packets":' "$T_TMP/ctlua.json"; ok $? "counters reach the tables with nf_conntrack_acct=1"
fi
[ -s "$T_TMP/ctlua.err" ] && note "ctlua stderr:" "$(cat "$T_TMP/ctlua.err")"
done_testing
