#!/bin/bash
# conntrack-tools' own testsuite, step by step: each step's ctlua translation runs in
# this namespace, the conntrack command in a second fresh one beside it; results
# (OK/BAD) and tables (conntrack -L) must agree after every step (testsuite.lua).
# Where the reference files exist ($TOP/../shared/reference/conntrack-testsuite, or
# $CTLUA_REFERENCE/conntrack-testsuite),
# every step of them must have a translation; a clean clone skips only that check.
. "$(dirname "$0")/../lib/tap.sh"
need_root
in_netns "$@"
command -v nsenter >/dev/null || skip_all "nsenter missing (util-linux)"

# The oracle's namespace: held by a process that only waits.
bg /dev/null /dev/null unshare -n sleep 600
HOLD=$BG_PID
wait_until 5 sh -c "[ \"\$(readlink /proc/$HOLD/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]"
ok $? "a second fresh namespace for the conntrack tool"

# CTLUA_REFERENCE: where the reference is when this checkout is not beside it (a worktree)
REF="${CTLUA_REFERENCE:-$TOP/../shared/reference}/conntrack-testsuite"
[ -d "$REF" ] || { REF=""; note "no reference files: the coverage check is skipped"; }
tap_include testsuite.lua "$("$CTLUA" "$TOP/tests/priv/testsuite.lua" -- "$HOLD" "$REF" 2>&1)"
stop_pid $HOLD
done_testing
