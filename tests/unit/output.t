#!/bin/bash
# The C output of the default log (ct.on(name, sink) on stdout): every line counted
# once (offered = sent + dropped + pending), and a reader that goes away (ctlua | head)
# ends ctlua, now that SIGPIPE no longer does.
. "$(dirname "$0")/../lib/tap.sh"
NL="$T_TMP/big.nl"
lua5.4 "$TOP/tests/data/repeat-nl.lua" 20000 "$TOP/tests/data/ipv4.nl" "$TOP/tests/data/ipv6.nl" > "$NL"
n=$("$CTLUA" --netlink-file "$NL" -e 'local n = 0 for _, k in ipairs{"new", "update", "destroy", "expect-new", "expect-destroy"} do ct.on(k, function() n = n + 1 end) end ct.on("stop", function() print(n) end)')

stats='ct.on("stop", function() local s = ct.stats().sinks; for name, v in pairs(s) do io.stderr:write(name, " ", v.offered, " ", v.sent, " ", v.dropped, " ", v.pending, "\n") end end)'
"$CTLUA" --netlink-file "$NL" "$TOP/scripts/log.lua" -e "$stats" > "$T_TMP/out" 2> "$T_TMP/err"
is "$(lines "$T_TMP/out")" "$n" "every event is a line ($n)"
read -r _ offered sent dropped pending < "$T_TMP/err"
is "$offered $sent $dropped $pending" "$n $n 0 0" "offered = sent, nothing dropped or pending"

timeout 30 bash -c '"$0" --netlink-file "$1" | head -1 > /dev/null; echo "${PIPESTATUS[0]}"' "$CTLUA" "$NL" > "$T_TMP/rc"
is "$(cat "$T_TMP/rc")" 0 "ctlua | head -1: ctlua ends, exit 0, when its reader has gone"
# Live, nothing ends by itself: a sink on stdout written by a timer.
timeout 30 bash -c '"$0" -e '\''local s = assert(ct.sink{to = "stdout"}) ct.every(0.01, function() s:write("x") end)'\'' | head -1 > /dev/null; echo "${PIPESTATUS[0]}"' "$CTLUA" > "$T_TMP/rc"
is "$(cat "$T_TMP/rc")" 0 "a live ctlua writing to stdout ends too (not 124: killed by timeout)"
# O_NONBLOCK is on the open pipe, which the shell's next command shares: given back.
out=$( { "$CTLUA" -e 'local s = assert(ct.sink{to = "stdout"}) s:write("x") ct.after(0.05, ct.stop)'
	sed -n 's/^flags:[[:space:]]*//p' /proc/self/fdinfo/1; } | cat)
is "$(printf '%s\n' "$out" | head -1)" "x" "the line went through the pipe"
flags=$(printf '%s\n' "$out" | tail -1)
is "$(( 0$flags & 04000 ))" 0 "the pipe is blocking again after ctlua exits (O_NONBLOCK restored; flags $flags)"
done_testing
