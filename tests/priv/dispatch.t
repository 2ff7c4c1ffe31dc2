#!/bin/bash
# Filters select exactly the matching events; handler errors are contained.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
short_timeouts

bg "$T_TMP/out" "$T_TMP/err" "$CTLUA" "$TOP/tests/priv/dispatch.lua"; PID=$BG_PID
wait_until 10 nl_subscribed $PID; ok $? "ctlua subscribed"
{
	"$TGEN" tcp 127.0.0.1 5555 41001
	"$TGEN" udp 127.0.0.1 5353 41002
	"$TGEN" icmp 127.0.0.1 77
	"$TGEN" tcp ::1 5555 41003
	"$TGEN" udp ::1 5353 41004
} > "$T_TMP/tgen.out"; ok $? "traffic generated"
wait_until 60 table_empty; ok $? "every entry destroyed"
# Five flows: five DESTROY events once ctlua has read everything.
wait_until 20 sh -c "[ \$(grep -c '^destroy\$' '$T_TMP/err') -ge 5 ]"
ok $? "ctlua read the five DESTROY events"
stop_pid $PID; is "$STOP_RC" 0 "ctlua exits 0 on SIGTERM"
tap_include dispatch.lua "$(cat "$T_TMP/out")"
like "$(grep -m1 "error in 'new' handler" "$T_TMP/err")" \
	"error in 'new' handler \(.*dispatch\.lua:[0-9]+\): .*dispatch\.lua:[0-9]+: boom on tcp" \
	"handler error names the handler's file:line and the error"
grep -q "stack traceback:" "$T_TMP/err"; ok $? "handler error carries a traceback"
done_testing
