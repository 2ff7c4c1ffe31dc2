#!/bin/bash
# Real kernel messages recorded by tests/data/capture.sh, replayed without root:
# every field as the privileged tests check it, and ct.format() equal to what
# conntrack -E / -E expect printed for the very same events.
. "$(dirname "$0")/../lib/tap.sh"
for fam in ipv4 ipv6; do
	D="$TOP/tests/data"
	"$CTLUA" --netlink-file "$D/$fam.nl" "$TOP/tests/priv/record.lua" -- "$T_TMP/$fam" 2>"$T_TMP/$fam.err"
	is $? 0 "$fam: replay of recorded messages exits 0"
	grep -v '^ *\[[A-Z]*\] [0-9]* proto=' "$T_TMP/$fam.fmt" | sort > "$T_TMP/$fam.ct"
	grep '^ *\[[A-Z]*\] [0-9]* proto=' "$T_TMP/$fam.fmt" | sort > "$T_TMP/$fam.exp"
	sort "$D/$fam.conntrack" > "$T_TMP/$fam.ct.want"
	sort "$D/$fam.expect" > "$T_TMP/$fam.exp.want"
	same_file "$T_TMP/$fam.ct" "$T_TMP/$fam.ct.want" "$fam: ct.format equals recorded conntrack -E (counters, delta-time)"
	same_file "$T_TMP/$fam.exp" "$T_TMP/$fam.exp.want" "$fam: ct.format equals recorded conntrack -E expect"
	tap_lua "$TOP/tests/priv/check_events.lua" "$T_TMP/$fam.json" "$D/$fam.tgen" "$fam"
	grep -q '"start":' "$T_TMP/$fam.json" && grep -q '"stop":' "$T_TMP/$fam.json"
	ok $? "$fam: kernel timestamps reach the tables"
done
# The same stream through stdin, and one broken message in the middle of it.
n=$("$CTLUA" --netlink-file - -e 'local n = 0 ct.on("new", function() n = n + 1 end) ct.on("stop", function() print(n) end)' < "$TOP/tests/data/ipv4.nl")
is "$n" "$(grep -c '\[NEW\] [a-z]' "$TOP/tests/data/ipv4.conntrack")" "--netlink-file - reads stdin"
head -c 100 "$TOP/tests/data/ipv4.nl" > "$T_TMP/cut.nl"
"$CTLUA" --netlink-file "$T_TMP/cut.nl" -e 'ct.on("new", function() end)'; is $? 0 "a truncated message is skipped, not fatal"
# Thousands of addresses (the converter caches address strings): every table's
# addresses as the C formatter writes them from the raw bytes.
lua5.4 "$TOP/tests/data/vary-addrs.lua" 20 "$TOP/tests/data/ipv4.nl" "$TOP/tests/data/ipv6.nl" > "$T_TMP/addrs.nl"
"$CTLUA" --netlink-file "$T_TMP/addrs.nl" -e 'local f = assert(io.open(arg[1] .. ".lua", "w"))
  local s = assert(ct.sink{to = "file", path = arg[1] .. ".c", format = "json"})
  for _, k in ipairs{"new", "update", "destroy", "expect-new", "expect-destroy"} do
    ct.on(k, s) ct.on(k, function(e) f:write(ct.json(e), "\n") end)
  end
  ct.on("stop", function() f:close() end)' -- "$T_TMP/addrs"
is $? 0 "many addresses: exits 0"
same_file "$T_TMP/addrs.lua" "$T_TMP/addrs.c" "many addresses: ct.json of each table equals the C formatter's line"
n=$(grep -o '"src":"[^"]*"' "$T_TMP/addrs.lua" | sort -u | wc -l)
ok "$([ "$n" -gt 1000 ] && grep -q '"src":"2001:db8::' "$T_TMP/addrs.lua"; echo $?)" "many addresses: $n distinct sources, IPv6 among them"
done_testing
