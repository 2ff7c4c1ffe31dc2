/* call.c — the one way C calls into Lua: protected, with a traceback.
 *
 * Startup errors are fatal (the caller exits), runtime errors are reported and the
 * loop goes on: the policy lives with the callers, the mechanism lives here. */
#include <stdio.h>
#include <lauxlib.h>
#include "ctlua.h"

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
	int rc = lua_pcall(L, nargs, nresults, base);
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
