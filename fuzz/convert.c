/* fuzz/convert.c — libFuzzer target: netlink messages -> event tables -> handlers.
 *
 * The input is one datagram as the event socket would receive it: any number of
 * netlink messages. It goes through the same path as live events (event_feed:
 * classify, convert with the field list, one protected dispatch), into a handler
 * for every event kind that reads every field, formats the event the way
 * conntrack -E does and encodes it as JSON. A crash, a sanitizer report or a
 * handler error (a table the formatter cannot take) is a finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <lauxlib.h>
#include "../src/ctlua.h"
#include "fuzz.h"

static const char *script =
	"local finding = finding\n"
	"local function walk(v) if type(v) == 'table' then for k, x in pairs(v) do walk(x) end end end\n"
	"local function work(ev) walk(ev) ct.format(ev) ct.format(ev, { timestamp = true }) ct.json(ev) end\n"
	"for _, name in ipairs { 'new', 'update', 'destroy', 'expect-new', 'expect-destroy' } do\n"
	"  ct.on(name, function(ev) local ok, err = xpcall(work, debug.traceback, ev) if not ok then finding('a handler failed on this input: ' .. err) end end)\n"
	"end\n";

/* Runs in the new state before the runtime: `finding` for the script; no handover. */
static int setup(lua_State *L)
{
	lua_register(L, "finding", finding);
	lua_pushnil(L);
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	G.loop = uv_default_loop();
	G.budget_ms = 10000;
	convert_init();
	const char *chunks[] = { script };
	static struct config cfg;
	cfg = (struct config){ .mode = "netlink-file", .luadir = FUZZ_LUADIR, .insecure = 1,
			       .chunks = chunks, .nchunks = 1 };
	if (!state_open(&cfg, setup, NULL)) {
		fprintf(stderr, "fuzz: %s\n", state_error(NULL));
		exit(1);
	}
	lua_pushboolean(G.L, 1);
	lua_pushboolean(G.L, 0);
	if (call_hook("start", 2, 3) != LUA_OK)
		exit(1);
	lua_settop(G.L, 0);
	luacov_start(G.L);    /* replaces the time budget hook: no budget while fuzzing */
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
	event_feed(buf, size);
	lua_settop(G.L, 0);
	static unsigned runs;
	if (++runs % 4096 == 0)     /* keep the RSS flat over millions of runs */
		lua_gc(G.L, LUA_GCCOLLECT);
	return 0;
}
