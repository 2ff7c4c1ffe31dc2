#!/bin/bash
# Least privilege: once its sockets are open ctlua keeps CAP_NET_ADMIN only (table
# operations still work), --listen-only keeps nothing (events still arrive, table
# operations get EPERM), --user NAME switches user. Read off /proc/PID/status of
# the running process, and checked against what it can still do.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"

cat > "$T_TMP/probe.lua" <<'LUA'
-- Waits for the flow to port 9, then tries a table operation and reports.
io.stdout:setvbuf("line")
ct.on("new", { dport = 9 }, function(ev)
  local ok, msg, code = ct.create { proto = "udp", src = "10.9.9.1", dst = "10.9.9.2", sport = 1,
                                    dport = ev.orig.sport, timeout = 60 }
  print("event", ok and "create-ok" or code)
  local list, lmsg, lcode = ct.list()
  print("list", list and "list-ok" or lcode)
end)
LUA
cp "$T_TMP/probe.lua" "$T_TMP/probe-nobody.lua"
chmod 755 "$T_TMP"     # --user nobody reads nothing more, but keep it possible

status() { sed -n "s/^$2:[[:space:]]*//p" /proc/"$1"/status | awk '{ print $1 }'; }
# The bounding set shrinks in every mode: until then the drop has not happened.
dropped() { [ "$(status "$1" CapBnd)" != "$(status $$ CapBnd)" ]; }
sport=50000
run_mode() {   # run_mode NAME OPTIONS... -> checks CapEff/Uid, event and table op
	name=$1; shift
	bg "$T_TMP/$name.out" "$T_TMP/$name.err" "$CTLUA" "$@" "$T_TMP/probe.lua"; P=$BG_PID
	wait_until 10 nl_subscribed $P; ok $? "$name: subscribed"
	# The drop happens after subscribing, before the loop: wait for it.
	wait_until 10 dropped $P
	CAPEFF=$(status $P CapEff) CAPBND=$(status $P CapBnd) UID_=$(status $P Uid)
	sport=$((sport + 1))
	"$TGEN" udp-oneway 127.0.0.1 9 $sport > /dev/null
	wait_until 20 grep -q '^list' "$T_TMP/$name.out"; ok $? "$name: the event arrived"
	stop_pid $P
	RESULT=$(tr '\t\n' '  ' < "$T_TMP/$name.out")
}

run_mode default
is "$CAPEFF $CAPBND $UID_" "0000000000001000 0000000000001000 0" "default: only CAP_NET_ADMIN left, in the bounding set too, still root"
is "$RESULT" "event create-ok list list-ok " "default: table operations work"

run_mode listen --listen-only
is "$CAPEFF $CAPBND $UID_" "0000000000000000 0000000000000000 0" "--listen-only: no capability left"
is "$RESULT" "event EPERM list EPERM " "--listen-only: events arrive, table operations get EPERM"

run_mode user --user nobody
is "$CAPEFF $UID_" "0000000000001000 65534" "--user nobody: uid 65534 with CAP_NET_ADMIN"
is "$RESULT" "event create-ok list list-ok " "--user nobody: table operations work"

run_mode userlisten --user nobody --listen-only
is "$CAPEFF $UID_" "0000000000000000 65534" "--user nobody --listen-only: uid 65534, nothing else"
is "$RESULT" "event EPERM list EPERM " "--user nobody --listen-only: events only"

out=$("$CTLUA" --user no-such-user-here -e 'ct.stop()' 2>&1); rc=$?
is "$rc" 2 "an unknown --user is a usage error"
like "$out" "no such user 'no-such-user-here'" "naming it"
out=$("$CTLUA" --listen-only --resync -e 'ct.stop()' 2>&1); is "$?" 2 "--listen-only with --resync is refused"

# Spawned commands get what ctlua kept: CAP_NET_ADMIN (nft, conntrack work), or
# nothing with --listen-only.
for mode in default listen-only; do
	opt=; [ $mode = listen-only ] && opt=--listen-only
	bg "$T_TMP/spawn-$mode.out" "$T_TMP/spawn.err" "$CTLUA" $opt -e '
		ct.on("new", function() end)
		ct.after(0, function()
			ct.spawn({ "sh", "-c", "grep ^CapEff /proc/self/status; conntrack -C >/dev/null 2>&1 && echo conntrack-ok" },
				function(code, out) io.write(out) ct.stop() end)
		end)'
	wait "$BG_PID"
done
is "$(tr '\t\n' '  ' < "$T_TMP/spawn-default.out")" "CapEff: 0000000000001000 conntrack-ok " "a spawned command keeps CAP_NET_ADMIN and can use conntrack"
is "$(tr '\t\n' '  ' < "$T_TMP/spawn-listen-only.out")" "CapEff: 0000000000000000 " "with --listen-only it has nothing"
done_testing
