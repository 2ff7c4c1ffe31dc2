#!/bin/bash
# Escapes from the time budget: each construct below used to hang ctlua for good
# (deaf to SIGTERM). Now each ends within a bound: the later events are still
# delivered, or, where Lua runs no hook (inside a C function, inside __gc), the
# watchdog ends the process with status 4 and says why. SIGTERM during each ends
# the process within a bound too. Every run is capped by timeout(1) at 60 s; the
# assertions ask for 15 s.
. "$(dirname "$0")/../lib/tap.sh"
D="$TOP/tests/data"
BOUND_MS=15000

# The escape runs in the 2nd 'new' event of the 5 replayed; a second handler counts
# deliveries (m); the stop handler prints n, m, timeouts, handler errors.
declare -A ESC
ESC[coroutine]='local co = coroutine.wrap(function() while true do end end)   -- made at load
	ct.on("new", function() n = n + 1 if n == 2 then escaping() co() end end)'
ESC[pcall]='ct.on("new", function() n = n + 1
		if n == 2 then escaping() while true do pcall(function() while true do end end) end end end)'
ESC[gc]='ct.on("new", function() n = n + 1
		if n == 2 then escaping() setmetatable({}, {__gc = function() while true do end end}) collectgarbage() end end)'
ESC[pattern]='ct.on("new", function() n = n + 1
		if n == 2 then escaping() string.rep("a", 5000):match(("a*"):rep(6) .. "b") end end)'
ESC[recursion]='local function f() return 1 + f() end
	ct.on("new", function() n = n + 1 if n == 2 then escaping() end f() end)'
ESC[sethook]='ct.on("new", function() n = n + 1 if n == 2 then escaping() debug.sethook() while true do end end end)'

script() {
	printf '%s\n' 'n, m = 0, 0
	function escaping() io.stderr:write("escaping\n") end' "${ESC[$1]}" '
	ct.on("new", function() m = m + 1 end)
	ct.on("stop", function() local s = ct.stats() print(n, m, s.timeouts, s.handler_errors) end)'
}

# run TIMEOUT_MS NAME: replays with that budget; $RC, $MS, $T_TMP/NAME.out/.err
run() {
	_t0=$(date +%s%N)
	timeout -s KILL 60 "$CTLUA" --replay "$D/ipv4.conntrack" --handler-timeout "$1" -e "$(script "$2")" \
		>"$T_TMP/$2.out" 2>"$T_TMP/$2.err"
	RC=$?
	MS=$(( ($(date +%s%N) - _t0) / 1000000 ))
	note "$2, budget $1 ms: exit $RC after $MS ms"
}

# sigterm NAME: as run with no budget at all, SIGTERM once the escape has begun;
# $RC and $MS (from the signal to the exit)
sigterm() {
	timeout -s KILL 60 "$CTLUA" --replay "$D/ipv4.conntrack" --handler-timeout 0 -e "$(script "$1")" \
		>"$T_TMP/$1.tout" 2>"$T_TMP/$1.terr" &
	_p=$!
	T_PIDS="$T_PIDS $_p"
	wait_until 15 grep -q escaping "$T_TMP/$1.terr" || diag "$1: the escape did not begin"
	_t0=$(date +%s%N)
	kill -TERM "$_p"           # timeout(1) passes it on to ctlua
	wait "$_p"
	RC=$?
	MS=$(( ($(date +%s%N) - _t0) / 1000000 ))
	note "$1, SIGTERM: exit $RC after $MS ms"
}
within() { [ "$MS" -le "$BOUND_MS" ] && pass "$1 ($MS ms)" || { fail "$1 ($MS ms)"; }; }

# (a) a coroutine made at load time has the hook too.
run 100 coroutine
is "$(cat "$T_TMP/coroutine.out")" "5	5	1	1" "coroutine made at load: interrupted once, every event and handler still runs"
within "coroutine: done within the bound"

# (b) a handler catching the interruption is interrupted again after a second
# budget, and then at every instruction until its event's delivery returns (the
# other handler of that event fails with it: m is 4).
run 100 pcall
is "$(cat "$T_TMP/pcall.out")" "5	4	2	2" "pcall loop: interrupted twice, the error sticks, later events delivered"
like "$(cat "$T_TMP/pcall.err")" "handler exceeded 100 ms" "pcall loop: reported as the budget"
within "pcall loop: done within the bound"

# (c) a looping __gc: Lua runs no hook in finalizers; the watchdog ends it.
run 100 gc
is "$RC" 4 "looping __gc: the watchdog ends ctlua with status 4"
like "$(cat "$T_TMP/gc.err")" "ctlua: a call into Lua has run [0-9]+ ms, past its 100 ms budget, where it cannot be interrupted" \
	"looping __gc: the watchdog says why"
within "looping __gc: ended within the bound"

# (c') the same finalizer, left to run when the state closes at exit.
# (anchored in a global, so that only closing the state at exit finalizes it, not
# whatever collection the replay happens to run)
ESC[gc_at_exit]='keep = setmetatable({}, {__gc = function() while true do end end})
	ct.on("new", function() n = n + 1 end)'
run 100 gc_at_exit
is "$RC:$(cat "$T_TMP/gc_at_exit.out")" "4:5	5	0	0" "looping __gc at exit: every event and the stop handler ran, then status 4"
within "looping __gc at exit: ended within the bound"

# (d) a pathological pattern: hours inside string.match, where no hook runs.
run 100 pattern
is "$RC" 4 "pathological pattern: the watchdog ends ctlua with status 4"
like "$(cat "$T_TMP/pattern.err")" "where it cannot be interrupted \(a C function such as string.match" "pathological pattern: the watchdog says why"
within "pathological pattern: ended within the bound"

# (e) unbounded recursion in every event: a cheap error past 10000 nested calls
# instead of Lua's million stack slots (1.5 s per event); an error, not a timeout.
run 100 recursion
is "$(cat "$T_TMP/recursion.out")" "5	5	0	5" "recursion: one error per event, every event delivered, no timeout"
like "$(cat "$T_TMP/recursion.err")" "stack overflow \(more than 10000 nested calls\)" "recursion: reported as a stack overflow"
case "$CTLUA" in *asan*) LIM=10000 ;; *) LIM=3000 ;; esac
[ "$MS" -le "$LIM" ]; ok $? "recursion: 5 overflows in $MS ms (at most $LIM)"

# A script that removes the hook itself (debug.sethook()) still meets the watchdog.
run 100 sethook
is "$RC" 4 "debug.sethook() then a loop: the watchdog ends ctlua with status 4"
within "debug.sethook: ended within the bound"

# SIGTERM during each escape, with no budget at all: the hook stops Lua code at
# once (exit 0, the stop handlers run); where no hook runs, the watchdog exits 4
# 5 s after the signal.
ESC[loop]='ct.on("new", function() n = n + 1 if n == 2 then escaping() while true do end end end)'
ESC[recursion]='local function f() return 1 + f() end
	ct.on("new", function() n = n + 1 if n == 2 then escaping() while true do pcall(f) end end end)'
for k in loop coroutine pcall recursion; do
	sigterm $k
	is "$RC:$(cut -f1 "$T_TMP/$k.tout")" "0:2" "$k, SIGTERM: clean stop, stop handlers run"
	within "$k, SIGTERM: stopped within the bound"
done
for k in gc pattern; do
	sigterm $k
	is "$RC" 4 "$k, SIGTERM: the watchdog ends ctlua with status 4"
	like "$(cat "$T_TMP/$k.terr")" "still running 5 s after signal 15" "$k, SIGTERM: the watchdog says why"
	within "$k, SIGTERM: ended within the bound"
done

# SIGTERM while a script is still loading (no budget applies then).
timeout -s KILL 60 "$CTLUA" -e 'io.stderr:write("escaping\n") while true do end' >/dev/null 2>"$T_TMP/load.err" &
p=$!
T_PIDS="$T_PIDS $p"
wait_until 15 grep -q escaping "$T_TMP/load.err"
t0=$(date +%s%N)
kill -TERM $p
wait $p
RC=$?
MS=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$RC" 0 "SIGTERM while loading: clean stop"
like "$(cat "$T_TMP/load.err")" "signal 15 while loading the scripts, stopping" "SIGTERM while loading: said so"
within "SIGTERM while loading: stopped within the bound"
done_testing
