/* fuzz/convert.c — libFuzzer target: netlink messages -> events -> text, JSON and
 * tables, through the event path alone (decode.c, format.c, convert.c, names.c
 * and the base: no socket, no loop, no runtime).
 *
 * The input is one datagram as the event socket would receive it: any number of
 * netlink messages. Each is classified and decoded once, formatted the way the
 * sinks write it (conntrack -E text, with and without the timestamp, and JSON),
 * and turned into the event table handlers get; a walker reads every field of
 * the table, then formats it and encodes it as JSON from the table (ct.format,
 * ct.json). A crash, a sanitizer report or a walker error (a table the formatter
 * cannot take) is a finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <lauxlib.h>
#include <lualib.h>
#include "../src/convert.h"
#include "../src/decode.h"
#include "../src/format.h"
#include "fuzz.h"

static const char *walker =
	"local core = ...\n"
	"local function walk(v) if type(v) == 'table' then for k, x in pairs(v) do walk(x) end end end\n"
	"return function(ev) walk(ev) core.format(ev) core.format(ev, { timestamp = true })\n"
	"  core.format(ev, 'extended,timestamp,id,ktimestamp,labels,userspace') core.format(ev, 'xml,timestamp')\n"
	"  core.format(ev, 'save') core.json(ev) end\n";

static lua_State *L;
static int work;                 /* registry ref of the walker */
static struct obuf out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	names_init();
	L = luaL_newstate();
	luaL_openlibs(L);
	if (luaL_loadstring(L, walker) != LUA_OK)
		abort();
	lua_newtable(L);
	convert_register(L);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
		abort();
	}
	work = luaL_ref(L, LUA_REGISTRYINDEX);
	luacov_start(L);
	return 0;
}

/* Protected: the event's table, then the walker on it. */
static int to_table(lua_State *L)
{
	const struct ctev *ev = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, work);
	convert_ev(L, ev);
	lua_call(L, 1, 0);
	return 0;
}

static char buf[1 << 16] __attribute__((aligned(8)));

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size > sizeof(buf))
		return -1;
	memcpy(buf, data, size);
	/* The sender's port id only names a process to look up in /proc: not input
	 * worth fuzzing, and slow. */
	int left = (int)size;
	for (struct nlmsghdr *nlh = (void *)buf; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		nlh->nlmsg_pid = 0;
	left = (int)size;
	for (struct nlmsghdr *nlh = (void *)buf; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		int kind = decode_kind(nlh);
		struct ctev ev;
		if (kind < 0 || decode_msg(nlh, kind >= EV_EXP_NEW, &ev) < 0)
			continue;
		ctev_finish(&ev, kind, 1e9, 0, NULL);
		out.n = 0;
		format_text(&out, &ev, 0);
		format_text(&out, &ev, FMT_TIMESTAMP);
		/* every -o form: all words but save together, and save alone */
		format_text(&out, &ev, FMT_TIMESTAMP | FMT_ID | FMT_EXTENDED | FMT_KTIMESTAMP |
			    FMT_LABELS | FMT_USERSPACE);
		format_text(&out, &ev, FMT_XML | FMT_TIMESTAMP | FMT_KTIMESTAMP | FMT_ID);
		format_text(&out, &ev, FMT_SAVE);
		format_json(&out, &ev);
		lua_pushcfunction(L, to_table);
		lua_pushlightuserdata(L, &ev);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
			lua_pushcfunction(L, finding);
			lua_pushfstring(L, "a handler failed on this input: %s", lua_tostring(L, -2));
			lua_call(L, 1, 0);
		}
	}
	static unsigned runs;
	if (++runs % 4096 == 0)     /* keep the RSS flat over millions of runs */
		lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
