#!/bin/bash
# IPFIX without the kernel: a replayed recording exported to a UDP capture. Flow
# times come from the kernel timestamps when the event has them, else from when
# ctlua saw the NEW event and the DESTROY (the recorded clock here).
. "$(dirname "$0")/../lib/tap.sh"
for t in socat ss; do command -v $t > /dev/null || skip_all "$t missing (make deps)"; done
PORT=$((20000 + $$ % 20000))
cat > "$T_TMP/rec.txt" <<'REC'
[1700000100.250000]	    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=1111 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=1111 id=7
[1700000160.500000]	[DESTROY] udp      17 src=10.0.0.1 dst=10.0.0.2 sport=1111 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=1111 id=7
[1700000200.000000]	[DESTROY] tcp      6 src=10.0.0.1 dst=10.0.0.3 sport=2222 dport=80 src=10.0.0.3 dst=10.0.0.1 sport=80 dport=2222 [ASSURED] delta-time=5 id=8
REC
bg "$T_TMP/cap.bin" /dev/null socat -u UDP4-RECV:$PORT,bind=127.0.0.1 STDOUT; CAP=$BG_PID
wait_until 10 listening udp $PORT; ok $? "a capture listens"
"$CTLUA" --replay "$T_TMP/rec.txt" -e '
	local x = assert(ct.ipfix { collector = "127.0.0.1:'$PORT'" })
	ct.on("destroy", function(ev) x:export(ev) end)
	ct.on("stop", function() x:flush() local s = x:stats() print(s.sent, s.dropped) end)' > "$T_TMP/out.txt" 2> "$T_TMP/err.txt"
ok $? "ctlua replays and exits 0"
is "$(cat "$T_TMP/out.txt")" "2	0" "two records sent"
got() { [ "$(lua5.4 "$TOP/tests/lib/ipfix-decode.lua" "$T_TMP/cap.bin" --records | grep -c '^record')" = 2 ]; }
wait_until 10 got; ok $? "two records captured"
kill $CAP 2> /dev/null
lua5.4 "$TOP/tests/lib/ipfix-decode.lua" "$T_TMP/cap.bin" --records > "$T_TMP/dec.txt"
is "$(grep '^record' "$T_TMP/dec.txt" | sort | tr '\n' ' ')" \
	"record 1111 53 1700000100250 1700000160500 record 2222 80 1700000195000 1700000200000 " \
	"no kernel timestamps: first seen (the NEW) to the DESTROY; with them (delta-time): start and stop"
is "$(tail -1 "$T_TMP/dec.txt" | cut -d' ' -f1)" ok "well-formed messages"

# Over TCP the templates go once per connection: a collector that restarts gets
# them again before any data (the decoder refuses a data set before its template).
TPORT=$((PORT + 1))
collector() { bg "$1" /dev/null socat -u TCP-LISTEN:$TPORT,reuseaddr,bind=127.0.0.1 STDOUT; C=$BG_PID; }
collector "$T_TMP/c1.bin"
wait_until 10 listening tcp $TPORT; ok $? "a TCP collector listens"
bg "$T_TMP/tcp.out" "$T_TMP/tcp.err" "$CTLUA" -e '
	local x = assert(ct.ipfix { collector = "127.0.0.1:'$TPORT'", transport = "tcp", flush = 0.1 })
	local n = 0
	ct.every(0.1, function()
		n = n + 1
		x:export { event = "destroy", id = n, protonum = 17, time = ct.now(),
			orig = { src = "10.0.0.1", dst = "10.0.0.2", sport = 1000 + n, dport = 53 },
			reply = { src = "10.0.0.2", dst = "10.0.0.1", sport = 53, dport = 1000 + n } }
	end)'
X=$BG_PID
records() { [ "$(lua5.4 "$TOP/tests/lib/ipfix-decode.lua" "$1" --records --no-seq 2>/dev/null | grep -c '^record')" -ge "$2" ]; }
wait_until 20 records "$T_TMP/c1.bin" 2; ok $? "records reach collector 1"
kill $C; wait $C 2> /dev/null
collector "$T_TMP/c2.bin"
wait_until 20 records "$T_TMP/c2.bin" 3; ok $? "records reach collector 2 after the reconnection"
stop_pid $X; kill $C 2> /dev/null
# (Lines queued while the collector was away keep their sequence numbers, which
# the templates message sent first on the new connection does not follow.)
lua5.4 "$TOP/tests/lib/ipfix-decode.lua" "$T_TMP/c2.bin" --no-seq > "$T_TMP/c2.txt"
is "$(tail -1 "$T_TMP/c2.txt" | cut -d' ' -f1)" ok "the new connection's stream is well-formed IPFIX"
is "$(awk '$1 == "seq" { print $6; exit }' "$T_TMP/c2.txt")" 1 "its first message carries the templates"
done_testing
