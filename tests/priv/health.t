#!/bin/bash
# Table health: ct.cpu_stats() equals `conntrack -S` field by field in a quiet
# namespace, ct.expect.cpu_stats() equals `conntrack -S exp`, ct.max() equals
# nf_conntrack_max; the same per namespace with --netns; /metrics carries
# ctlua_conntrack_max and the per-CPU counters summed, and promtool accepts it.
# Each read runs after ctlua dropped its privileges (from a timer), as in production.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"

# Traffic first, so that the counters are not all 0: flows, an ftp expectation
# that is used (expect_create, expect_new), and entries made over ctnetlink (the
# kernel counts `insert` for those only).
"$TGEN" udp 127.0.0.1 5353 > /dev/null && "$TGEN" tcp 127.0.0.1 8080 > /dev/null &&
	"$TGEN" ftp 127.0.0.1 2121 --data > /dev/null
ok $? "traffic made: udp, tcp, an ftp data connection"
# insert_n N — N entries made with conntrack -I (here, or run with ip netns exec)
insert_n() { for i in $(seq 1 "$1"); do conntrack -I -p udp -s 10.7.0.1 -d 10.7.0.2 --sport $((1000 + i)) --dport 53 -t 60 2>/dev/null || return 1; done; }
insert_n 3; ok $? "3 entries made with conntrack -I"

# One line per CPU, its fields sorted: "cpu=0 drop=0 early_drop=0 ...".
norm() { while read -r l; do printf '%s\n' "$l" | tr -s ' \t' '\n' | grep . | sort | paste -sd' '; done; }
# sum FIELD — the sum over the normalised rows on stdin of FIELD=N
sum() { grep -o "\b$1=[0-9]*" | cut -d= -f2 | paste -sd+ | bc; }
cat > "$T_TMP/rows.lua" <<'LUA'
-- Prints the rows of ct.cpu_stats / ct.expect.cpu_stats (arg: "ct" or "exp", and
-- a namespace) as conntrack -S does, once privileges are dropped.
local kind, ns = ...
ct.after(0, function()
  local rows, msg = (kind == "exp" and ct.expect.cpu_stats or ct.cpu_stats)(ns)
  if not rows then print("error", msg) end
  for _, r in ipairs(rows or {}) do
    local t = {}
    for k, v in pairs(r) do t[#t + 1] = k .. "=" .. v end
    print(table.concat(t, " "))
  end
  ct.stop()
end)
LUA
got=$("$CTLUA" "$T_TMP/rows.lua" -- ct | norm)
want=$(conntrack -S 2>/dev/null | norm)
is "$got" "$want" "ct.cpu_stats() equals conntrack -S, field by field"
like "$got" "found=[0-9]+ .*insert=[1-9]" "with the counters this kernel sends (insert counted the entries made)"
note "$got"
is "$(echo "$got" | wc -l)" "$(conntrack -S 2>/dev/null | wc -l)" "one row per CPU"
got=$("$CTLUA" "$T_TMP/rows.lua" -- exp | norm)
want=$(conntrack -S exp 2>/dev/null | norm)
is "$got" "$want" "ct.expect.cpu_stats() equals conntrack -S exp"
like "$got" "expect_create=[1-9]" "the expectation was counted"
is "$("$CTLUA" -e 'ct.after(0, function() print(ct.max()) ct.stop() end)')" \
	"$(cat /proc/sys/net/netfilter/nf_conntrack_max)" "ct.max() is nf_conntrack_max"

# --netns: the counters of that namespace, not ours.
A=ctlua-t$$-h
trap 'ip netns del $A 2>/dev/null; cleanup' EXIT
ip netns add $A && ip -n $A link set lo up && ip netns exec $A nft add table inet t &&
	ip netns exec $A nft add chain inet t out '{ type filter hook output priority 0; ct state new counter; }'
ok $? "namespace $A with conntrack on"
ip netns exec $A bash -c "$(declare -f insert_n); insert_n 7"
got=$("$CTLUA" --netns $A "$T_TMP/rows.lua" -- ct $A | norm)
want=$(ip netns exec $A conntrack -S 2>/dev/null | norm)
is "$got" "$want" "ct.cpu_stats(netns) equals conntrack -S run in that namespace"
ins=$(echo "$got" | sum insert)
is "$ins" 7 "its inserts are the 7 entries made there"
got=$("$CTLUA" --netns $A "$T_TMP/rows.lua" -- exp $A | norm)
is "$got" "$(ip netns exec $A conntrack -S exp 2>/dev/null | norm)" "ct.expect.cpu_stats(netns) equals conntrack -S exp there"
is "$("$CTLUA" --netns $A -e "ct.after(0, function() print(ct.max('$A')) ct.stop() end)")" \
	"$(ip netns exec $A cat /proc/sys/net/netfilter/nf_conntrack_max)" "ct.max(netns)"
out=$("$CTLUA" --netns $A -e 'print(pcall(ct.cpu_stats, "nowhere"))' 2>&1)
like "$out" "network namespace 'nowhere' is not watched" "a namespace not watched raises, naming it"
out=$("$CTLUA" -e 'print(pcall(ct.max, 42))' 2>&1)
like "$out" "false	.*bad argument #1" "a namespace that is not a name raises"

# /metrics: the summed counters and the maximum, accepted by promtool.
if command -v promtool > /dev/null && command -v curl > /dev/null; then
	PORT=9481
	bg "$T_TMP/m.out" "$T_TMP/m.err" "$CTLUA" --metrics $PORT -e 'ct.on("new", function() end)'; P=$BG_PID
	wait_until 10 scrape $PORT > /dev/null; ok $? "/metrics answers"
	scrape $PORT > "$T_TMP/scrape.txt"
	promtool check metrics < "$T_TMP/scrape.txt" > "$T_TMP/promtool.txt" 2>&1
	ok $? "promtool check metrics passes with the table's health families"
	[ -s "$T_TMP/promtool.txt" ] && diag "$(cat "$T_TMP/promtool.txt")"
	is "$(sed -n 's/^ctlua_conntrack_max //p' "$T_TMP/scrape.txt")" "$(cat /proc/sys/net/netfilter/nf_conntrack_max)" \
		"ctlua_conntrack_max"
	for f in insert found invalid drop early_drop insert_failed; do
		want=$(conntrack -S 2>/dev/null | norm | sum $f)
		got=$(sed -n "s/^ctlua_conntrack_${f}_total //p" "$T_TMP/scrape.txt")
		# The scrape's own TCP connection is tracked: insert and found may move on.
		case $f in insert | found) [ "${got:-0}" -ge "$want" ] || [ "$((want - ${got:-0}))" -le 2 ];;
		           *) [ "$got" = "$want" ];; esac
		ok $? "ctlua_conntrack_${f}_total is the sum over CPUs ($got, conntrack -S: $want)"
	done
	grep -q '^# TYPE ctlua_conntrack_insert_failed_total counter' "$T_TMP/scrape.txt"; ok $? "the sums are counters"
	like "$(cat "$T_TMP/scrape.txt")" '^ctlua_conntrack_expect_create_total [1-9]' "the expectation counters too"
	stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"

	bg "$T_TMP/m2.out" "$T_TMP/m2.err" "$CTLUA" --netns $A --metrics $PORT -e 'ct.on("new", function() end)'; P=$BG_PID
	wait_until 10 scrape $PORT > /dev/null
	scrape $PORT > "$T_TMP/scrape2.txt"
	promtool check metrics < "$T_TMP/scrape2.txt" > /dev/null 2>&1; ok $? "promtool: clean with --netns too"
	like "$(cat "$T_TMP/scrape2.txt")" "^ctlua_conntrack_insert_total\{netns=\"$A\"\} 7$" "by namespace with --netns"
	like "$(cat "$T_TMP/scrape2.txt")" "^ctlua_conntrack_max\{netns=\"$A\"\} [1-9]" "ctlua_conntrack_max by namespace"
	stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"
fi
done_testing
