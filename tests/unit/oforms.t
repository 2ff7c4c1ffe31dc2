#!/bin/bash
# conntrack's -o forms without a kernel: canned messages through ctlua's C sinks and
# ct.format of their tables against libnetfilter_conntrack's own printer (nfprint.c,
# built here), offloaded flows (which this kernel cannot make: no flowtable), the
# defects a real-kernel comparison found (labels unasked, expectation timestamps),
# the options' checks and --replay of every text form.
. "$(dirname "$0")/../lib/tap.sh"
D=$TOP/tests/data
command -v cc >/dev/null && cc -o "$T_TMP/nfprint" "$TOP/tests/unit/nfprint.c" -lnetfilter_conntrack -lmnl 2>"$T_TMP/cc.err"
[ -x "$T_TMP/nfprint" ] || skip_all "cannot build the libnetfilter_conntrack printer: $(head -1 "$T_TMP/cc.err")"
lua5.4 "$TOP/tests/unit/oforms-canned.lua" "$T_TMP/offload.nl"

# Conntrack events only (nfprint prints no expectations): the Lua handler formats the
# table. Sorted: the two streams need not interleave the kinds alike.
TBL='local o = ... ~= "default" and ... or nil
for _, n in ipairs { "new", "update", "destroy" } do ct.on(n, function(e) print(ct.format(e, o)) end) end'
for f in "$T_TMP/offload.nl" "$D/ipv4.nl" "$D/ipv6.nl"; do
	for w in default extended id xml extended,id ktimestamp xml,ktimestamp; do
		lib=$(echo "$w" | tr , ' '); [ "$w" = default ] && lib=""
		"$T_TMP/nfprint" "$f" $lib | sort > "$T_TMP/want"
		o=""; [ "$w" = default ] || o="-o $w"
		"$CTLUA" --netlink-file "$f" -e 'for _, n in ipairs { "new", "update", "destroy" } do
			ct.on(n, ct.sink { output = ... ~= "default" and ... or nil }) end' -- "$w" | grep -v '^<?xml\|^</\?conntrack>$' | sort > "$T_TMP/got"
		same_file "$T_TMP/got" "$T_TMP/want" "$(basename "$f") -o $w: the C sink prints what libnetfilter_conntrack prints"
		# A table keeps kernel times as float seconds: xml,ktimestamp to the ms there.
		ms() { if [ "$w" = xml,ktimestamp ]; then sed -E 's#<(start|stop)>([0-9]+)[0-9]{6}</#<\1>\2------</#g'; else cat; fi; }
		"$CTLUA" --netlink-file "$f" -e "$TBL" -- "$w" | sort | ms > "$T_TMP/got"
		ms < "$T_TMP/want" > "$T_TMP/want-ms"
		same_file "$T_TMP/got" "$T_TMP/want-ms" "$(basename "$f") -o $w: so does ct.format of the event table"
	done
done
is "$(grep -c '\[OFFLOAD\]' "$T_TMP/want")" 0 "(xml has no offload words)"
"$CTLUA" --netlink-file "$T_TMP/offload.nl" scripts/log.lua > "$T_TMP/got" 2>/dev/null ||
	"$CTLUA" --netlink-file "$T_TMP/offload.nl" "$TOP/scripts/log.lua" > "$T_TMP/got"
is "$(grep -c '\[OFFLOAD\]' "$T_TMP/got") $(grep -c '\[HW_OFFLOAD\]' "$T_TMP/got") $(grep -c 'OFFLOAD\].*\[ASSURED\]\|\[ASSURED\].*OFFLOAD' "$T_TMP/got")" "4 6 0" \
	"offloaded flows: [OFFLOAD] or [HW_OFFLOAD] (hardware wins) instead of [ASSURED], never both"

out=$("$CTLUA" --netlink-file /dev/null -e '
local t4 = function(s, d, sp, dp) return { src = s, dst = d, sport = sp, dport = dp } end
local e = { event = "new", family = "ipv4", proto = "tcp", protonum = 6, timeout = 100, state = "ESTABLISHED",
  orig = t4("1.1.1.1", "2.2.2.2", 1, 2), reply = t4("2.2.2.2", "1.1.1.1", 2, 1),
  status = { assured = true, seen_reply = true }, labels = { blocked = true, ["4"] = true } }
print(ct.format(e))
print(ct.format(e, { labels = true }))
e.labels = { ["4"] = true } print(ct.format(e, "labels"))
local x = { event = "expect-new", family = "ipv4", proto = "tcp", protonum = 6, timeout = 300,
  tuple = t4("1.2.3.4", "5.6.7.8", 0, 99), mask = t4("255.255.255.255", "255.255.255.255", 0, 65535),
  master = t4("1.2.3.4", "5.6.7.8", 1000, 21), flags = {}, time = 1700000000.005123 }
print(ct.format(x, { timestamp = true }))
x.time = 1700000000.5 print(ct.format(x, "t"))
e.time = 1700000000.005123 print(ct.format(e, "TIME"))
print(ct.format(e, "ext,ID"))
for _, bad in ipairs { "bogus", "save,id", "", "xml,," } do print(select(2, pcall(ct.format, e, bad))) end
print(select(2, pcall(ct.format, e, { save = true, extended = true })))
print(select(2, pcall(ct.format, e, { nope = true })))
print((select(2, pcall(ct.sink, { output = "zz" })):gsub("^.-: bad", "bad")))
print(ct.format(e, { save = true, userspace = true }))')
is "$out" "    [NEW] tcp      6 100 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED]
    [NEW] tcp      6 100 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED] labels=blocked
    [NEW] tcp      6 100 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED]
$(printf '[%-8d.%-6d]\t' 1700000000 5123)    [NEW] 300 proto=6 src=1.2.3.4 dst=5.6.7.8 sport=0 dport=99 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=1.2.3.4 master-dst=5.6.7.8 sport=1000 dport=21
$(printf '[%-8d.%-6d]\t' 1700000000 500000)    [NEW] 300 proto=6 src=1.2.3.4 dst=5.6.7.8 sport=0 dport=99 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=1.2.3.4 master-dst=5.6.7.8 sport=1000 dport=21
$(printf '[%-.8d.%-.6d]\t' 1700000000 5123)    [NEW] tcp      6 100 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED]
    [NEW] ipv4     2 tcp      6 100 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED]
bad argument #2 to 'format' (unknown output word 'bogus')
bad argument #2 to 'format' (save cannot be combined with another output word)
bad argument #2 to 'format' (unknown output word '')
bad argument #2 to 'format' (unknown output word '')
bad argument #2 to 'format' (save cannot be combined with another output word)
bad argument #2 to 'format' (unknown output option 'nope')
bad argument #1 to 'sink' (unknown output word 'zz')
-A -t 100 -u SEEN_REPLY,ASSURED -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p tcp --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 --state ESTABLISHED" \
	"labels only when asked (no connlabel.conf: only names; bit numbers never); expectation timestamps as conntrack's %-8ld.%-6ld, conntrack's as %-.8ld.%-.6ld; words as -o takes them (any prefix, any case); bad words and save with others refused; userspace is no word of its own"

# --replay reads expectation lines of conntrack's own timestamp shape (and the rest).
{
	printf '[%-8d.%-6d]\t%s\n' 1700000000 5123 "    [NEW] 300 proto=6 src=1.2.3.4 dst=5.6.7.8 sport=0 dport=99 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=1.2.3.4 master-dst=5.6.7.8 sport=1000 dport=21 class=0 helper=ftp"
	printf '[%-8d.%-6d]\t%s\n' 1700000001 999999 "[DESTROY] 300 proto=6 src=1.2.3.4 dst=5.6.7.8 sport=0 dport=99 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=1.2.3.4 master-dst=5.6.7.8 sport=1000 dport=21 class=0 helper=ftp"
} > "$T_TMP/exp-ts.txt"
out=$("$CTLUA" --replay "$T_TMP/exp-ts.txt" -e 'for _, n in ipairs { "expect-new", "expect-destroy" } do
	ct.on(n, function(e) print(ct.format(e, "timestamp")) end) end
	ct.on("stop", function() io.stderr:write(ct.stats().skipped_lines, " ", string.format("%.6f", ct.now()), "\n") end)' 2>"$T_TMP/err")
is "$out" "$(cat "$T_TMP/exp-ts.txt")" "--replay takes conntrack -E expect -o timestamp lines and formats them back"
is "$(cat "$T_TMP/err")" "0 1700000001.999999" "none skipped; the clock reads their times"
# Every -o form of the canned messages replays, and formats back the same.
for w in extended id ktimestamp xml extended,id; do
	"$CTLUA" --netlink-file "$D/ipv4.nl" "$TOP/scripts/log.lua" -- -o "$w" > "$T_TMP/rec"
	"$CTLUA" --replay "$T_TMP/rec" "$TOP/scripts/log.lua" -- -o "$w" > "$T_TMP/rep" 2>"$T_TMP/err"
	is "$?$(cat "$T_TMP/err")" 0 "--replay of log.lua -o $w: every line an event"
	same_file "$T_TMP/rep" "$T_TMP/rec" "--replay of log.lua -o $w: the same lines back"
done
# A file without a single event is an error, not an empty success.
printf '%s\n' 'not an event' '<?xml version="1.0" encoding="utf-8"?>' '<conntrack>' > "$T_TMP/none"
"$CTLUA" --replay "$T_TMP/none" -e 'ct.on("new", print)' 2>"$T_TMP/err"; rc=$?
is "$rc $(tail -1 "$T_TMP/err")" "3 ctlua: cannot replay $T_TMP/none: no event in it (1 line not events)" \
	"--replay of a file without an event exits 3 and says so"
"$CTLUA" --replay /dev/null -e 'ct.on("new", print)' 2>/dev/null; is $? 3 "--replay of an empty file exits 3"
done_testing
