#!/bin/bash
# The Lua API without root, with recorded kernel messages as the event source.
. "$(dirname "$0")/../lib/tap.sh"
out=$("$CTLUA" --netlink-file "$TOP/tests/data/ipv4.nl" "$TOP/tests/unit/api.lua" 2>"$T_TMP/err")
is $? 0 "ctlua exits 0 after ct.stop()"
tap_include api.lua "$out"
like "$(cat "$T_TMP/err")" "timer error: .*timer boom" "timer errors are reported on stderr"
done_testing
