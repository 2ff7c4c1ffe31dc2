# tests/lib/tap.sh — TAP helpers and netns plumbing for the shell tests.
# Test lines are unnumbered ("ok - desc"); done_testing prints the plan last.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CTLUA="${CTLUA:-$TOP/ctlua}"
TGEN="$TOP/tests/tgen"
T_N=0
T_FAIL=0
# Scratch directory per test file, removed on exit unless KEEP=1.
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ctlua-test.XXXXXX")
T_PIDS=""

cleanup() {
	for p in $T_PIDS; do kill "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] || rm -rf "$T_TMP"
}
trap cleanup EXIT

pass() { T_N=$((T_N + 1)); echo "ok - $1"; }
fail() { T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; }
# diag explains a failure (stderr: prove shows it even without -v); note is
# information for the verbose log (stdout).
diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }
note() { printf '%s\n' "$@" | sed 's/^/# /'; }

# ok STATUS DESC — passes when STATUS is 0.
ok() { if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi; }

# is GOT EXPECTED DESC
is() {
	if [ "$1" = "$2" ]; then pass "$3"; else
		fail "$3"; diag "got:      $1" "expected: $2"; fi
}

# like GOT REGEX DESC (extended regex, matched against each line of GOT). A REGEX
# with a newline would be several patterns OR'ed by grep: refused.
like() {
	case $2 in *$'\n'*) fail "$3"; diag "like: the pattern has a newline"; return ;; esac
	if printf '%s' "$1" | grep -Eq -- "$2"; then pass "$3"; else
		fail "$3"; diag "got:      $1" "expected to match: $2"; fi
}

# same_file GOT_FILE EXPECTED_FILE DESC — shows a diff on failure
same_file() {
	if cmp -s "$1" "$2"; then pass "$3"; else
		fail "$3"; diag "$(diff -u "$2" "$1" | head -40)"; fi
}

# tap_lua FILE ARGS... — runs a Lua TAP checker; its lines count as ours.
tap_lua() {
	tap_include "$1" "$(lua5.4 "$@" 2>&1)"
}

# tap_include NAME OUTPUT — counts the TAP lines of OUTPUT as ours.
tap_include() {
	out=$2
	printf '%s\n' "$out" | grep -v '^1\.\.'
	n=$(printf '%s\n' "$out" | grep -Ec '^(not )?ok')
	f=$(printf '%s\n' "$out" | grep -Ec '^not ok')
	T_N=$((T_N + n)); T_FAIL=$((T_FAIL + f))
	# On failure the explanations go to stderr too, so that prove shows them.
	if [ "$f" -gt 0 ]; then printf '%s\n' "$out" | grep -E '^(not ok|#)' >&2; fi
	if [ "$n" -eq 0 ]; then fail "TAP from $1"; diag "$(printf "%s\n" "$out" | head -20)"; fi
}

done_testing() {
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

skip_all() { echo "1..0 # SKIP $1"; exit 0; }

# wait_until TIMEOUT_S CMD... — polls CMD (every 50 ms) until it succeeds; bounded.
wait_until() {
	_deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
	while ! "$@" 2>/dev/null; do
		[ $(( $(date +%s%N) / 1000000 )) -lt "$_deadline" ] || return 1
		sleep 0.05
	done
}

# listening tcp|udp PORT — something listens on PORT (to wait_until).
listening() { ss -l"${1:0:1}"nH "sport = :$2" | grep -q .; }

# scrape PORT — what ctlua --metrics PORT serves at /metrics (bounded: 5 s).
scrape() { curl -s --max-time 5 "http://127.0.0.1:$1/metrics"; }

lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# nl_socket_rows PID — the /proc/net/netlink rows of NETLINK_NETFILTER sockets that
# process holds (matched by inode: a process's portid need not be its pid).
nl_socket_rows() {
	_inodes=$(ls -l /proc/"$1"/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
	awk -v inodes=" $_inodes" '$2 == 12 && index(inodes, " " $10 " ") { print }' /proc/net/netlink
}
# nl_subscribed PID — the process holds a NETLINK_NETFILTER socket joined to a group.
nl_subscribed() {
	nl_socket_rows "$1" | awk '$4 != "00000000" { f = 1 } END { exit !f }'
}
# nl_groups PID — the group bitmap (hex) of its subscribed socket
nl_groups() {
	nl_socket_rows "$1" | awk '$4 != "00000000" { print $4; exit }'
}

# nl_drained PID — its subscribed socket's receive queue is empty (Rmem 0): every
# event the kernel sent it has been read.
nl_drained() {
	nl_socket_rows "$1" | awk '$4 != "00000000" { f = 1; if ($5 != 0) busy = 1 } END { exit !(f && !busy) }'
}

# need_root — privileged tests skip (with the reason) when not root.
need_root() {
	[ "$(id -u)" = 0 ] || skip_all "needs root (CAP_NET_ADMIN) for netlink events and network namespaces"
	command -v conntrack >/dev/null || skip_all "conntrack tool missing (make deps)"
}

# in_netns "$@" — re-runs this test in a fresh network namespace, loopback up,
# conntrack switched on for all traffic and the ftp helper on port 2121.
in_netns() {
	if [ -z "${CTLUA_IN_NETNS:-}" ]; then
		rm -rf "$T_TMP"
		CTLUA_IN_NETNS=1 exec unshare -n -- "$0" "$@"
	fi
	ip link set lo up
	nft -f - <<'NFT'
table inet ctlua_test {
	ct helper ftp-std { type "ftp" protocol tcp; }
	chain pre {
		type filter hook prerouting priority 0;
		ct state new counter
		tcp dport 2121 ct helper set "ftp-std"
	}
	chain out {
		type filter hook output priority 0;
		ct state new counter
		tcp dport 2121 ct helper set "ftp-std"
	}
}
NFT
}

# short_timeouts — entries die within a second or two, so DESTROY events come fast.
short_timeouts() {
	for s in udp_timeout udp_timeout_stream icmp_timeout icmpv6_timeout \
		tcp_timeout_time_wait tcp_timeout_close tcp_timeout_fin_wait \
		tcp_timeout_last_ack tcp_timeout_close_wait; do
		f=/proc/sys/net/netfilter/nf_conntrack_$s
		[ -w "$f" ] && echo 1 > "$f"
	done
}

# table_empty — true once the conntrack table of this namespace is empty. Listing
# also evicts expired entries, so polling this makes their DESTROY events come.
table_empty() {
	[ "$(conntrack -L 2>/dev/null | wc -l)" -eq 0 ]
}

# bg OUT ERR CMD... — starts CMD in the background; its pid in $BG_PID.
bg() {
	_o=$1 _e=$2; shift 2
	"$@" > "$_o" 2> "$_e" &
	BG_PID=$!
	T_PIDS="$T_PIDS $BG_PID"
}

# stop_pid PID — SIGTERM and wait; the exit status in $STOP_RC.
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	STOP_RC=$?
}
