#!/bin/bash
# make install / uninstall with PREFIX and DESTDIR, built from a copy of the tree;
# the man page (mandoc, groff, man), the systemd unit (systemd-analyze verify), the
# /etc files, bash completion, and scripts run by name from the installed directory.
. "$(dirname "$0")/../lib/tap.sh"
src="$T_TMP/src"; pfx="$T_TMP/prefix"; stage="$T_TMP/stage"
# skip REASON — one skipped test (tap.sh may not have it)
type skip > /dev/null 2>&1 || skip() { T_N=$((T_N + 1)); echo "ok # SKIP $1"; }
copy_tree() {
	mkdir -p "$src" && (cd "$TOP" && tar cf - Makefile src lua scripts man systemd etc) | (cd "$src" && tar xf -)
}
copy_tree
make -s -C "$src" install PREFIX="$pfx" SYSCONFDIR="$pfx/etc" > "$T_TMP/make.out" 2>&1; ok $? "make install PREFIX=... SYSCONFDIR=..."
for f in sbin/ctlua share/ctlua/lua/ctlua.lua share/ctlua/lua/ctlua/filter.lua \
	share/ctlua/lua/ctlua/sink.lua share/ctlua/scripts/log.lua \
	share/man/man8/ctlua.8 lib/systemd/system/ctlua@.service share/bash-completion/completions/ctlua \
	etc/default/ctlua etc/logrotate.d/ctlua; do
	[ -f "$pfx/$f" ]; ok $? "installed $f"
done
[ -d "$pfx/etc/ctlua" ]; ok $? "make install creates SYSCONFDIR/ctlua for the unit's scripts"
is "$(grep '^ExecStart=' "$pfx/lib/systemd/system/ctlua@.service")" \
	"ExecStart=$pfx/sbin/ctlua \$CTLUA_OPTS $pfx/etc/ctlua/%i.lua -- \$CTLUA_ARGS" "the unit's ExecStart follows PREFIX and SYSCONFDIR"
is "$(grep -c '/usr/local' "$pfx/share/man/man8/ctlua.8")" 0 "the man page's paths follow PREFIX"
grep -qF "$pfx/share/ctlua/scripts/" "$pfx/share/man/man8/ctlua.8"; ok $? "the man page names the installed scripts directory"
rm -rf "$src"   # the installed binary must not lean on the source tree
out=$(cd / && "$pfx/sbin/ctlua" -e 'print(require("ctlua").version, ct.format ~= nil)'); ok $? "installed ctlua runs from anywhere"
like "$out" "^[0-9.]+	true$" "installed ctlua finds its Lua runtime"
(cd / && "$pfx/sbin/ctlua" --check "$pfx/share/ctlua/scripts/log.lua"); ok $? "installed default script compiles"
# Scripts by name: the current directory first, then the installed scripts.
(cd / && "$pfx/sbin/ctlua" --check top.lua); ok $? "installed: --check top.lua finds the installed script"
(cd / && "$pfx/sbin/ctlua" --check portscan); ok $? "installed: --check portscan (no .lua) finds it too"
mkdir -p "$T_TMP/cwd" && printf 'print("the local one")\n' > "$T_TMP/cwd/log.lua"
is "$(cd "$T_TMP/cwd" && "$pfx/sbin/ctlua" --netlink-file /dev/null log.lua)" "the local one" "a script in the current directory comes first"
is "$(cd / && "$pfx/sbin/ctlua" --netlink-file /dev/null top.lua -- --count 1 --no-dump 2>&1 | head -1 | cut -c1-21)" \
	"ctlua top  events/s: " "installed: ctlua top.lua runs the installed script"
out=$(cd / && "$pfx/sbin/ctlua" --check nosuch.lua 2>&1); rc=$?
is "$rc:$out" "1:ctlua: cannot open nosuch.lua: No such file or directory" "a name found nowhere: cannot open it"
# bash completion: options from --help, scripts by name, a script's options after --
if [ -f /usr/share/bash-completion/bash_completion ]; then
	comp() { bash -c '. /usr/share/bash-completion/bash_completion; . "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_ctlua ctlua; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$pfx/share/bash-completion/completions/ctlua" "$@"; }
	PATH="$pfx/sbin:$PATH"
	is "$(cd / && comp ctlua --me)" "--memory-limit --metrics " "completion: options"
	is "$(cd / && comp ctlua portsc)" "portscan.lua " "completion: installed scripts by name"
	like "$(cd / && comp ctlua top.lua -- --so)" "^--sort $" "completion: the script's options after --"
else
	skip "bash completion (no bash-completion: apt-get install bash-completion)"
fi

# A staged install (as a package build does): exactly these files, nothing more.
copy_tree
make -s -C "$src" install PREFIX=/usr DESTDIR="$stage" > "$T_TMP/make-stage.out" 2>&1; ok $? "make install DESTDIR=... PREFIX=/usr"
[ -x "$stage/usr/sbin/ctlua" ]; ok $? "DESTDIR stages under the prefix"
{
	echo usr/sbin/ctlua
	echo usr/share/ctlua/lua/ctlua.lua
	for f in "$src"/lua/ctlua/*.lua; do echo "usr/share/ctlua/lua/ctlua/${f##*/}"; done
	for f in "$src"/scripts/*.lua; do echo "usr/share/ctlua/scripts/${f##*/}"; done
	echo usr/share/man/man8/ctlua.8
	echo usr/lib/systemd/system/ctlua@.service
	echo usr/share/bash-completion/completions/ctlua
	echo etc/default/ctlua
	echo etc/logrotate.d/ctlua
} | LC_ALL=C sort > "$T_TMP/expected.list"
(cd "$stage" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) > "$T_TMP/staged.list"
same_file "$T_TMP/staged.list" "$T_TMP/expected.list" "the staged tree holds exactly the expected files"
is "$(stat -c %a "$stage/usr/sbin/ctlua") $(stat -c %a "$stage/usr/share/man/man8/ctlua.8") $(stat -c %a "$stage/usr/lib/systemd/system/ctlua@.service")" \
	"755 644 644" "modes: binary 755, man page and unit 644"
sed 's|/usr/local|/usr|g' "$src/man/ctlua.8" > "$T_TMP/ctlua.8"
same_file "$stage/usr/share/man/man8/ctlua.8" "$T_TMP/ctlua.8" "the man page is installed with PREFIX's paths, nothing else changed"
[ -d "$stage/etc/ctlua" ]; ok $? "DESTDIR: /etc/ctlua created"
echo 'CTLUA_OPTS="--resync"' > "$stage/etc/default/ctlua"
make -s -C "$src" install PREFIX=/usr DESTDIR="$stage" > /dev/null 2>&1
is "$(cat "$stage/etc/default/ctlua")" 'CTLUA_OPTS="--resync"' "install again: the admin's /etc/default/ctlua stays"
cp "$src/etc/default/ctlua" "$stage/etc/default/ctlua"

# The unit: paths substituted, the service settings it promises.
unit="$stage/usr/lib/systemd/system/ctlua@.service"
is "$(grep '^ExecStart=' "$unit")" 'ExecStart=/usr/sbin/ctlua $CTLUA_OPTS /etc/ctlua/%i.lua -- $CTLUA_ARGS' "staged unit: ExecStart=/usr/sbin/ctlua \$CTLUA_OPTS /etc/ctlua/%i.lua -- \$CTLUA_ARGS"
is "$(grep -cE '@[A-Z]+@' "$unit")" 0 "staged unit: no @PLACEHOLDER@ left"
grep -q '@SBINDIR@/ctlua $CTLUA_OPTS @SYSCONFDIR@/ctlua/%i.lua' "$src/systemd/ctlua@.service"; ok $? "the unit in the tree holds @SBINDIR@ and @SYSCONFDIR@"
for kv in 'Documentation=man:ctlua(8)' 'Type=simple' 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' \
	'CapabilityBoundingSet=CAP_NET_ADMIN' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
	'User=ctlua' 'AmbientCapabilities=CAP_NET_ADMIN' 'LogsDirectory=ctlua' 'EnvironmentFile=-/etc/default/ctlua' \
	'SystemCallFilter=@system-service' \
	'RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6' 'WantedBy=multi-user.target'; do
	grep -qxF -- "$kv" "$unit"; ok $? "staged unit: $kv"
done

# systemd-analyze verify resolves ExecStart, so verify a copy that runs the staged
# binary; Documentation=man:ctlua(1) is looked up in the staged man directory.
if ! command -v systemd-analyze > /dev/null; then
	skip "systemd-analyze verify (no systemd-analyze: apt-get install systemd)"
	skip "systemd-analyze verify notices a bad key"
else
	vdir="$T_TMP/verify"; mkdir -p "$vdir"
	man_opt=--man=no
	command -v man > /dev/null && man_opt=--man=yes
	printf '[Service]\nExecStart=/bin/true\n' > "$vdir/probe.service"
	probe=$(systemd-analyze verify --man=no "$vdir/probe.service" 2>&1)
	if [ $? -ne 0 ] || [ -n "$probe" ]; then
		skip "systemd-analyze verify (it cannot verify even a trivial unit here: $(printf '%s' "$probe" | head -1))"
		skip "systemd-analyze verify notices a bad key"
	else
		sed "s|^ExecStart=/usr/sbin/ctlua |ExecStart=$stage/usr/sbin/ctlua |" "$unit" > "$vdir/ctlua@.service"
		out=$(cd "$vdir" && MANPATH="$stage/usr/share/man" systemd-analyze verify $man_opt "$vdir/ctlua@portscan.service" 2>&1)
		rc=$?
		is "$rc:$out" "0:" "systemd-analyze verify $man_opt passes on the unit"
		sed 's|^Restart=on-failure|Restart=sometimes|' "$vdir/ctlua@.service" > "$vdir/broken@.service"
		out=$(cd "$vdir" && systemd-analyze verify --man=no "$vdir/broken@x.service" 2>&1)
		like "$out" "restart specifier" "systemd-analyze verify notices a bad key (the check can fail)"
	fi
fi

# The man page: lint-clean in mandoc and groff, renders with man, documents every option.
page="$stage/usr/share/man/man8/ctlua.8"
if command -v mandoc > /dev/null; then
	is "$(mandoc -T lint -W warning "$page" 2>&1)" "" "mandoc -T lint -W warning: nothing to say"
else skip "mandoc lint (no mandoc: apt-get install mandoc)"; fi
if command -v groff > /dev/null; then
	is "$(groff -man -ww -z "$page" 2>&1)" "" "groff -man -ww -z: no warnings"
else skip "groff warnings (no groff: apt-get install groff)"; fi
if command -v man > /dev/null && command -v groff > /dev/null; then
	LC_ALL=C MANWIDTH=100 man -l "$page" > "$T_TMP/man.txt" 2> "$T_TMP/man.err"
	is "$?:$(cat "$T_TMP/man.err")" "0:" "man -l renders the page without errors"
	like "$(head -1 "$T_TMP/man.txt")" "^CTLUA\(8\) " "rendered: header CTLUA(8)"
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'LUA API' SIGNALS 'EXIT STATUS' FILES EXAMPLES 'SEE ALSO'; do
		grep -qx "$s" "$T_TMP/man.txt"; ok $? "rendered: section $s"
	done
	like "$(sed -n '/^NAME$/{n;p;}' "$T_TMP/man.txt")" "^ +ctlua - " "rendered NAME: ctlua - ..."
	# every option --help prints (the staged binary, built from this tree) is a tag in OPTIONS
	sed -n '/^OPTIONS$/,/^LUA API$/p' "$T_TMP/man.txt" > "$T_TMP/man-options.txt"
	opts=$("$stage/usr/sbin/ctlua" --help | grep -E '^ {2}-[a-zA-Z]|^ {6}--[a-z]' |
		sed -E 's/^ +((-[a-zA-Z], )?--?[a-zA-Z][a-z-]*).*/\1/' | grep -oE -- '--?[a-zA-Z][a-z-]*' | sort -u)
	[ "$(printf '%s\n' "$opts" | wc -l)" -ge 20 ]; ok $? "found the options in ctlua --help ($(printf '%s\n' "$opts" | wc -l))"
	missing=""
	for o in $opts; do
		grep -qE -- "^ +(-[a-zA-Z], )?$o( |,|\$)" "$T_TMP/man-options.txt" || missing="$missing $o"
	done
	is "$missing" "" "every option of ctlua --help is in OPTIONS"
	# every function in README's Lua API tables is in LUA API
	sed -n '/^LUA API$/,/^SIGNALS$/p' "$T_TMP/man.txt" > "$T_TMP/man-api.txt"
	fns=$(sed -n '/^## Lua API/,/^### Filters/p' "$TOP/README.md" | grep '^| `ct\.' | cut -d'|' -f2 |
		grep -oE '`ct\.[a-z_.]+' | tr -d '`' | sort -u)
	[ "$(printf '%s\n' "$fns" | wc -l)" -ge 25 ]; ok $? "found the functions in README's Lua API ($(printf '%s\n' "$fns" | wc -l))"
	missing=""
	for f in $fns; do
		grep -qE -- "^ +(.*, )?${f//./\\.}[({]" "$T_TMP/man-api.txt" || missing="$missing $f"
	done
	is "$missing" "" "every function of README's Lua API is in LUA API"
	for x in 'ctlua -e '\''ct.on("new", {proto="tcp"}, function(e) print(e.orig.src, e.orig.dport) end)'\' \
		'ctlua --replay capture.txt rule.lua' 'systemctl start ctlua@portscan' 'ctlua scripts/cleanup-stale.lua'; do
		grep -qF -- "$x" "$T_TMP/man.txt"; ok $? "rendered example: $x"
	done
else
	skip "man -l renders the page (no man or groff: apt-get install man-db groff)"
fi

# Uninstall removes what install put there, and nothing else.
mkdir -p "$stage/usr/share/man/man8" "$stage/usr/lib/systemd/system"
touch "$stage/usr/sbin/other" "$stage/usr/share/man/man8/other.8" "$stage/usr/lib/systemd/system/other.service"
echo '-- the admin rule' > "$stage/etc/ctlua/mine.lua"
make -s -C "$src" uninstall PREFIX=/usr DESTDIR="$stage" > /dev/null 2>&1; ok $? "make uninstall DESTDIR=... PREFIX=/usr"
is "$(cd "$stage" && find . -type f | LC_ALL=C sort | tr '\n' ' ')" \
	"./etc/ctlua/mine.lua ./usr/lib/systemd/system/other.service ./usr/sbin/other ./usr/share/man/man8/other.8 " \
	"staged uninstall removes every installed file and nothing else (the admin's rule stays)"
make -s -C "$src" uninstall PREFIX="$pfx" SYSCONFDIR="$pfx/etc" > /dev/null 2>&1; ok $? "make uninstall"
is "$(find "$pfx" -type f | wc -l)" 0 "uninstall removes every installed file"
done_testing
