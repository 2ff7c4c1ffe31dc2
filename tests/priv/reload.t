#!/bin/bash
# SIGHUP reloads the scripts into a new Lua state: a good edit takes over with the
# handed-over state and no event lost or repeated across the swap (sequence check
# on 2000 flows, the swap in the middle of them, made slow on purpose so events
# queue meanwhile); a syntax error keeps the running scripts.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"

cat > "$T_TMP/v1.lua" <<'LUA'
local n = 0
ct.on("new", { proto = "udp", dport = 7 }, function(e) n = n + 1 print("v1", e.orig.sport) end)
ct.on("reload", function(saved) saved.v1 = { seen = n, name = "v1" } end)
ct.on("stop", function() io.stderr:write("v1 stop handler ran\n") end)
-- A timer and a running process die with the state, without their callbacks.
ct.every(0.01, function() io.stderr:write("v1 tick\n") end)
ct.spawn({ "sleep", "1" }, function() io.stderr:write("v1 spawn callback\n") end)
LUA
cat > "$T_TMP/v2.lua" <<'LUA'
local h = ct.handover()
-- A slow start: events keep coming meanwhile and must wait in the socket.
local t = os.clock() repeat until os.clock() - t > 0.3
io.stderr:write("v2 loaded, handed over ", h and h.v1 and h.v1.name or "nothing", "\n")
ct.on("new", { proto = "udp", dport = 7 }, function(e) print("v2", e.orig.sport) end)
ct.on("reload", function(saved) saved.v1 = h.v1 end)
ct.on("stop", function()
  io.stderr:write("v2 stop: seen by v1 ", h.v1.seen, ", reloads ", ct.stats().reloads, "\n")
end)
LUA
printf 'ct.on("new", function() print("v3") end\n' > "$T_TMP/bad.lua"

S=$T_TMP/script.lua
cp "$T_TMP/v1.lua" "$S"
bg "$T_TMP/out.txt" "$T_TMP/err.txt" "$CTLUA" "$S"; P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "ctlua subscribed"

# 20 chunks of 100 flows (source ports 40000-41999); after the 5th, the script is
# edited and SIGHUP sent while the traffic goes on.
for i in $(seq 0 19); do
	"$TGEN" -n 100 udp-oneway 127.0.0.1 7 $((40000 + i * 100)) > /dev/null || break
	if [ "$i" = 4 ]; then
		cp "$T_TMP/v2.lua" "$S.new" && mv "$S.new" "$S"
		kill -HUP $P
	fi
done
ok $? "2000 flows sent, SIGHUP in the middle"
wait_until 20 grep -q "^v2 loaded, handed over v1$" "$T_TMP/err.txt"; ok $? "the new state loaded with the handed-over table"

cp "$T_TMP/bad.lua" "$S.new" && mv "$S.new" "$S"
kill -HUP $P
wait_until 20 grep -q "reload failed" "$T_TMP/err.txt"; ok $? "a syntax error is reported"
like "$(grep "reload failed" "$T_TMP/err.txt")" "reload failed, the running scripts go on: .*script.lua:2: " \
	"the report names file:line"
"$TGEN" -n 100 udp-oneway 127.0.0.1 7 42000 > /dev/null
wait_until 20 nl_drained $P
no_child() { ! pgrep -P "$1" sleep > /dev/null; }
wait_until 10 no_child $P; ok $? "the old state's process finished, detached"
kill -0 $P; ok $? "ctlua still runs"
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"

is "$(awk "{ print \$2 }" "$T_TMP/out.txt" | sort -n | uniq | wc -l) $(lines "$T_TMP/out.txt")" "2100 2100" \
	"2100 flows, 2100 lines: none lost, none twice"
is "$(awk '{ print $2 }' "$T_TMP/out.txt" | sort -n | sed -n '1p;$p' | tr '\n' ' ')" "40000 42099 " \
	"from the first source port to the last"
v1=$(grep -c '^v1' "$T_TMP/out.txt"); v2=$(grep -c '^v2' "$T_TMP/out.txt")
[ "$v1" -gt 0 ] && [ "$v2" -gt 100 ]; ok $? "v1 printed $v1 lines before the swap, v2 $v2 after"
is "$(awk '{ print $1 }' "$T_TMP/out.txt" | uniq | tr '\n' ' ')" "v1 v2 " "v1 until the swap, v2 from it on"
is "$(awk '$1 == "v2" && $2 >= 42000' "$T_TMP/out.txt" | wc -l)" 100 "after the failed reload v2 still handles every flow"
is "$(grep -c '^v3' "$T_TMP/out.txt")" 0 "the broken script never ran"
like "$(cat "$T_TMP/err.txt")" "v2 stop: seen by v1 $v1, reloads 1" "ct.handover() carried v1's count; ct.stats().reloads is 1"
is "$(grep -c 'v1 stop handler ran' "$T_TMP/err.txt")" 0 "the replaced state's stop handlers do not run"
is "$(grep -c 'v1 spawn callback' "$T_TMP/err.txt")" 0 "nor its process callbacks"
is "$(sed -n '/^v2 loaded/,$p' "$T_TMP/err.txt" | grep -c 'v1 tick')" 0 "its timers stopped at the swap"

# A handover that is not plain data fails the reload; the running state goes on.
cat > "$S" <<'LUA'
ct.on("new", { proto = "udp", dport = 7 }, function(e) print("f", e.orig.sport) end)
ct.on("reload", function(saved) saved.fn = print end)
LUA
bg "$T_TMP/out2.txt" "$T_TMP/err2.txt" "$CTLUA" "$S"; P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "ctlua subscribed (handover of a function)"
kill -HUP $P
wait_until 20 grep -q "reload failed" "$T_TMP/err2.txt"; ok $? "a function in the handover fails the reload"
like "$(cat "$T_TMP/err2.txt")" "a function cannot be handed over" "and says why"
"$TGEN" -n 3 udp-oneway 127.0.0.1 7 43000 > /dev/null
wait_until 20 nl_drained $P
stop_pid $P
is "$(tr "\t\n" "  " < "$T_TMP/out2.txt")" "f 43000 f 43001 f 43002 " "the running state still handles events"
done_testing
