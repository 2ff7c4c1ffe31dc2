#!/bin/bash
# ct.log: the line format on stderr, a file sink reopened on SIGHUP (logrotate: the
# reload builds a new state, which opens the file again; the count is handed over).
. "$(dirname "$0")/../lib/tap.sh"
err=$("$CTLUA" -e 'ct.log.warn("%s has %d ports", "10.0.0.1", 21) ct.log.info("plain")' 2>&1)
like "$err" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z WARN 10\.0\.0\.1 has 21 ports" "stderr line: time, level, formatted message"
like "$(echo "$err" | tail -1)" "Z INFO plain$" "info level"
err=$("$CTLUA" -e 'ct.log.info("%d", "x")' 2>&1); is $? 1 "a bad format argument raises"
like "$err" "bad argument #1 to 'info'" "naming the call"

F="$T_TMP/rules.log"
bg "$T_TMP/out" "$T_TMP/err" "$CTLUA" -e '
	assert(ct.log.open{to = "file", path = "'"$F"'"})
	local n = (ct.handover() or {}).n or 0
	ct.on("reload", function(saved) saved.n = n end)
	ct.every(0.02, function() n = n + 1 ct.log.info("tick %d", n) end)'
P=$BG_PID
wait_until 10 grep -q 'tick 3$' "$F"; ok $? "messages go to the file"
mv "$F" "$F.1"
kill -HUP $P
wait_until 10 test -s "$F"; ok $? "SIGHUP reopens the file under its name"
wait_until 10 grep -q 'tick' "$F"; ok $? "new messages land in the new file"
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"
last_old=$(tail -1 "$F.1" | sed 's/.*tick //'); first_new=$(head -1 "$F" | sed 's/.*tick //')
is "$first_new" "$((last_old + 1))" "no message lost or doubled across the rotation"
done_testing
