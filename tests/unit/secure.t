#!/bin/bash
# As root, ctlua refuses scripts and modules that someone else could have written:
# writable by group or others, owned by another user, in a directory others can
# write (unless sticky). --insecure lifts the check. Nothing here touches netlink.
. "$(dirname "$0")/../lib/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "the checks apply to root only"

D=$T_TMP/d
mkdir -m 755 "$D"
printf 'print("ran")\nct.stop()\n' > "$D/ok.lua"
chmod 644 "$D/ok.lua"

out=$("$CTLUA" "$D/ok.lua" 2>&1); is "$?:$out" "0:ran" "a root-owned 0644 script runs"

cp "$D/ok.lua" "$D/other.lua"; chmod 646 "$D/other.lua"
out=$("$CTLUA" "$D/other.lua" 2>&1); rc=$?
is "$rc" 1 "a world-writable script: exit 1"
like "$out" "refusing to load $D/other.lua: writable by others \(chmod go-w it, or run with --insecure\)" "the message says why and how"
out=$("$CTLUA" --insecure "$D/other.lua" 2>&1); is "$?:$out" "0:ran" "--insecure runs it"

cp "$D/ok.lua" "$D/group.lua"; chmod 664 "$D/group.lua"
like "$("$CTLUA" "$D/group.lua" 2>&1)" "writable by its group" "a group-writable script is refused"

cp "$D/ok.lua" "$D/nobody.lua"; chown 65534 "$D/nobody.lua"
out=$("$CTLUA" "$D/nobody.lua" 2>&1); rc=$?
is "$rc" 1 "a script owned by another user: exit 1"
like "$out" "owned by uid 65534, not root" "the message names the owner"

W=$T_TMP/w
mkdir -m 777 "$W"; cp "$D/ok.lua" "$W/ok.lua"; chmod 644 "$W/ok.lua"
like "$("$CTLUA" "$W/ok.lua" 2>&1)" "its directory $W is writable by others" "a script in a world-writable directory is refused"
chmod 1777 "$W"
out=$("$CTLUA" "$W/ok.lua" 2>&1); is "$?:$out" "0:ran" "a sticky directory (as /tmp) is fine"

# Modules found by require: Lua files and C libraries alike.
M=$T_TMP/m
mkdir -m 755 "$M"
printf 'return { hello = "module" }\n' > "$M/good.lua"; chmod 644 "$M/good.lua"
cp "$M/good.lua" "$M/evil.lua"; chmod 666 "$M/evil.lua"
printf 'package.path = "%s/?.lua;" .. package.path\nprint(require("good").hello)\nprint(require("evil").hello)\nct.stop()\n' "$M" > "$D/req.lua"
out=$("$CTLUA" "$D/req.lua" 2>&1); rc=$?
is "$rc" 1 "require of a world-writable module fails the script"
like "$out" "^module$" "a safe module loads"
like "$out" "refusing to load $M/evil.lua: writable by others" "the unsafe one is refused by name"
out=$("$CTLUA" --insecure "$D/req.lua" 2>&1); is "$?" 0 "--insecure lets require load it"
cp /dev/null "$M/evil.so"; chmod 666 "$M/evil.so"
out=$("$CTLUA" -e 'package.cpath = "'"$M"'/?.so;" .. package.cpath; require "evil"' 2>&1)
like "$out" "refusing to load $M/evil.so: writable by others" "C modules are checked too"

# Symlinks: the check follows them as the kernel does. A link in a safe directory to
# a file in a world-writable one is refused (the target's directory), so is a safe
# file reached through a link that sits in a world-writable directory (the link's
# own), a file below a world-writable directory (anyone can rename what is below),
# and a chain of links; a link from a safe directory to a safe file runs.
L=$T_TMP/l
mkdir -m 755 "$L" "$L/safe"; mkdir -m 777 "$L/open"; mkdir -m 755 "$L/open/sub"
cp "$D/ok.lua" "$L/open/ok.lua"; cp "$D/ok.lua" "$L/open/sub/ok.lua"; cp "$D/ok.lua" "$L/safe/ok.lua"
chmod 644 "$L/open/ok.lua" "$L/open/sub/ok.lua" "$L/safe/ok.lua"
ln -s ../open/ok.lua "$L/safe/rel.lua"; ln -s "$L/open/ok.lua" "$L/safe/abs.lua"
ln -s "$L/safe/ok.lua" "$L/open/tosafe.lua"; ln -s "$L/open/tosafe.lua" "$L/safe/chain.lua"
ln -s "$L/safe/ok.lua" "$L/safe/good.lua"; ln -s "$L/open" "$L/safe/dirlink"
out=$("$CTLUA" "$L/safe/rel.lua" 2>&1); rc=$?
is "$rc" 1 "a relative symlink into a world-writable, non-sticky directory: exit 1"
like "$out" "refusing to load $L/safe/rel.lua: its directory $L/open is writable by others" "the message names the target's directory"
like "$("$CTLUA" "$L/safe/abs.lua" 2>&1)" "its directory $L/open is writable by others" "an absolute symlink there is refused too"
like "$(cd "$L/safe" && "$CTLUA" rel.lua 2>&1)" "refusing to load rel.lua: its directory $L/open is writable" "and so is a relative script path"
like "$("$CTLUA" "$L/open/tosafe.lua" 2>&1)" "refusing to load $L/open/tosafe.lua: its directory $L/open is writable by others" "a safe file through a link in a world-writable directory is refused"
like "$("$CTLUA" "$L/safe/chain.lua" 2>&1)" "its directory $L/open is writable by others" "so is a chain of links through one"
like "$("$CTLUA" "$L/open/sub/ok.lua" 2>&1)" "the directory on its path $L/open is writable by others" "a file below a world-writable directory is refused"
like "$("$CTLUA" "$L/safe/dirlink/sub/ok.lua" 2>&1)" "the directory on its path $L/open is writable by others" "also reached through a directory symlink"
out=$("$CTLUA" "$L/safe/good.lua" 2>&1); is "$?:$out" "0:ran" "a symlink from a safe directory to a safe file runs"
out=$("$CTLUA" --insecure "$L/safe/rel.lua" 2>&1); is "$?:$out" "0:ran" "--insecure runs the refused link"
ln -s "$L/open/ok.lua" "$M/linked.lua"
out=$("$CTLUA" -e 'package.path = "'"$M"'/?.lua;" .. package.path; require "linked"' 2>&1)
like "$out" "refusing to load $M/linked.lua: its directory $L/open is writable by others" "require follows the link too"

# The runtime itself (lua/ beside the binary) is checked like any module.
R=$T_TMP/r
mkdir -m 755 "$R"
cp "$CTLUA" "$R/ctlua"; cp -r "$TOP/lua" "$R/lua"; chmod -R go-w "$R/lua"
out=$("$R/ctlua" -e 'print(require("ctlua.filter") ~= nil) ct.stop()' 2>&1); is "$?:$out" "0:true" "a private copy of ctlua runs"
chmod o+w "$R/lua/ctlua/filter.lua"
like "$("$R/ctlua" -e 'ct.stop()' 2>&1)" "refusing to load $R/lua/ctlua/filter.lua" "a runtime module others can write is refused"
chmod o+w "$R/lua/ctlua.lua"
like "$("$R/ctlua" -e 'ct.stop()' 2>&1)" "cannot load the runtime: refusing to load $R/lua/ctlua.lua" "so is the runtime itself"
done_testing
