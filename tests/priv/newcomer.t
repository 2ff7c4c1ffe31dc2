#!/bin/bash
# Issue 17's defects that need the kernel: closing ctlua's terminal ends it while
# SIGHUP without a terminal (systemctl reload) still reloads (5); the empty-table
# hint only when true (2); cleanup-stale says when ages need timestamps (14); the
# README's ssh.lua example, corrected, counts what it handles (3).
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
command -v tmux > /dev/null || skip_all "tmux missing (make deps)"

# gone PID — the process has exited (a zombie waiting for its reaper counts).
gone() { [ ! -e /proc/$1 ] || [ "$(awk '{ print $3 }' /proc/$1/stat 2>/dev/null)" = Z ]; }

cat > "$T_TMP/hup.lua" <<'LUA'
ct.on("new", function() end)
ct.on("reload", function() io.stderr:write("reloading\n") end)
ct.on("stop", function() io.stderr:write("stopped\n") end)
LUA

# 5: in a terminal (a tmux pane on a private server: -L), kill -HUP reloads while
# the terminal is there; closing the terminal ends ctlua.
export TMUX_TMPDIR="$T_TMP"       # the private server's socket goes with the scratch dir
TM="ctlua-test-$$"
tmux -L "$TM" new-session -d -s hup -x 80 -y 10 "exec $CTLUA -v $T_TMP/hup.lua 2> $T_TMP/tty.err"
P=$(tmux -L "$TM" display-message -p -t hup '#{pane_pid}'); T_PIDS="$T_PIDS $P"
wait_until 10 nl_subscribed $P; ok $? "ctlua runs in a terminal"
kill -HUP $P
wait_until 10 grep -q 'ctlua: reloaded' "$T_TMP/tty.err"; ok $? "kill -HUP with its terminal there: a reload"
kill -0 $P; ok $? "and ctlua goes on"
tmux -L "$TM" kill-server
wait_until 10 gone $P; ok $? "the terminal closed: ctlua ended"
like "$(cat "$T_TMP/tty.err")" "the terminal hung up, stopping" "and said why (-v)"
grep -q '^stopped$' "$T_TMP/tty.err"; ok $? "its stop handlers ran"
tmux -L "$TM" kill-server 2> /dev/null

# The same in a pane started by a shell (ctlua not the session leader, as typed).
tmux -L "$TM" new-session -d -s hup2 -x 80 -y 10 "sh -c '$CTLUA $T_TMP/hup.lua 2> $T_TMP/tty2.err; echo ended'"
wait_until 10 pgrep -f "^$CTLUA $T_TMP/hup.lua" > /dev/null; ok $? "ctlua runs under a shell in a terminal"
P2=$(pgrep -f "^$CTLUA $T_TMP/hup.lua" | head -1); T_PIDS="$T_PIDS $P2"
wait_until 10 nl_subscribed $P2
tmux -L "$TM" kill-server
wait_until 10 gone $P2; ok $? "closing that terminal ends it too"

# No terminal (a service: setsid, stdin from /dev/null, output to files), as
# systemd runs it: SIGHUP is a reload, always.
setsid "$CTLUA" -v "$T_TMP/hup.lua" < /dev/null > /dev/null 2> "$T_TMP/svc.err" & S=$!; T_PIDS="$T_PIDS $S"
wait_until 10 nl_subscribed $S; ok $? "ctlua runs without a terminal"
kill -HUP $S
wait_until 10 grep -q 'ctlua: reloaded' "$T_TMP/svc.err"; ok $? "SIGHUP without a terminal: a reload"
kill -HUP $S
wait_until 10 sh -c "[ \$(grep -c 'ctlua: reloaded' $T_TMP/svc.err) -ge 2 ]"; ok $? "and again"
kill -0 $S; ok $? "ctlua goes on"
stop_pid $S; is "$STOP_RC" 0 "SIGTERM stops it, exit 0"

# 2: with a rule that uses conntrack (in_netns loads one) and traffic, the hint
# never says that nothing is tracked.
bg /dev/null "$T_TMP/hint.err" "$CTLUA" -e 'ct.on("new", function() end) ct.after(6, function() io.stderr:write("past\n") end)'
H=$BG_PID
wait_until 10 nl_subscribed $H; ok $? "ctlua subscribed"
"$TGEN" udp-oneway 127.0.0.1 9 > /dev/null
wait_until 20 grep -q '^past$' "$T_TMP/hint.err"; ok $? "past the quiet time"
stop_pid $H
grep -q 'nothing may be tracked' "$T_TMP/hint.err"; is $? 1 "events came: no 'nothing may be tracked'"
like "$(cat "$T_TMP/hint.err")" "^ctlua: the conntrack table is empty for now: events come once connections are tracked$" \
	"at start only what is true: the table is empty"
# Without any rule (a namespace of its own) the how-to comes after 5 quiet seconds.
unshare -n sh -c "exec $CTLUA -e 'ct.on(\"new\", function() end) ct.after(6, ct.stop)'" 2> "$T_TMP/none.err"
like "$(cat "$T_TMP/none.err")" "no conntrack event in 5 s and the table is still empty: nothing may be tracked" \
	"nothing tracked, nothing came: the hint"
like "$(cat "$T_TMP/none.err")" "nft 'add table inet ctlua" "with the rule that would track"

# 14: cleanup-stale without kernel timestamps: --once cannot age anything, and says so.
echo 0 > /proc/sys/net/netfilter/nf_conntrack_timestamp
"$TGEN" -n 2 udp-oneway 127.0.0.1 7 41000 > /dev/null
out=$("$CTLUA" "$TOP/scripts/cleanup-stale.lua" -- --unreplied-udp 2 --once --dry-run 2>&1); rc=$?
is "$rc" 0 "cleanup-stale --once --dry-run exits 0"
like "$out" "sweep: [0-9]+ checked, 0 stale" "no entry is old enough without timestamps"
is "$(printf '%s\n' "$out" | grep -c 'WARN cleanup-stale: timestamps are off.*--once.*nf_conntrack_timestamp=1')" 1 \
	"and it says why, once"
echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp
"$TGEN" -n 2 udp-oneway 127.0.0.1 7 42000 > /dev/null
out=$("$CTLUA" "$TOP/scripts/cleanup-stale.lua" -- --unreplied-udp 0 --once --dry-run --older-than 1000 2>&1)
like "$out" "would delete \(unreplied-udp\).*sport=42000" "with timestamps the new entries have an age"

# 3: the README's ssh.lua, corrected (it counted NEW events it never subscribed
# to): the count is of what its handler saw. The port and period made test-sized.
cat > "$T_TMP/ssh.lua" <<'LUA'
-- ssh.lua — run with: ./ctlua ssh.lua
local ct = require "ctlua"
local seen = 0
ct.on("update", {proto = "tcp", dport = 22, state = "ESTABLISHED"}, function(e)
  seen = seen + 1
  if not e.orig.src:match("^10%.") then
    print(os.date("%T"), "ssh from", e.orig.src)
  end
end)
ct.every(60, function() print("established ssh connections so far:", seen) end)
LUA
sed -i 's/dport = 22/dport = 2222/; s/every(60/every(0.2/' "$T_TMP/ssh.lua"
bg "$T_TMP/ssh.out" /dev/null "$CTLUA" "$T_TMP/ssh.lua"; SSH=$BG_PID
wait_until 10 nl_subscribed $SSH; ok $? "ssh.lua subscribed"
"$TGEN" tcp 127.0.0.1 2222 > /dev/null
wait_until 10 grep -q 'so far:	[1-9]' "$T_TMP/ssh.out"; ok $? "ssh.lua counts the connection it saw"
stop_pid $SSH
like "$(cat "$T_TMP/ssh.out")" "ssh from	127\.0\.0\.1" "and printed it"
done_testing
