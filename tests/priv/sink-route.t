#!/bin/bash
# Real traffic: `ctlua -- --json --to tcp:...` and `--to unix:...` deliver what
# `ctlua -- --json > file` writes, and no event enters Lua on the way
# (ctlua_handler_seconds counts each event handed to Lua handlers: none).
. "$(dirname "$0")/../lib/tap.sh"
need_root
for t in socat jq curl; do command -v $t > /dev/null || skip_all "$t missing (make deps)"; done
in_netns "$@"

bg "$T_TMP/tcp.json" /dev/null socat -u TCP-LISTEN:5150,reuseaddr -; C1=$BG_PID
bg "$T_TMP/unix.json" /dev/null socat -u UNIX-LISTEN:"$T_TMP/c.sock" -; C2=$BG_PID
wait_until 10 listening tcp 5150 && wait_until 10 test -S "$T_TMP/c.sock"; ok $? "collectors listen"
bg "$T_TMP/file.json" "$T_TMP/f.err" "$CTLUA" -- --json; P1=$BG_PID
bg /dev/null "$T_TMP/t.err" "$CTLUA" --metrics 9481 -- --json --to tcp:127.0.0.1:5150; P2=$BG_PID
bg /dev/null "$T_TMP/u.err" "$CTLUA" --metrics 9482 -- --json --to "unix:$T_TMP/c.sock"; P3=$BG_PID
# The control: a filtered sink handler is served from Lua, and counted there.
bg /dev/null "$T_TMP/l.err" "$CTLUA" --metrics 9483 -e "ct.on('new', { proto = 'udp' }, assert(ct.sink { to = 'file', path = '/dev/null' }))"; P4=$BG_PID
for p in $P1 $P2 $P3 $P4; do wait_until 10 nl_subscribed $p || break; done; ok $? "four ctlua subscribed"
for p in $(seq 6101 6120); do "$TGEN" udp-oneway 127.0.0.1 $p 43000 > /dev/null; done
news() { [ "$(jq -r 'select(.event == "new" and .orig.sport == 43000) | .orig.dport' "$1" 2>/dev/null | wc -l)" -ge 20 ]; }
for f in file tcp unix; do wait_until 20 news "$T_TMP/$f.json" || break; done; ok $? "20 NEW events in each output"
metric() { scrape $1 | sed -n "s/^$2 //p"; }
for port in 9481 9482; do
	is "$(metric $port 'ctlua_handler_seconds_count')" 0 "port $port: no event was handed to Lua"
	[ "$(metric $port 'ctlua_events_total{event="new"}')" -ge 20 ]; ok $? "port $port: while events were counted"
done
[ "$(metric 9483 'ctlua_handler_seconds_count')" -ge 20 ]; ok $? "the control (a filter: the Lua path) counts its events"
stop_pid $P1; stop_pid $P2; stop_pid $P3; stop_pid $P4
wait $C1 $C2
sel() { jq -c 'select(.event == "new" and .orig.sport == 43000) | del(.time)' "$1"; }
sel "$T_TMP/file.json" > "$T_TMP/file.sel"
is "$(lines "$T_TMP/file.sel")" 20 "the file has the 20 NEW lines"
cmp -s "$T_TMP/file.sel" <(sel "$T_TMP/tcp.json"); ok $? "--to tcp delivered the same lines (time aside: when each received it)"
cmp -s "$T_TMP/file.sel" <(sel "$T_TMP/unix.json"); ok $? "--to unix delivered the same lines"
done_testing
