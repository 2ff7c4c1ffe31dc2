#!/bin/bash
# Socket sinks as handlers: ct.on(name, sink) for tcp, unix, udp and syslog sinks is
# written in C from the message (src/route.c -> src/sink.c), never through Lua, and
# the lines are byte for byte what the file output writes. Recorded input
# (--netlink-file) waits for a stream reader: nothing is dropped.
. "$(dirname "$0")/../lib/tap.sh"
for t in socat perl cmp; do command -v $t > /dev/null || skip_all "$t missing (make deps)"; done
D="$TOP/tests/data"
NL="$T_TMP/big.nl"
lua5.4 "$D/repeat-nl.lua" 20000 "$D/ipv4.nl" "$D/ipv6.nl" > "$NL"
KINDS='{ "new", "update", "destroy", "expect-new", "expect-destroy" }'
# A free TCP port on this (shared) machine.
PORT=$((20000 + $$ % 20000))
while listening tcp $PORT; do PORT=$((PORT + 1)); done
strip_time() { sed -E 's/,"time":[0-9.e+-]+//' "$1"; }
# collect tcp|unix OUT: one stream connection, to OUT until the peer closes it.
collect() {
	if [ "$1" = tcp ]; then
		bg "$2" /dev/null socat -u TCP-LISTEN:$PORT,reuseaddr -; wait_until 10 listening tcp $PORT
	else
		rm -f "$T_TMP/s.sock"
		bg "$2" /dev/null socat -u UNIX-LISTEN:"$T_TMP/s.sock" -; wait_until 10 test -S "$T_TMP/s.sock"
	fi
}

# 1. One process, the same events to a file, a TCP and a unix stream: identical bytes.
#    Each sink's own write method counts calls from Lua: there must be none.
cat > "$T_TMP/three.lua" <<LUA
local tmp, port = os.getenv("TMP"), os.getenv("PORT")
local sinks = {
  file = assert(ct.sink { to = "file", path = tmp .. "/file.json", format = "json" }),
  tcp = assert(ct.sink { to = "tcp", address = "127.0.0.1:" .. port, format = "json" }),
  unix = assert(ct.sink { to = "unix", path = tmp .. "/s.sock", format = "json" }),
}
local from_lua = 0
for _, s in pairs(sinks) do
  local write = s.write
  s.write = function(...) from_lua = from_lua + 1 return write(...) end
  for _, k in ipairs $KINDS do ct.on(k, s) end
end
ct.on("stop", function()
  local out = { "lua", from_lua }
  for _, name in ipairs { "file", "tcp", "unix" } do
    local t = sinks[name]:stats()
    out[#out + 1] = string.format("%s %d %d %d %d", name, t.offered, t.sent, t.dropped, t.pending)
  end
  io.stderr:write(table.concat(out, " "), "\n")
end)
LUA
bg "$T_TMP/tcp.json" /dev/null socat -u TCP-LISTEN:$PORT,reuseaddr -; C1=$BG_PID
wait_until 10 listening tcp $PORT; ok $? "a TCP collector listens"
bg "$T_TMP/unix.json" /dev/null socat -u UNIX-LISTEN:"$T_TMP/s.sock" -; C2=$BG_PID
wait_until 10 test -S "$T_TMP/s.sock"; ok $? "a unix collector listens"
TMP=$T_TMP PORT=$PORT timeout 60 "$CTLUA" --netlink-file "$NL" "$T_TMP/three.lua" 2> "$T_TMP/three.err"
is "$?" 0 "ctlua ends once the collectors have every line"
wait $C1 $C2
n=$(lines "$T_TMP/file.json")
[ "$n" -ge 20000 ]; ok $? "the file has a line per event ($n)"
cmp -s "$T_TMP/file.json" "$T_TMP/tcp.json"; ok $? "the TCP collector got the file's bytes"
cmp -s "$T_TMP/file.json" "$T_TMP/unix.json"; ok $? "the unix collector got the file's bytes"
is "$(cat "$T_TMP/three.err")" "lua 0 file $n $n 0 0 tcp $n $n 0 0 unix $n $n 0 0" \
	"no write from Lua; every line offered and sent, none dropped"

# The counter sees writes from Lua: a filter (here one that takes every event)
# keeps a sink handler on the Lua path.
out=$("$CTLUA" --netlink-file "$NL" -e "local s = assert(ct.sink { to = 'file', path = '$T_TMP/via-lua.json', format = 'json' })
local write, n = s.write, 0
s.write = function(...) n = n + 1 return write(...) end
for _, k in ipairs $KINDS do ct.on(k, {}, s) end
ct.on('stop', function() print(n) end)")
is "$out" "$n" "with a filter every line is written from Lua ($out), so the counter counts"

# 2. The default script: --json --to tcp / unix, as --json > file writes (time aside:
#    it is when each run received the message).
"$CTLUA" --netlink-file "$NL" -- --json > "$T_TMP/log.json"
for k in tcp unix; do
	collect $k "$T_TMP/log-$k.json"; C=$BG_PID
	to="tcp:127.0.0.1:$PORT"; [ $k = unix ] && to="unix:$T_TMP/s.sock"
	timeout 60 "$CTLUA" --netlink-file "$NL" -- --json --to "$to"; rc=$?
	wait $C
	is "$rc" 0 "log.lua --json --to $k: exit 0"
	cmp -s <(strip_time "$T_TMP/log.json") <(strip_time "$T_TMP/log-$k.json")
	ok $? "log.lua --json --to $k writes what --json > file writes ($(lines "$T_TMP/log-$k.json") lines)"
done

# 3. syslog and udp: a datagram per line, syslog with its prefix, from C as from Lua.
cat > "$T_TMP/dgram.pl" <<'PERL'
use IO::Socket::UNIX; use IO::Socket::INET; use Socket;
my ($path, $port, $out, $n) = @ARGV;
my $u = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path) or die "unix: $!";
my $i = IO::Socket::INET->new(Proto => "udp", LocalAddr => "127.0.0.1:$port") or die "udp: $!";
setsockopt($_, SOL_SOCKET, SO_RCVBUF, 8 << 20) for $u, $i;
open(my $f, ">", "$out.tmp") or die; close $f; rename "$out.tmp", "$out.ready";
my ($got, $rin) = (0, "");
open(my $fu, ">", "$out.syslog"); open(my $fi, ">", "$out.udp");
vec($rin, fileno($_), 1) = 1 for $u, $i;
while ($got < $n) {
  select(my $r = $rin, undef, undef, 30) or last;
  for ([$u, $fu], [$i, $fi]) { my ($s, $f) = @$_;
    next unless vec($r, fileno($s), 1); $s->recv(my $d, 65536); print $f "$d\n"; $got++ }
}
close $fu; close $fi; rename "$out.udp", "$out.done.udp"; rename "$out.syslog", "$out.done.syslog";
PERL
# Few events: a unix datagram socket holds 10 unread (net.unix.max_dgram_qlen).
SMALL="$T_TMP/small.nl"
lua5.4 "$D/repeat-nl.lua" 8 "$D/ipv4.nl" "$D/ipv6.nl" > "$SMALL"
"$CTLUA" --netlink-file "$SMALL" -- > "$T_TMP/small.txt"
"$CTLUA" --netlink-file "$SMALL" -- --json > "$T_TMP/small.json"
m=$(lines "$T_TMP/small.txt")
while listening udp $PORT; do PORT=$((PORT + 1)); done
bg /dev/null "$T_TMP/dgram.err" perl "$T_TMP/dgram.pl" "$T_TMP/log.sock" $PORT "$T_TMP/dg" $((4 * m)); P=$BG_PID
wait_until 10 test -e "$T_TMP/dg.ready"; ok $? "datagram listeners (unix, udp)"
cat > "$T_TMP/dgram.lua" <<LUA
local tmp, port, lua = os.getenv("TMP"), os.getenv("PORT"), os.getenv("VIA_LUA") == "1"
for _, o in ipairs {
  { to = "syslog", path = tmp .. "/log.sock", ident = "ctlua-test" },
  { to = "udp", address = "127.0.0.1:" .. port, format = "json" },
} do
  local s = assert(ct.sink(o))
  -- A filter that takes every event keeps the sink on the Lua path.
  for _, k in ipairs $KINDS do if lua then ct.on(k, {}, s) else ct.on(k, s) end end
end
LUA
TMP=$T_TMP PORT=$PORT VIA_LUA=0 "$CTLUA" --netlink-file "$SMALL" "$T_TMP/dgram.lua"; rc1=$?
TMP=$T_TMP PORT=$PORT VIA_LUA=1 "$CTLUA" --netlink-file "$SMALL" "$T_TMP/dgram.lua"; rc2=$?
is "$rc1 $rc2" "0 0" "both runs exit 0"
wait_until 30 test -e "$T_TMP/dg.done.udp"; ok $? "$((4 * m)) datagrams received"
wait $P
pre='^<30>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} ctlua-test\[[0-9]+\]: '
is "$(grep -cE "$pre" "$T_TMP/dg.done.syslog")" $((2 * m)) "every syslog datagram has <PRI>TIMESTAMP ident[PID]: "
cmp -s <(sed -E "s/$pre//" "$T_TMP/dg.done.syslog") <(cat "$T_TMP/small.txt" "$T_TMP/small.txt")
ok $? "after it, the conntrack -E line, from C (first run) as from Lua (second)"
cmp -s <(strip_time "$T_TMP/dg.done.udp") <(strip_time "$T_TMP/small.json"; strip_time "$T_TMP/small.json")
ok $? "udp: one JSON datagram per event, no newline, from C as from Lua"
done_testing
