/* core.c — the bindings: the C core as one table handed to the Lua runtime
 * (lua/ctlua.lua), plus the functions that belong to no mechanism (clock, stats,
 * hooks, fields, addresses, syslog).
 *
 * The one place that registers every C module, and the only file above them. Scripts never see this table: the
 * runtime keeps it as an upvalue and exposes only the public `ctlua` API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <lauxlib.h>
#include "ctlua.h"

/* core.now() -> wall-clock seconds (float) */
static int core_lnow(lua_State *L)
{
	lua_pushnumber(L, rt_now());
	return 1;
}

/* core.stop() -> nothing; leaves the loop after the current callback */
static int core_lstop(lua_State *L)
{
	(void)L;
	rt_stop();
	return 0;
}

/* core.stopping() -> boolean: ct.stop() or a signal asked to leave */
static int core_stopping(lua_State *L)
{
	lua_pushboolean(L, rt.stopping);
	return 1;
}

/* core.arm() -> nothing: starts the time budget of one call (replay dispatches
 * every event from inside one long protected call) */
static int core_arm(lua_State *L)
{
	(void)L;
	call_arm();
	return 0;
}

/* core.stats() -> { events = {new=, update=, ...}, overruns, parse_errors, ... } */
static int core_stats(lua_State *L)
{
	lua_createtable(L, 0, 8);
	lua_createtable(L, 0, EV_KINDS);
	for (int i = 0; i < EV_KINDS; i++) {
		lua_pushinteger(L, (lua_Integer)stats.events[i]);
		lua_setfield(L, -2, ev_kind_name[i]);
	}
	lua_setfield(L, -2, "events");
	if (netns_mode) {
		/* netns = { name = { new = n, ... } } for each namespace watched */
		lua_newtable(L);
		for (int ns = 0; ns < NETNS_MAX; ns++) {
			if (!event_watched(ns) || !netns_name(ns))
				continue;
			lua_createtable(L, 0, EV_KINDS);
			for (int i = 0; i < EV_KINDS; i++) {
				lua_pushinteger(L, (lua_Integer)event_count(ns, i));
				lua_setfield(L, -2, ev_kind_name[i]);
			}
			lua_setfield(L, -2, netns_name(ns));
		}
		lua_setfield(L, -2, "netns");
	}
#define STAT(n) lua_pushinteger(L, (lua_Integer)stats.n), lua_setfield(L, -2, #n)
	STAT(overruns);
	STAT(parse_errors);
	STAT(timer_errors);
	STAT(batches);
	STAT(timeouts);
	STAT(commands);
	STAT(command_errors);
	STAT(reloads);
	STAT(metrics_refused);
#undef STAT
	lua_pushinteger(L, rcvbuf_size());
	lua_setfield(L, -2, "rcvbuf");
	lua_pushinteger(L, (lua_Integer)lstate_of(L)->mem);
	lua_setfield(L, -2, "memory");
	if (conf.timing) {
		/* handler_time = { le = {...}, counts = {...} (per bucket, last +Inf), sum } */
		lua_createtable(L, 0, 3);
		lua_createtable(L, HTIME_BUCKETS, 0);
		for (int i = 0; i < HTIME_BUCKETS; i++) {
			lua_pushnumber(L, htime_le[i]);
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "le");
		lua_createtable(L, HTIME_BUCKETS + 1, 0);
		for (int i = 0; i <= HTIME_BUCKETS; i++) {
			lua_pushinteger(L, (lua_Integer)stats.htime[i]);
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "counts");
		lua_pushnumber(L, stats.htime_sum);
		lua_setfield(L, -2, "sum");
		lua_setfield(L, -2, "handler_time");
	}
	return 1;
}

/* core.hooks(t) -> nothing; t = { dispatch = fn(ev), overrun = fn(n), ... } */
static int core_hooks(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "dispatch");
	luaL_argcheck(L, lua_isfunction(L, -1), 1, "hooks.dispatch must be a function");
	lstate_of(L)->dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, 1);
	lstate_of(L)->hooks_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* core.fields() -> { conntrack = {...}, tuple = {...}, expect = {...} } (fields.h) */
static int core_fields(lua_State *L)
{
	convert_push_fields(L);
	return 1;
}

/* core.addr(text) -> family ("ipv4"|"ipv6"), canonical text, raw bytes | nil */
static int core_addr(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	unsigned char b[16];
	char out[INET6_ADDRSTRLEN];
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, s, b) != 1)
		return 0;
	inet_ntop(fam, b, out, sizeof(out));
	lua_pushstring(L, fam == AF_INET ? "ipv4" : "ipv6");
	lua_pushstring(L, out);
	lua_pushlstring(L, (const char *)b, fam == AF_INET ? 4 : 16);
	return 3;
}

/* core.addr_in(text, netbytes, bits) -> boolean: is address text inside the prefix */
static int core_addr_in(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	size_t nl;
	const unsigned char *net = (const unsigned char *)luaL_checklstring(L, 2, &nl);
	lua_Integer bits = luaL_checkinteger(L, 3);
	unsigned char b[16];
	int fam = nl == 16 ? AF_INET6 : AF_INET;
	if (inet_pton(fam, s, b) != 1 || bits < 0 || bits > (lua_Integer)nl * 8) {
		lua_pushboolean(L, 0);
		return 1;
	}
	int full = (int)bits / 8, rest = (int)bits % 8;
	int ok = memcmp(b, net, (size_t)full) == 0;
	if (ok && rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));
		ok = (b[full] & m) == (net[full] & m);
	}
	lua_pushboolean(L, ok);
	return 1;
}

/* core.syslog_open(ident) -> nothing */
static int core_syslog_open(lua_State *L)
{
	static char ident[64];
	snprintf(ident, sizeof(ident), "%s", luaL_checkstring(L, 1));
	openlog(ident, LOG_PID, LOG_DAEMON);
	return 0;
}

/* core.syslog(priority, message) -> nothing */
static int core_syslog(lua_State *L)
{
	syslog((int)luaL_checkinteger(L, 1), "%s", luaL_checkstring(L, 2));
	return 0;
}

/* core.pid() -> the process id */
static int core_pid(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)getpid());
	return 1;
}

static const luaL_Reg core_funcs[] = {
	{ "pid", core_pid },
	{ "now", core_lnow },
	{ "stop", core_lstop },
	{ "stats", core_stats },
	{ "stopping", core_stopping },
	{ "arm", core_arm },
	{ "syslog_open", core_syslog_open },
	{ "syslog", core_syslog },
	{ "hooks", core_hooks },
	{ "fields", core_fields },
	{ "addr", core_addr },
	{ "addr_in", core_addr_in },
	{ NULL, NULL },
};

/* Pushes the core table with every C module registered into it. */
int core_open(lua_State *L)
{
	luaL_newlib(L, core_funcs);
	event_register(L);
	convert_register(L);
	timer_register(L);
	table_register(L);
	expect_register(L);
	spawn_register(L);
	sink_register(L);
	route_register(L);
	watch_register(L);
	health_register(L);
	nft_register(L);
	tty_register(L);
	lua_pushliteral(L, CTLUA_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}
