#!/bin/bash
# Every conntrack -o form, side by side with the conntrack tool on the same real
# traffic: `conntrack -E -o WORDS` (and `-E expect -o WORDS`, `-L -o WORDS`) against
# ctlua's C sinks (ct.sink{output = WORDS}), ct.format of the event tables and
# scripts/log.lua -o WORDS. Counters, kernel timestamps, marks, labels (named by a
# connlabel.conf in a private /etc), zones, [USERSPACE] with a progname holding ')',
# TCP, UDP, ICMP, SCTP-less protocols and ftp expectations, IPv4 and IPv6.
# Runs in its own mount namespace (for /etc/xtables/connlabel.conf) and netns.
. "$(dirname "$0")/../lib/tap.sh"
need_root
if [ -z "${CTLUA_IN_NETNS:-}" ]; then
	rm -rf "$T_TMP"
	CTLUA_IN_NETNS=1 exec unshare -m -n --propagation private -- "$0" "$@"
fi
in_netns "$@"
short_timeouts
echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp

# A connlabel.conf only this namespace sees: bits 3 and 5 named, 7 not.
mkdir -p "$T_TMP/etc-up" "$T_TMP/etc-wk"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T_TMP/etc-up,workdir=$T_TMP/etc-wk" /etc
ok $? "a private /etc (overlay in this mount namespace)"
mkdir -p /etc/xtables
printf '%s\n' '3 three' '5 five' > /etc/xtables/connlabel.conf
# Marks, labels and a zone on some flows (the kernel sends what is set).
nft -f - <<'NFT'
table inet ctlua_oforms {
	chain out_raw {
		type filter hook output priority -300;
		udp dport 5354 ct zone set 4
	}
	chain pre_raw {
		type filter hook prerouting priority -300;
		udp dport 5354 ct zone set 4
	}
	chain out {
		type filter hook output priority 0;
		udp dport 5353 ct mark set 7
		tcp dport 5555 ct label set 3
		tcp dport 5555 ct label set 7
		tcp dport 5556 ct label set 7
	}
}
NFT
ok $? "mark, label and zone rules"

FORMS="default extended timestamp id ktimestamp labels userspace xml save extended,id,labels xml,timestamp,labels,ktimestamp id,timestamp,ktimestamp"
opt() { [ "$1" = default ] && return; printf '%s\n' -o "$1"; }
# One ctlua: per form a C sink and a Lua handler formatting the event table.
SCRIPT='local dir, forms = ...
for w in forms:gmatch("%S+") do
	local o = w ~= "default" and w or nil
	local c = assert(ct.sink { to = "file", path = dir .. "/c." .. w, output = o })
	local f = assert(io.open(dir .. "/l." .. w, "w"))
	f:setvbuf("line")
	for _, n in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
		ct.on(n, c)
		ct.on(n, function(e) f:write(ct.format(e, o), "\n") end)
	end
end'
pids=""
for w in $FORMS; do
	bg "$T_TMP/ct.$w" /dev/null conntrack -E $(opt "$w");       pids="$pids $BG_PID"
	bg "$T_TMP/exp.$w" /dev/null conntrack -E expect $(opt "$w"); pids="$pids $BG_PID"
done
bg "$T_TMP/lua.out" "$T_TMP/lua.err" "$CTLUA" -e "$SCRIPT" -- "$T_TMP" "$FORMS"; LUA=$BG_PID
bg "$T_TMP/log.out" "$T_TMP/log.err" "$CTLUA" -- -o extended,id,labels; LOG=$BG_PID
bg "$T_TMP/logx.out" "$T_TMP/logx.err" "$CTLUA" -- -o xml; LOGX=$BG_PID
for p in $pids $LUA $LOG $LOGX; do wait_until 10 nl_subscribed $p || break; done
ok $? "every listener subscribed"

# A process whose name holds ')' changes the table ([USERSPACE] progname=), and
# stays until every listener has named it. It inserts once started, when it has
# dropped to CAP_NET_ADMIN as the listeners have (a process holding capabilities
# they dropped is one whose /proc/PID/fd they may not read: no progname then).
ln -s "$CTLUA" "$T_TMP/ct)lua"
bg "$T_TMP/ins.out" "$T_TMP/ins.err" "$T_TMP/ct)lua" -e 'local flag = ...
ct.after(0, function()
	assert(ct.create { proto = "udp", src = "10.9.0.1", dst = "10.9.0.2", sport = 1, dport = 2, timeout = 2, mark = 3 })
	assert(ct.create { proto = "tcp", src = "10.9.0.1", dst = "10.9.0.3", sport = 3, dport = 4, timeout = 2,
		state = "ESTABLISHED", status = { assured = true, seen_reply = true } })
	-- two that live through the -L comparison
	assert(ct.create { proto = "udp", src = "10.9.1.1", dst = "10.9.1.2", sport = 5, dport = 6, timeout = 600, mark = 9 })
	assert(ct.create { proto = "tcp", src = "10.9.1.1", dst = "10.9.1.3", sport = 7, dport = 8, timeout = 600,
		state = "ESTABLISHED", status = { assured = true, seen_reply = true } })
	print("inserted") io.stdout:flush()
	-- and deletes those once told to (a file appears)
	ct.every(0.05, function(t)
		local f = io.open(flag, "r")
		if not f then return end
		f:close() t:stop()
		assert(ct.delete { proto = "udp", src = "10.9.1.1", dst = "10.9.1.2", sport = 5, dport = 6 })
		assert(ct.delete { proto = "tcp", src = "10.9.1.1", dst = "10.9.1.3", sport = 7, dport = 8 })
	end)
	ct.after(120, function() end)
end)' -- "$T_TMP/delete-now"
INS=$BG_PID
{
	"$TGEN" tcp 127.0.0.1 5555 44001
	"$TGEN" tcp ::1 5556 44002
	"$TGEN" udp 127.0.0.1 5353 44003
	"$TGEN" udp 127.0.0.1 5354 44004
	"$TGEN" icmp 127.0.0.1 4242
	"$TGEN" icmp ::1 4243
	"$TGEN" ftp 127.0.0.1 2121
	"$TGEN" ftp ::1 2121
} > /dev/null 2>&1
ok $? "traffic generated"
wait_until 10 grep -q inserted "$T_TMP/ins.out"; ok $? "entries inserted by 'ct)lua'"
# -L forms: the two long-lived entries (the others change while listed), each
# listed by both; their timeout and delta-time count down between two listings.
Lnorm() {
	sed -E -e 's/^((ipv[46] +[0-9]+ +)?[a-z0-9]+ +[0-9]+ )[0-9]+ /\1T /' -e 's/delta-time=[0-9]+/delta-time=N/' \
		-e 's|<timeout>[0-9]+</timeout>|<timeout>T</timeout>|' -e 's|<deltatime>[0-9]+</deltatime>|<deltatime>N</deltatime>|' \
		-e 's/^-A -t [0-9]+ /-A -t T /' | grep -v '^<?xml\|^</\?conntrack>$' | sort
}
for w in $FORMS; do
	case $w in *timestamp*) continue ;; esac      # -L prints no time prefix: same as without
	conntrack -L $(opt "$w") -s 10.9.1.1 2>/dev/null | Lnorm > "$T_TMP/L.ct.$w"
	"$CTLUA" -e 'local o = ... ~= "default" and ... or nil
		for _, e in ipairs(ct.list()) do
			if e.orig.src == "10.9.1.1" then print(ct.format(e, o)) end
		end' -- "$w" | Lnorm > "$T_TMP/L.lua.$w"
done
"$CTLUA" -e 'for _, e in ipairs(ct.list()) do
	if e.orig.src == "10.9.1.1" then print(ct.format(e, { save = true })) end
end' > "$T_TMP/saved"
: > "$T_TMP/delete-now"
wait_until 60 table_empty; ok $? "every entry destroyed"
stop_pid $INS
want=$(( $(lines "$T_TMP/ct.default") + $(lines "$T_TMP/exp.default") ))
[ "$want" -ge 30 ]; ok $? "conntrack -E and -E expect saw the traffic ($want events)"
for w in $FORMS; do
	wait_until 20 has_lines "$T_TMP/c.$w" "$want" && wait_until 20 has_lines "$T_TMP/l.$w" "$want" || break
done
ok $? "ctlua wrote every event in every form"
wait_until 20 has_lines "$T_TMP/log.out" "$want"; ok $? "log.lua -o extended,id,labels printed them all"
for p in $LUA $LOG $LOGX $pids; do stop_pid $p; done

# The time of printing is each tool's own: the timestamp prefix and <when> are
# checked for shape, then cut; delta-time of an entry still alive counts up to
# "now" (a second boundary apart between two processes), so it is cut on NEW and
# UPDATE lines only (DESTROY lines carry the kernel's stop: compared exactly).
norm() {
	sed -E -e 's/^\[[0-9]{8,}\.[0-9]{6}\]\t//' -e 's/^\[[0-9]{8,} *\.[0-9]{1,6} *\]\t//' \
		-e 's|<when>.*</when>||' \
		-e '/\[(NEW|UPDATE)\]|type="(new|update)"/ s/delta-time=[0-9]+/delta-time=N/' \
		-e '/\[(NEW|UPDATE)\]|type="(new|update)"/ s|<deltatime>[0-9]+</deltatime>|<deltatime>N</deltatime>|' \
		"$1" | grep -v '^<?xml\|^</\?conntrack>$\|^</\?expect>$' | sort
}
for w in $FORMS; do
	cat "$T_TMP/ct.$w" "$T_TMP/exp.$w" > "$T_TMP/want.raw"
	case ,$w, in
	*,xml,*timestamp,*)
		is "$(grep -c '<flow' "$T_TMP/c.$w")" "$(grep -c '<when><hour>' "$T_TMP/c.$w")" "-o $w: every flow has its <when>" ;;
	*,timestamp,*)
		is "$(grep -cvE '^\[[0-9]{10}\.[0-9]{6}\]	|^\[[0-9]{10}\.[0-9 ]{6}\]	' "$T_TMP/c.$w")" 0 \
			"-o $w: every line has its time prefix" ;;
	esac
	norm "$T_TMP/want.raw" > "$T_TMP/want.$w"
	norm "$T_TMP/c.$w" > "$T_TMP/got.$w"
	same_file "$T_TMP/got.$w" "$T_TMP/want.$w" "-o $w: the C sink writes what conntrack -E prints"
	# A table keeps kernel timestamps as float seconds: -o xml,ktimestamp of a table
	# has them to the microsecond (not the nanosecond): compared to the millisecond.
	case ,$w, in
	*,xml,*ktimestamp*) ms() { sed -E 's#<(start|stop)>([0-9]+)[0-9]{6}</#<\1>\2------</#g' "$1"; } ;;
	*) ms() { cat "$1"; } ;;
	esac
	norm "$T_TMP/l.$w" | ms /dev/stdin > "$T_TMP/got.$w"
	ms "$T_TMP/want.$w" > "$T_TMP/want-ms.$w"
	same_file "$T_TMP/got.$w" "$T_TMP/want-ms.$w" "-o $w: ct.format of the event tables gives the same lines"
	if [ -f "$T_TMP/L.ct.$w" ]; then
		is "$(lines "$T_TMP/L.ct.$w")" 2 "-o $w: conntrack -L listed the two entries"
		same_file "$T_TMP/L.lua.$w" "$T_TMP/L.ct.$w" "-o $w: ct.format of ct.list() entries equals conntrack -L"
	fi
done
# --replay reads every text form conntrack printed (save is a command line, not an
# event) and ct.format with the same words gives the lines back.
FMT='local o = ... ~= "default" and ... or nil
for _, n in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
	ct.on(n, function(e) print(ct.format(e, o)) end)
end'
for w in $FORMS; do
	[ "$w" = save ] && continue
	cat "$T_TMP/ct.$w" "$T_TMP/exp.$w" > "$T_TMP/rec.$w"
	"$CTLUA" --replay "$T_TMP/rec.$w" -e "$FMT" -- "$w" > "$T_TMP/rep.$w" 2> "$T_TMP/rep.err"
	is "$?$(cat "$T_TMP/rep.err")" 0 "--replay of conntrack -o $w: every line is an event"
	case ,$w, in
	*,xml,*ktimestamp*) ms() { sed -E 's#<(start|stop)>([0-9]+)[0-9]{6}</#<\1>\2------</#g'; } ;;
	*) ms() { cat; } ;;
	esac
	grep -v '^<?xml\|^</\?conntrack>$\|^</\?expect>$' "$T_TMP/rec.$w" | ms > "$T_TMP/rec-ms.$w"
	ms < "$T_TMP/rep.$w" > "$T_TMP/rep-ms.$w"
	same_file "$T_TMP/rep-ms.$w" "$T_TMP/rec-ms.$w" "--replay of -o $w: ct.format gives every line back"
done
: > "$T_TMP/none.txt"
"$CTLUA" --replay "$T_TMP/none.txt" -e "$FMT" 2> "$T_TMP/rep.err"; rc=$?
[ "$rc" -ne 0 ]; ok $? "--replay of a file without an event exits non-zero ($rc: $(cat "$T_TMP/rep.err"))"

norm "$T_TMP/log.out" > "$T_TMP/got.log"
same_file "$T_TMP/got.log" "$T_TMP/want.extended,id,labels" "log.lua -o extended,id,labels prints conntrack's lines"
norm "$T_TMP/logx.out" > "$T_TMP/got.logx"
same_file "$T_TMP/got.logx" "$T_TMP/want.xml" "log.lua -o xml prints conntrack's flows"
is "$(head -2 "$T_TMP/logx.out")" '<?xml version="1.0" encoding="utf-8"?>
<conntrack>' "log.lua -o xml opens with conntrack's head"
is "$(tail -1 "$T_TMP/logx.out")" "</conntrack>" "and closes it on exit, as conntrack does"
grep -q 'progname=ct$' "$T_TMP/ct.default"; ok $? "conntrack cut the progname 'ct)lua' at its ')'"
grep -q 'labels=three' "$T_TMP/ct.labels" && grep -q ' labels$\| labels ' "$T_TMP/ct.labels"
ok $? "labels came named and unnamed (bare 'labels')"
# -o save lines are what conntrack -I takes back (conntrack -R reads such lines).
conntrack -R "$T_TMP/saved" > /dev/null 2>&1; ok $? "conntrack -R loads ctlua's -o save lines"
conntrack -L -s 10.9.1.1 2>/dev/null | Lnorm | sed -E 's/mark=[0-9]+/mark=M/' > "$T_TMP/reloaded"
sed -E 's/mark=[0-9]+/mark=M/' "$T_TMP/L.ct.default" > "$T_TMP/before"
same_file "$T_TMP/reloaded" "$T_TMP/before" "the entries come back as they were (but the mark: 1.4.7's save form has none)"
conntrack -D -s 10.9.1.1 > /dev/null 2>&1
umount /etc
done_testing
