#!/bin/bash
# top.lua as a person sees it, in tmux on a private socket: the screen at 120x30,
# keys (views, sort, help, quit), rates that decay, a resize to 72x14 (long IPv6
# addresses cut, not pushing the columns), the end of its terminal, and plain
# blocks when stdout is no terminal. Moved here from rules.t, and grown.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
command -v tmux > /dev/null || { fail "tmux installed (make deps)"; done_testing; exit; }

echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct
V6=2001:db8:1111:2222:3333:4444:5555:6666
ip -6 addr add "$V6/128" dev lo nodad
export TMUX_TMPDIR="$T_TMP"
printf 'set -g status off\n' > "$T_TMP/tmux.conf"
tm() { tmux -L ctlua-top -f "$T_TMP/tmux.conf" "$@"; }
cap() { tm capture-pane -p -t top; }
shows() { cap | grep -qE -- "$1"; }
# sh keeps the exit status (tmux 3.3a here sometimes leaves its dead pane's child unreaped)
tm new-session -d -s top -x 120 -y 30 "$CTLUA $TOP/scripts/top.lua -- --interval 0.5 2> $T_TMP/top.err; echo \$? > $T_TMP/rc"
wait_until 10 pgrep -P "$(tm display-message -p -t top '#{pane_pid}')" > /dev/null
pid=$(pgrep -P "$(tm display-message -p -t top '#{pane_pid}')")
T_PIDS="$T_PIDS $pid"
wait_until 10 nl_subscribed "$pid"; ok $? "top.lua subscribed"
for i in 1 2 3 4 5; do "$TGEN" tcp 127.0.0.1 9090 > /dev/null; done
"$TGEN" -n 5 udp-oneway 127.0.0.1 5353 48000 > /dev/null
"$TGEN" -n 3 tcp "$V6" 443 > /dev/null
wait_until 10 shows "^$V6 +3 "; ok $? "the IPv6 source row is drawn"
wait_until 10 shows '^127\.0\.0\.1 +10 '; ok $? "the live table: 10 connections from 127.0.0.1"
screen=$(cap)
note "$screen"
is "$(printf '%s\n' "$screen" | wc -l)" 30 "120x30: the screen has 30 rows"
like "$(printf '%s\n' "$screen" | sed -n 1p)" "^ctlua top  events/s: new [0-9.]+  update [0-9.]+  destroy [0-9.]+  expect [0-9.]+   table 13 +[0-9:]{8}$" \
	"row 1: event rates, table size, clock at the right edge"
like "$(printf '%s\n' "$screen" | sed -n 2p)" "^TIME_WAIT 8  UDP 5 +acct on, dump [0-9]+ ms$" "row 2: the table by state (from the table), accounting on"
like "$(printf '%s\n' "$screen" | sed -n 3p)" "^SOURCE +CONNS +NEW/s +BYTES/s +PKTS/s +BYTES +PKTS$" "row 3: column titles, bytes and packets with accounting"
like "$screen" "127\.0\.0\.1 +10 +[0-9]+\.[0-9] +[0-9.]+K? +[0-9.]+ +[0-9.]+K +[0-9]+" "a row: connections, new/s, bytes/s, packets/s, bytes, packets"
is "$(printf '%s\n' "$screen" | awk 'length > 120' | wc -l)" 0 "no row wider than the terminal"
col() { printf '%s\n' "$screen" | grep -E -- "$1" | head -1 | awk -v w="$2" '{ print index($0, w " ") + length(w) }'; }
is "$(printf '%s\n' "$screen" | grep "^$V6 " | awk '{ print index($0, " 3 ") + 2 }')" "$(col '^SOURCE' CONNS)" \
	"the long IPv6 address leaves the CONNS column where its title is"
like "$(printf '%s\n' "$screen" | sed -n 30p)" "^q quit  v view: src  sort: \[c\]conns n b t k  r reverse  p pause  h help$" "row 30: the help line, on the last row"

# Rates fade instead of resetting: no new connections now, NEW/s falls but stays.
r1=$(cap | sed -n 's/^ctlua top  events\/s: new \([0-9.]*\) .*/\1/p')
sleep 1.2   # two refreshes later (the screen is what is measured, not a sync)
r2=$(cap | sed -n 's/^ctlua top  events\/s: new \([0-9.]*\) .*/\1/p')
awk -v a="$r1" -v b="$r2" 'BEGIN { exit !(a > 0 && b > 0 && b < a) }'; ok $? "new/s decays, not resets ($r1 then $r2)"

tm send-keys -t top v
wait_until 5 shows '^DESTINATION +CONNS'; ok $? "v: destinations"
tm send-keys -t top v
wait_until 5 shows '^tcp/9090 +5 '; ok $? "v again: services (tcp/9090, 5 connections)"
tm send-keys -t top v n
wait_until 5 shows '^FLOW +CONNS'; ok $? "v again: flows"
wait_until 5 shows 'sort: c \[n\]new'; ok $? "n: sorted by new/s"
like "$(cap)" "tcp 2001:db8:[0-9a-f:]+\.\.[0-9a-f:]+\]:443 +3 " "a long IPv6 flow is cut in the middle, its port kept"
tm send-keys -t top h
wait_until 5 shows '^keys:'; ok $? "h: help"
tm send-keys -t top x
wait_until 5 shows '^FLOW +CONNS'; ok $? "any key closes the help"

tm resize-window -t top -x 72 -y 14
wait_until 5 sh -c "tmux -L ctlua-top capture-pane -p -t top | sed -n 14p | grep -q '^q quit'"; ok $? "resized to 72x14: the help line moves to row 14"
tm send-keys -t top v
wait_until 5 shows '^SOURCE +CONNS'
wait_until 5 shows '^2001:db8:'
screen=$(cap)
note "$screen"
is "$(printf '%s\n' "$screen" | wc -l)" 14 "72x14: the screen has 14 rows"
is "$(printf '%s\n' "$screen" | awk 'length > 72' | wc -l)" 0 "72x14: no row wider than the terminal"
like "$(printf '%s\n' "$screen" | sed -n 1p)" "^ctlua top  new [0-9.]+  upd [0-9.]+  del [0-9.]+  exp [0-9.]+   table [0-9]+ +[0-9:]{8}$" "72x14: the short header"
like "$(printf '%s\n' "$screen" | sed -n 3p)" "^SOURCE +CONNS +NEW/s +BYTES/s +PKTS/s +BYTES$" "72x14: the packet total gives way to the key"
like "$screen" "2001:db8:[0-9a-f:]*\.\.[0-9a-f:]*6666 +3 " "72x14: the IPv6 source cut in the middle, its tail kept"

tm send-keys -t top q
wait_until 10 test -s "$T_TMP/rc"; ok $? "q quits"
is "$(cat "$T_TMP/rc")" 0 "exit status 0"
tm kill-server 2> /dev/null

# Its terminal goes away: top.lua goes with it.
tm new-session -d -s top -x 80 -y 20 "exec $CTLUA $TOP/scripts/top.lua -- --interval 0.5"
pid=$(tm display-message -p -t top '#{pane_pid}')
T_PIDS="$T_PIDS $pid"
wait_until 10 shows '^q quit'; ok $? "top.lua drawn in a second terminal"
tm kill-server
wait_until 10 sh -c "! kill -0 $pid 2> /dev/null"; ok $? "the terminal closed: top.lua ended"

# No terminal: plain blocks, no escape sequences, --top rows, --count refreshes.
"$CTLUA" "$TOP/scripts/top.lua" -- --interval 0.2 --count 2 --top 2 --view service < /dev/null > "$T_TMP/plain.out" 2> "$T_TMP/plain.err"
ok $? "not on a terminal: --count 2 stops, exit 0"
is "$(grep -c '^ctlua top  events/s:' "$T_TMP/plain.out")" 2 "two refreshes printed"
is "$(grep -c $'\033' "$T_TMP/plain.out")" 0 "no escape sequences"
is "$(sed -n '/^SERVICE/,/^$/p' "$T_TMP/plain.out" | sed -n 2,3p | grep -cE '^(tcp|udp)/[0-9]+ +[0-9]+ ')" 2 "--top 2: two rows per block"
"$CTLUA" "$TOP/scripts/top.lua" -- --sort size < /dev/null > /dev/null 2> "$T_TMP/bad.err"
rc=$?
[ $rc -ne 0 ] && grep -q -- '--sort: one of' "$T_TMP/bad.err" && ! grep -q traceback "$T_TMP/bad.err"
ok $? "a bad --sort is refused in one message, no traceback (exit $rc)"
done_testing
