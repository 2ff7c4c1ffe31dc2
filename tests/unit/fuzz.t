#!/bin/bash
# Every input the fuzzers (make fuzz) found a crash with, replayed through ctlua
# itself: canned netlink messages with --netlink-file, text lines with --replay.
# Each must be survived (exit 0), and the events that do parse must format.
. "$(dirname "$0")/../lib/tap.sh"
H='for _, n in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
	ct.on(n, function(ev) ct.format(ev) ct.json(ev) end)
end
ct.on("stop", function() print("handler errors", ct.stats().handler_errors) end)'
for f in "$TOP"/fuzz/regress/convert/*; do
	out=$("$CTLUA" --netlink-file "$f" -e "$H" 2>"$T_TMP/err"); rc=$?
	is "$rc $out" "0 handler errors	0" "netlink input $(basename "$f"): survived, every parsed event formats"
	[ "$rc" = 0 ] || diag "$(head -5 "$T_TMP/err")"
done
# The same inputs through the sinks' own formatter (C, from the decoded message,
# not from the table): text and JSON lines for every kind.
S='for _, n in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
	ct.on(n, ct.sink { to = "stdout" }) ct.on(n, ct.sink { to = "stdout", format = "json" })
end'
for f in "$TOP"/fuzz/regress/convert/*; do
	"$CTLUA" --netlink-file "$f" -e "$S" >/dev/null 2>"$T_TMP/err"; rc=$?
	is "$rc $(grep -c 'runtime error\|ERROR' "$T_TMP/err")" "0 0" "netlink input $(basename "$f"): written by the C sinks"
	[ "$rc" = 0 ] || diag "$(head -5 "$T_TMP/err")"
done
# A file in which no line is an event is refused (exit 3, "no event in it").
for f in "$TOP"/fuzz/regress/replay/*; do
	out=$("$CTLUA" --replay "$f" -e "$H" 2>"$T_TMP/err"); rc=$?
	if [ "$rc" = 3 ] && grep -q "^ctlua: cannot replay .*: no event in it" "$T_TMP/err"; then
		out="handler errors	0" rc=0
	fi
	is "$rc $out" "0 handler errors	0" "replay input $(basename "$f"): survived, every parsed event formats"
	[ "$rc" = 0 ] || diag "$(head -5 "$T_TMP/err")"
done
# An expectation whose NAT nest holds attribute types past CTA_EXPECT_NAT_MAX made
# libnetfilter_conntrack write past an array on its stack; here three in a row: all
# three must be refused as parse errors, and the walk must not lose its place.
f=$TOP/fuzz/regress/convert/expect-nat-type-overflow
cat "$f" "$f" "$f" > "$T_TMP/three.nl"
out=$("$CTLUA" --netlink-file "$T_TMP/three.nl" -e 'ct.on("expect-new", function() end)
	ct.on("stop", function() local s = ct.stats() print(s.events["expect-new"], s.parse_errors) end)' 2>&1)
is "$out" "3	3" "three bad expectations: three parse errors, none skipped"
done_testing
