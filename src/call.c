/* call.c — the one way C calls into Lua: protected, with a traceback.
 *
 * Startup errors are fatal (the caller exits), runtime errors are reported and the
 * loop goes on: the policy lives with the callers, the mechanism lives here. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <lauxlib.h>
#include "ctlua.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The Lua state's allocator: counts its bytes and refuses past the cap, which Lua
 * turns into a "not enough memory" error inside the call that asked (after a full
 * collection and a retry), so a runaway script fails, not ctlua. */
void *call_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	size_t *used = ud;         /* each state counts its own (two live during a reload) */
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		*used -= old;
		return NULL;
	}
	if (G.mem_limit && nsize > old && *used + (nsize - old) > G.mem_limit)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		*used = *used - old + nsize;
	return p;
}

/* Count hook: a call past its deadline raises, once; the next handler of the same
 * event gets a fresh budget. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	if (G.deadline_ms && now_ms() > G.deadline_ms) {
		G.deadline_ms = now_ms() + G.budget_ms;
		G.stats.timeouts++;
		luaL_where(L, 0);     /* the function that was running: the runaway one */
		lua_pushfstring(L, "handler exceeded %d ms", (int)G.budget_ms);
		lua_concat(L, 2);
		lua_error(L);
	}
}

/* Installs the time budget hook (after the scripts have loaded: loading may take
 * as long as it needs). */
void call_limits(lua_State *L)
{
	if (G.budget_ms)
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1000);
}

/* Starts the budget of one call into Lua. */
void call_arm(void)
{
	if (G.budget_ms)
		G.deadline_ms = now_ms() + G.budget_ms;
}

/* Message handler: turn any error value into "message\ntraceback". */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Calls the function below the nargs arguments on top of the stack. On error the
 * message (with traceback) is left on the stack in place of the results. */
int call_protected(lua_State *L, int nargs, int nresults)
{
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	call_arm();
	int rc = lua_pcall(L, nargs, nresults, base);
	G.deadline_ms = 0;
	lua_remove(L, base);
	return rc;
}

/* Prints the error on top of the stack as one report and pops it. */
void call_report(lua_State *L, const char *what)
{
	fprintf(stderr, "ctlua: %s: %s\n", what, lua_tostring(L, -1));
	fflush(stderr);
	lua_pop(L, 1);
}

/* Calls hooks[name] of the Lua runtime with the nargs arguments on the stack. */
int call_hook(const char *name, int nargs, int nresults)
{
	lua_State *L = G.L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, G.hooks_ref);
	lua_getfield(L, -1, name);
	lua_remove(L, -2);
	lua_insert(L, -(nargs + 1));
	return call_protected(L, nargs, nresults);
}
