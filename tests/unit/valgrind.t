#!/bin/bash
# A valgrind soak in every make test: 50 000 captured kernel events through
# conversion, dispatch, ct.format and ct.json with no memory error and no leak.
# (make soak runs the same for 1M events: about 9 minutes.)
. "$(dirname "$0")/../lib/tap.sh"
command -v valgrind > /dev/null || skip_all "valgrind missing (make deps)"
case "$CTLUA" in *asan*) skip_all "the ASan build does not run under valgrind" ;; esac
lua5.4 "$TOP/tests/data/repeat-nl.lua" 50000 "$TOP/tests/data/ipv4.nl" "$TOP/tests/data/ipv6.nl" > "$T_TMP/soak.nl"
out=$(valgrind --error-exitcode=9 --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect "$CTLUA" --netlink-file "$T_TMP/soak.nl" \
	"$TOP/tests/data/soak.lua" 2> "$T_TMP/vg.txt")
rc=$?
is "$rc" 0 "valgrind: no error, no leak (exit 0)"
like "$out" "^soak: 50000 events delivered, 0 parse errors, 0 handler errors" "all 50000 events delivered"
like "$(cat "$T_TMP/vg.txt")" "ERROR SUMMARY: 0 errors" "valgrind's summary: 0 errors"
like "$(cat "$T_TMP/vg.txt")" "definitely lost: 0 bytes" "nothing definitely lost"
[ "$rc" = 0 ] || diag "$(grep -A5 'Invalid\|lost in' "$T_TMP/vg.txt" | head -30)"
done_testing
