/* reload.c — SIGHUP: build a new Lua state from the same files, swap it in only
 * if every script loads and it subscribes; otherwise keep the running one.
 *
 * Nothing is read from the event socket during the swap (it all happens in one
 * signal callback), and the socket stays open, so events that arrive meanwhile
 * queue in its buffer and go to the new state. The old state's "reload" handlers
 * fill a table of plain data that the new state gets as ct.handover(). */
#include <stdio.h>
#include <lauxlib.h>
#include "ctlua.h"

#define HANDOVER_DEPTH 100

static const struct config *cfg;

void reload_init(const struct config *c)
{
	cfg = c;
}

/* Pushes onto `to` a copy of the value at idx in `from`: plain data only. Runs in
 * a protected call of `to`, so its allocation errors and ours are caught there. */
static void copy_value(lua_State *from, int idx, lua_State *to, int depth)
{
	idx = lua_absindex(from, idx);
	luaL_checkstack(to, 3, "handover");
	switch (lua_type(from, idx)) {
	case LUA_TNIL: lua_pushnil(to); break;
	case LUA_TBOOLEAN: lua_pushboolean(to, lua_toboolean(from, idx)); break;
	case LUA_TNUMBER:
		if (lua_isinteger(from, idx))
			lua_pushinteger(to, lua_tointeger(from, idx));
		else
			lua_pushnumber(to, lua_tonumber(from, idx));
		break;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(from, idx, &n);
		lua_pushlstring(to, s, n);
		break;
	}
	case LUA_TTABLE:
		if (depth >= HANDOVER_DEPTH)
			luaL_error(to, "handover: tables nested deeper than %d levels (a cycle?)", HANDOVER_DEPTH);
		if (!lua_checkstack(from, 3))
			luaL_error(to, "handover: out of stack");
		lua_newtable(to);
		lua_pushnil(from);
		while (lua_next(from, idx)) {
			copy_value(from, -2, to, depth + 1);
			copy_value(from, -1, to, depth + 1);
			lua_rawset(to, -3);
			lua_pop(from, 1);
		}
		break;
	default:
		luaL_error(to, "handover: a %s cannot be handed over (only nil, booleans, numbers, strings and tables)",
			   lua_typename(from, lua_type(from, idx)));
	}
}

/* Protected in the new state: pushes the copy of the old state's top value. */
static int handover(lua_State *L)
{
	lua_State *old = lua_touserdata(L, 1);
	copy_value(old, -1, L, 0);
	return 1;
}

/* Called on SIGHUP. */
void reload_run(void)
{
	struct lstate *was = rt.ls;
	lua_State *old = was->L;
	if (!cfg || rt.stopping)
		return;
	if (call_hook("reload", 0, 1) != LUA_OK) {
		call_report(old, "reload handlers failed; the running scripts go on");
		return;
	}
	struct lstate *ls = state_open(cfg, handover, old);
	if (!ls) {
		lua_pop(old, 1);
		fprintf(stderr, "ctlua: reload failed, the running scripts go on: %s\n", state_error(NULL));
		fflush(stderr);
		if (call_hook("hup", 0, 0) != LUA_OK)    /* log files are reopened all the same */
			call_report(old, "SIGHUP");
		return;
	}
	lua_pop(old, 1);
	lua_State *L = ls->L;
	lua_pushboolean(L, 0);
	lua_pushboolean(L, 1);
	if (call_hook("start", 2, 3) != LUA_OK || lua_isnil(L, -3)) {
		const char *msg = lua_tostring(L, lua_gettop(L) == 1 ? -1 : -2);
		fprintf(stderr, "ctlua: reload failed, the running scripts go on: cannot subscribe: %s\n",
			msg ? msg : "?");
		fflush(stderr);
		state_close(ls);
		rt.ls = was;
		if (call_hook("resubscribe", 0, 0) != LUA_OK)
			call_report(old, "resubscribe");
		return;
	}
	lua_settop(L, 0);
	state_close(was);
	stats.reloads++;
	if (conf.verbose)
		fprintf(stderr, "ctlua: reloaded\n");
}
