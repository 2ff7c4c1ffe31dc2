#!/bin/bash
# The layers of src/ (README, Layout) hold in the code: every reference from one
# object file to a symbol of another goes down this list, never up or sideways to
# a later file, so no two files call each other in a circle. Read from the linker's
# view (nm on build/*.o), not from comments. A new file must be placed here.
. "$(dirname "$0")/../lib/tap.sh"
ORDER="
runtime err addr call handle
names decode format convert build
netns cmd sink route event timer spawn metrics table expect health nft watch tty
core
secure privs state reload
main"
B=$TOP/build
ls "$B"/*.o >/dev/null 2>&1 || { echo "1..0 # SKIP no build/ objects (make ctlua first)"; exit 0; }
rank() { local i=0; for f in $ORDER; do [ "$f" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
unplaced=""
for o in "$B"/*.o; do
	f=$(basename "$o" .o)
	[ "$(rank "$f")" -ge 0 ] || unplaced="$unplaced $f"
done
is "$unplaced" "" "every object file of src/ has its place in the layers"
for o in "$B"/*.o; do nm --defined-only -g "$o" | awk -v f="$(basename "$o" .o)" '{ print $3, f }'; done | sort > "$T_TMP/defs"
for o in "$B"/*.o; do nm -u "$o" | awk -v f="$(basename "$o" .o)" '{ print $2, f }'; done | sort > "$T_TMP/uses"
join "$T_TMP/uses" "$T_TMP/defs" | awk '$2 != $3 { print $2, $3, $1 }' | sort -u > "$T_TMP/refs"
up=""
while read -r from to sym; do
	[ "$(rank "$to")" -lt "$(rank "$from")" ] || up="$up $from->$to($sym)"
done < "$T_TMP/refs"
is "$up" "" "no file calls into one of its own layer listed after it, or of a layer above"
n=$(wc -l < "$T_TMP/refs")
[ "$n" -gt 50 ]; ok $? "the check saw the calls between files ($n symbols)"
# The base includes nothing of ctlua above it; the event path nothing above itself.
base=$(cd "$TOP/src" && grep -l '#include "\(ctlua\|convert\|format\|decode\|netns\|cmd\|build\).h"' runtime.c err.c addr.c call.c handle.c 2>/dev/null)
is "$base" "" "the base includes only base.h (and handle.h)"
path=$(cd "$TOP/src" && grep -l '#include "\(ctlua\|netns\|cmd\).h"' names.c decode.c format.c convert.c build.c 2>/dev/null)
is "$path" "" "the event path includes nothing of the mechanisms"
done_testing
