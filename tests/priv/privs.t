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
# What a spawned command gets, in every mode: all five capability sets of the
# child (a child of a uid-0 process gets ctlua's bounding set as permitted at
# exec, so that is where CAP_SYS_ADMIN must not be), and whether it can make a
# mount namespace. With --netns, ctlua itself keeps CAP_SYS_ADMIN (effective and
# permitted, for setns) but no child does. 0x1000 is CAP_NET_ADMIN, 0x200000
# CAP_SYS_ADMIN.
NS=ctlua-privs$$
trap 'ip netns del $NS 2>/dev/null; cleanup' EXIT
ip netns add "$NS"; ok $? "namespace $NS for --netns"
cat > "$T_TMP/spawnsets.lua" <<'LUA'
io.stdout:setvbuf("line")
ct.on("new", function() end)
ct.after(0, function()
  ct.spawn({ "sh", "-c", [==[
    for s in Uid CapInh CapPrm CapEff CapBnd CapAmb; do sed -n "s/^$s:[[:space:]]*\([^[:space:]]*\).*/$s=\1/p" /proc/self/status; done | tr '\n' ' '
    unshare -m sh -c 'mount -t tmpfs none /mnt' 2>/dev/null && echo mount-ok || echo mount-denied]==] },
    function(code, out) io.write("child ", out) end)
end)
LUA
spawn_sets() {   # spawn_sets NAME OPTIONS... -> $CHILD: the child's sets; $SELF: ctlua's
	name=$1; shift
	bg "$T_TMP/sets-$name.out" "$T_TMP/sets-$name.err" "$CTLUA" "$@" "$T_TMP/spawnsets.lua"; P=$BG_PID
	wait_until 20 grep -q '^child' "$T_TMP/sets-$name.out"; ok $? "$name: the spawned command reported"
	SELF="CapPrm=$(status $P CapPrm) CapEff=$(status $P CapEff) CapBnd=$(status $P CapBnd)"
	stop_pid $P
	CHILD=$(sed -n 's/^child //p' "$T_TMP/sets-$name.out")
}
NA=0000000000001000 NONE=0000000000000000 BOTH=0000000000201000
spawn_sets default
is "$CHILD" "Uid=0 CapInh=$NA CapPrm=$NA CapEff=$NA CapBnd=$NA CapAmb=$NA mount-denied" "default: the child has CAP_NET_ADMIN only, in every set, and cannot mount"
spawn_sets listen-only --listen-only
is "$CHILD" "Uid=0 CapInh=$NONE CapPrm=$NONE CapEff=$NONE CapBnd=$NONE CapAmb=$NONE mount-denied" "--listen-only: the child has nothing"
spawn_sets user --user nobody
is "$CHILD" "Uid=65534 CapInh=$NA CapPrm=$NA CapEff=$NA CapBnd=$NONE CapAmb=$NA mount-denied" "--user nobody: the child runs as nobody with CAP_NET_ADMIN (ambient)"
spawn_sets netns --netns "$NS"
is "$CHILD" "Uid=0 CapInh=$NA CapPrm=$NA CapEff=$NA CapBnd=$NA CapAmb=$NA mount-denied" "--netns NAME: the child has CAP_NET_ADMIN only, no CAP_SYS_ADMIN, and cannot unshare -m and mount"
is "$SELF" "CapPrm=$BOTH CapEff=$BOTH CapBnd=$NA" "--netns NAME: ctlua keeps CAP_SYS_ADMIN for setns, out of its bounding set"
spawn_sets netnsall --netns all
is "$CHILD" "Uid=0 CapInh=$NA CapPrm=$NA CapEff=$NA CapBnd=$NA CapAmb=$NA mount-denied" "--netns all: the child has CAP_NET_ADMIN only and cannot mount"
is "$SELF" "CapPrm=$BOTH CapEff=$BOTH CapBnd=$NA" "--netns all: ctlua keeps CAP_SYS_ADMIN for setns, out of its bounding set"
spawn_sets usernetns --user nobody --netns "$NS"
is "$CHILD" "Uid=65534 CapInh=$NA CapPrm=$NA CapEff=$NA CapBnd=$NONE CapAmb=$NA mount-denied" "--user nobody --netns NAME: the child has CAP_NET_ADMIN only"
done_testing
