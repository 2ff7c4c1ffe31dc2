#!/bin/bash
# make install / uninstall with PREFIX and DESTDIR, built from a copy of the tree.
. "$(dirname "$0")/../lib/tap.sh"
src="$T_TMP/src"; pfx="$T_TMP/prefix"
mkdir -p "$src" && (cd "$TOP" && tar cf - Makefile src lua scripts) | (cd "$src" && tar xf -)
make -s -C "$src" install PREFIX="$pfx" > "$T_TMP/make.out" 2>&1; ok $? "make install PREFIX=..."
for f in bin/ctlua share/ctlua/lua/ctlua.lua share/ctlua/lua/ctlua/filter.lua \
	share/ctlua/lua/ctlua/format.lua share/ctlua/scripts/log.lua; do
	[ -f "$pfx/$f" ]; ok $? "installed $f"
done
rm -rf "$src"   # the installed binary must not lean on the source tree
out=$(cd / && "$pfx/bin/ctlua" -e 'print(require("ctlua").version, ct.format ~= nil)'); ok $? "installed ctlua runs from anywhere"
like "$out" "^[0-9.]+	true$" "installed ctlua finds its Lua runtime"
(cd / && "$pfx/bin/ctlua" --check "$pfx/share/ctlua/scripts/log.lua"); ok $? "installed default script compiles"
mkdir -p "$src" && (cd "$TOP" && tar cf - Makefile src lua scripts) | (cd "$src" && tar xf -)
make -s -C "$src" install PREFIX=/usr DESTDIR="$T_TMP/stage" > /dev/null 2>&1; ok $? "make install DESTDIR=... PREFIX=/usr"
[ -x "$T_TMP/stage/usr/bin/ctlua" ]; ok $? "DESTDIR stages under the prefix"
make -s -C "$src" uninstall PREFIX="$pfx" > /dev/null 2>&1; ok $? "make uninstall"
is "$(find "$pfx" -type f | wc -l)" 0 "uninstall removes every installed file"
done_testing
