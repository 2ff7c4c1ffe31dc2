#!/bin/bash
# Issue 17, a new user's first hour, the defects a test can show without root:
# option errors as getopt tools word them, the help, --check without the kernel,
# script options (--help, --opt=value, one-line usage errors, exit 2), sinks named
# by host and udp:, failing sinks that say so, one JSON type per field, and what
# a replay does with exporters. Numbers are the issue's defects.
. "$(dirname "$0")/../lib/tap.sh"
for t in socat ss; do command -v $t > /dev/null || skip_all "$t missing (make deps)"; done
S="$TOP/scripts"
D="$TOP/tests/data"
PORT=$((21000 + $$ % 20000))

# 6: a missing argument is said as getopt says it, exit 2.
for o in --metrics -e -b --replay --netns --memory-limit; do
	err=$("$CTLUA" $o 2>&1); rc=$?
	is "$rc" 2 "$o without its argument exits 2"
	is "$(echo "$err" | head -1)" "ctlua: option '$o' requires an argument" "$o: 'requires an argument'"
done
like "$("$CTLUA" --no-such 2>&1)" "bad option '--no-such'" "an unknown option is still 'bad option'"

# 17: --netlink-file (a test option) is not in the help; --replay names the path once.
"$CTLUA" --help | grep -q -- '--netlink-file'; is $? 1 "--netlink-file is not in the user help"
like "$("$CTLUA" --help)" "SIGHUP reloads the scripts, unless it comes from ctlua's terminal closing" "the help says what SIGHUP does"
is "$("$CTLUA" --replay /nonexistent/x 2>&1)" "ctlua: cannot replay /nonexistent/x: No such file or directory" \
	"--replay of a missing file names it once"

# 12: --check loads the scripts as a start would, without the kernel.
err=$("$CTLUA" --check -e 'ct.on("new", {dprot = 1}, print)' 2>&1); rc=$?
is "$rc" 1 "--check fails on an unknown filter field"
like "$err" "unknown filter field 'dprot'" "and names it"
"$CTLUA" --check -e 'ct.on("new", {dport = 1}, print)'; is $? 0 "--check passes a good filter"
"$CTLUA" --check "$S/portscan.lua" -- --ports x 2>/dev/null; is $? 2 "--check runs the scripts' option parsing (usage error: 2)"
for s in log portscan rate-alert expect-watch flowlog top; do
	"$CTLUA" --check "$S/$s.lua"; ok $? "--check $s.lua"
done
# ... and opens no socket, runs no command, touches no table: a collector that
# would see a connection, a command that would leave a file.
bg "$T_TMP/chk.col" /dev/null socat -u TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr OPEN:"$T_TMP/chk.got",creat; C=$BG_PID
wait_until 10 listening tcp $PORT; ok $? "a TCP collector listens"
out=$("$CTLUA" --check -e "
	local s = assert(ct.sink { to = 'tcp', address = '127.0.0.1:$PORT' }); s:write('x')
	ct.spawn({ 'touch', '$T_TMP/spawned' })
	for e in ct.entries() do print('entry') end
	ct.after(0, function() print('timer ran') end)" 2>&1); rc=$?
is "$rc" 0 "--check of a script that writes to a sink, spawns and lists the table exits 0"
is "$out" "" "nothing ran: no timer, no table entry"
kill $C 2>/dev/null; wait $C 2>/dev/null
[ ! -e "$T_TMP/spawned" ]; ok $? "no command was run"
[ ! -s "$T_TMP/chk.got" ]; ok $? "no connection was made"

# 7: every script has a --help (exit 0) that lists each option its header documents.
for f in "$S"/*.lua; do
	s=$(basename "$f")
	out=$("$CTLUA" "$f" -- --help 2>&1); rc=$?
	is "$rc" 0 "$s --help exits 0"
	like "$out" "^usage: ctlua " "$s --help starts with its usage"
	missing=
	for o in $(sed -n '/^[^-]/q; s/^--  *\(--[a-z][a-z-]*\).*/\1/p' "$f" | sort -u); do
		printf '%s\n' "$out" | grep -q -- "^  $o\b" || missing="$missing $o"
	done
	is "$missing" "" "$s --help lists every option of its header"
done
like "$("$CTLUA" "$S/portscan.lua" -- --help)" "^  --ports N +distinct destination ports per source \(default 20\)" \
	"an option's line: name, argument, meaning, default"
# A continuation line that begins with an option's name still continues the one above.
like "$("$CTLUA" "$S/portscan.lua" -- --help)" "^  --quiet-for S .*with --block-for, that time: a scanner back after its block is caught again\)$" \
	"a help text continued on a line that starts with --block-for stays whole"
like "$("$CTLUA" "$S/expect-pinhole.lua" -- --help)" "^  SECONDS +how long the pinhole stays open \(default 10\)" \
	"positional arguments are listed too"
# --opt=value is --opt value.
a=$("$CTLUA" --replay "$D/scan.txt" "$S/portscan.lua" -- --ports 30 2>&1)
b=$("$CTLUA" --replay "$D/scan.txt" "$S/portscan.lua" -- --ports=30 2>&1)
is "$b" "$a" "--ports=30 is --ports 30"
# A usage error: one line, no traceback, exit 2; cleanup-stale and expect-pinhole too.
for c in "portscan.lua --ports" "portscan.lua --ports=x" "flowlog.lua --json=1" "cleanup-stale.lua --bogus" \
	"cleanup-stale.lua --once" "expect-pinhole.lua" "expect-pinhole.lua 21 x" "expect-pinhole.lua 1 2 3 4" \
	"log.lua --to nowhere" "log.lua --to tcp:nohostport"; do
	set -- $c
	err=$("$CTLUA" "$S/$1" -- "${@:2}" 2>&1); rc=$?
	is "$rc $(printf '%s\n' "$err" | wc -l)" "2 1" "$c: exit 2, one line"
	like "$err" "^ctlua: ${1//./\\.}: " "$c: names the script ($err)"
done

# 8, 9: sinks by host name (resolved off the loop), udp: from --to, bad sinks in one line.
bg "$T_TMP/tcp.got" /dev/null socat -u TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr -; C=$BG_PID
wait_until 10 listening tcp $PORT; ok $? "a TCP collector listens on 127.0.0.1"
timeout 30 "$CTLUA" --netlink-file "$D/ipv4.nl" -- --to tcp:localhost:$PORT 2> "$T_TMP/tcp.err"; rc=$?
is "$rc" 0 "--to tcp:localhost:PORT is accepted"
wait $C
same_file "$T_TMP/tcp.got" <("$CTLUA" --netlink-file "$D/ipv4.nl") "the collector named by host got every line"
is "$(cat "$T_TMP/tcp.err")" "" "and nothing was said: nothing failed"
bg "$T_TMP/udp.got" /dev/null socat -u UDP4-RECV:$PORT,bind=127.0.0.1 -; C=$BG_PID
wait_until 10 listening udp $PORT; ok $? "a UDP collector listens"
"$CTLUA" --netlink-file "$D/ipv4.nl" -- --to udp:localhost:$PORT; is $? 0 "--to udp:localhost:PORT is accepted"
want=$("$CTLUA" --netlink-file "$D/ipv4.nl" | wc -l)
# (a datagram is one record, no newline)
got_udp() { [ "$(grep -o 'DESTROY\]' "$T_TMP/udp.got" | wc -l)" -ge 1 ]; }
wait_until 10 got_udp; ok $? "UDP datagrams arrived"
kill $C 2>/dev/null; wait $C 2>/dev/null
err=$("$CTLUA" --netlink-file "$D/ipv4.nl" -- --to file:/nonexistent/dir/x.log 2>&1); rc=$?
is "$rc $(printf '%s\n' "$err" | wc -l)" "3 1" "--to file:/nonexistent/dir/x.log: exit 3, one line"
is "$err" "ctlua: log.lua: cannot open file:/nonexistent/dir/x.log: No such file or directory" "and says why"
err=$("$CTLUA" -e 'ct.sink { to = "tcp", address = "a b:1" }' 2>&1)
like "$err" "bad argument #1 to 'sink' \(HOST:PORT expected\)" "a malformed address is misuse, named"

# 10: a failing sink says so once, again when it works, and at close what it dropped.
err=$(timeout 30 "$CTLUA" --netlink-file "$D/ipv4.nl" -- --to "syslog:$T_TMP/no.sock" 2>&1)
is "$(printf '%s\n' "$err" | grep -c 'cannot send: No such file or directory; dropping lines until it works again')" 1 \
	"syslog with no socket: one warning"
like "$err" "^ctlua: sink syslog:$T_TMP/no.sock: $want of $want lines dropped$" "and at exit how many lines it dropped"
cat > "$T_TMP/flap.lua" <<LUA
local s = assert(ct.sink { to = "tcp", address = "localhost:$PORT" })
local was = false
ct.every(0.05, function()
  s:write("x")
  local st = s:stats()
  if was and not st.connected and st.pending > 0 then io.stderr:write("queued while away\n") was = false end
  was = was or st.connected
end)
LUA
bg /dev/null "$T_TMP/flap.err" "$CTLUA" "$T_TMP/flap.lua"; P=$BG_PID
wait_until 10 grep -q 'cannot connect: Connection refused' "$T_TMP/flap.err"; ok $? "a dead collector: 'cannot connect'"
bg "$T_TMP/flap.got" /dev/null socat -u TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr -; C=$BG_PID
wait_until 20 grep -q 'working again' "$T_TMP/flap.err"; ok $? "once it listens: 'working again'"
kill $C; wait $C 2>/dev/null
wait_until 20 grep -q 'connection lost' "$T_TMP/flap.err"; ok $? "it goes away: 'connection lost'"
wait_until 20 grep -q 'queued while away' "$T_TMP/flap.err"
stop_pid $P
is "$(grep -c 'cannot connect\|connection lost' "$T_TMP/flap.err")" 2 "one warning each time it starts failing, not one a line"
like "$(tail -1 "$T_TMP/flap.err")" "^ctlua: sink tcp:localhost:$PORT: [1-9][0-9]* of [0-9]+ lines dropped$" "at exit: what was dropped"

# 11: one JSON type per field: lists are arrays even when empty.
is "$("$CTLUA" -e 'print(ct.json { a = ct.array(), b = ct.array { 1, 2 }, c = {} })')" '{"a":[],"b":[1,2],"c":{}}' \
	"ct.array(): [] when empty; a plain empty table stays {}"
"$CTLUA" --netlink-file "$D/ipv4.nl" "$S/log.lua" -- --json > "$T_TMP/rec.json"
"$CTLUA" --replay "$T_TMP/rec.json" "$S/flowlog.lua" -- --json 2>/dev/null > "$T_TMP/flows.json"
# Each key's JSON types over every record, from the text (lua-cjson decodes {} and
# [] alike): the keys seen both as an object and as an array.
types() { lua5.4 - "$1" <<<'
	local seen, n = {}, 0
	for l in io.lines(arg[1]) do
		n = n + 1
		for k, open in l:gmatch([["([%w_]+)":([%[{])]]) do
			seen[k] = seen[k] or {}
			seen[k][open] = true
		end
	end
	local bad = {}
	for k, t in pairs(seen) do if t["["] and t["{"] then bad[#bad + 1] = k end end
	table.sort(bad)
	print(n .. " records: " .. table.concat(bad, " "))'; }
is "$(types "$T_TMP/flows.json")" "$(lines "$T_TMP/flows.json") records: " "flowlog --json: no field is an array in one record and an object in another"
like "$(cat "$T_TMP/flows.json")" '"proto":"udp".*"states":\[\]' "a flow without states has \"states\":[]"
is "$(types "$T_TMP/rec.json")" "$(lines "$T_TMP/rec.json") records: " "events as JSON: one type per field too"
is "$("$CTLUA" --replay "$D/scan.txt" -e 'ct.on("stop", function() print(ct.json(ct.stats().groups)) end)')" "[]" \
	"ct.stats().groups with none: []"

# 13: in a replay exporters run for real, on the recording's clock; this host's
# sysctls are not the recording's, and a recording without times is not 1970.
out=$("$CTLUA" --replay "$D/ipv4.conntrack" "$S/ipfix-export.lua" -- --collector 127.0.0.1:9 2>&1)
like "$out" "ipfix-export: 5 records sent" "ipfix-export on a replay sends its records"
is "$(printf '%s\n' "$out" | grep -c '1970-\|nf_conntrack_')" 0 "no 1970 dates, no warning about this host's sysctls"
out=$("$CTLUA" --replay "$D/ipv4.conntrack" -e 'print(math.abs(ct.now() - os.time()) < 60)')
is "$out" "true" "a recording without times replays on the clock of when it is replayed"
done_testing
