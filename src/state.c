/* state.c — one Lua state: the runtime (lua/ctlua.lua), then the scripts.
 *
 * Built once at startup and again on every reload (reload.c), from the same
 * configuration. Building never exits: it returns NULL and says why, and the
 * caller decides (fatal at startup, keep the running state on reload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "ctlua.h"

static char failure[4096];
static int failure_kind;

const char *state_error(int *kind)
{
	if (kind)
		*kind = failure_kind;
	return failure;
}

static void fail(int kind, const char *fmt, const char *msg)
{
	snprintf(failure, sizeof(failure), fmt, msg ? msg : "(no message)");
	failure_kind = kind;
}

/* Only reached for errors outside any protected call: a bug, or the host out of
 * memory. */
static int panic(lua_State *L)
{
	fprintf(stderr, "ctlua: fatal: %s\n", lua_tostring(L, -1));
	abort();
	return 0;
}

/* Loads lua/ctlua.lua with the core table; it becomes require "ctlua" and global
 * ct. The value on top of the stack (nil at a cold start) becomes core.handover. */
static int load_runtime(lua_State *L, const struct config *c)
{
	luaL_openlibs(L);
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", c->luadir, c->luadir);
	lua_getfield(L, -2, "path");
	lua_concat(L, 2);
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	secure_searchers(L, c);

	char path[4200];
	snprintf(path, sizeof(path), "%s/ctlua.lua", c->luadir);
	if (script_load(L, c, path) != LUA_OK)
		return -1;
	core_open(L);
	lua_pushboolean(L, c->kernel_filter);
	lua_setfield(L, -2, "use_kernel_filter");
	lua_pushboolean(L, c->resync);
	lua_setfield(L, -2, "resync");
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "handover");
	lua_pushstring(L, c->mode);
	if (call_protected(L, 2, 1) != LUA_OK)
		return -1;
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "ctlua");
	lua_pop(L, 1);
	lua_setglobal(L, "ct");
	return 0;
}

/* Builds a state and makes it current (rt.ls): the runtime, arg, then each script
 * with the script arguments as `...`. handover: a C function pushing the value for
 * core.handover, or NULL. Returns the state, or NULL with state_error() set; the
 * current state is then as it was. */
struct lstate *state_open(const struct config *c, lua_CFunction handover, void *hdata)
{
	struct lstate *saved = rt.ls;
	struct lstate *ls = calloc(1, sizeof(*ls));
	lua_State *L = ls ? lua_newstate(call_alloc, ls) : NULL;
	if (!L) {
		free(ls);
		fail(EXIT_SYSTEM, "%s", "out of memory");
		return NULL;
	}
	ls->L = L, ls->mem_limit = conf.mem_limit;
	ls->hooks_ref = ls->dispatch_ref = LUA_NOREF;
	lua_atpanic(L, panic);
	/* Generational GC: event tables die young, and a minor collection never walks
	 * the scripts' long-lived state (measured: about 6 % fewer instructions per
	 * event than incremental). Scripts may still pick collectgarbage("incremental"). */
	lua_gc(L, LUA_GCGEN, 0, 0);
	call_limits(L);            /* before anything runs: every thread inherits the hook */
	call_loading(1, c->luadir);
	rt.ls = ls;

	if (handover) {
		lua_pushcfunction(L, handover);
		lua_pushlightuserdata(L, hdata);
		if (call_protected(L, 1, 1) != LUA_OK) {
			fail(EXIT_SCRIPT, "%s", lua_tostring(L, -1));
			goto bad;
		}
	} else {
		lua_pushnil(L);
	}
	if (load_runtime(L, c) < 0) {
		fail(EXIT_SYSTEM, "cannot load the runtime: %s", lua_tostring(L, -1));
		goto bad;
	}
	lua_pop(L, 1);

	/* arg[0] is the first script, arg[1..] the script arguments (as lua(1) does). */
	lua_createtable(L, c->sargc, 1);
	lua_pushstring(L, c->nscripts ? c->scripts[0] : "-e");
	lua_rawseti(L, -2, 0);
	for (int i = 0; i < c->sargc; i++) {
		lua_pushstring(L, c->sargv[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setglobal(L, "arg");

	for (int i = 0; i < c->nscripts + c->nchunks && !rt.stopping; i++) {
		const char *chunk = i < c->nscripts ? NULL : c->chunks[i - c->nscripts];
		char found[4200];        /* a script named without its directory (secure.c) */
		int st = chunk ? luaL_loadbuffer(L, chunk, strlen(chunk), "=(command line)")
			       : script_load(L, c, script_path(c->luadir, c->scripts[i], found, sizeof(found)));
		if (st == LUA_OK) {
			luaL_checkstack(L, c->sargc, "too many script arguments");
			for (int a = 0; a < c->sargc; a++)
				lua_pushstring(L, c->sargv[a]);
			st = call_protected(L, c->sargc, 0);
		}
		if (st != LUA_OK) {
			/* ctlua.args raises {exit, message}: --help (0) or a usage error (2) */
			int code = EXIT_SCRIPT;
			if (lua_type(L, -1) == LUA_TTABLE) {
				lua_getfield(L, -1, "exit");
				code = (int)lua_tointeger(L, -1);
				lua_getfield(L, -2, "message");
			}
			fail(code, "%s", lua_tostring(L, -1));
			goto bad;
		}
	}
	call_loading(0, NULL);
	return ls;
bad:
	call_loading(0, NULL);
	state_close(ls);
	rt.ls = saved;
	return NULL;
}

/* Closes a state that is not, or no longer, current: its timers and dumps close
 * (their __gc), its running processes are detached (they finish unobserved). The
 * scripts' finalizers run too, under a budget like any call (a looping one meets
 * the watchdog: Lua runs no hook inside __gc). */
void state_close(struct lstate *ls)
{
	lua_State *L = ls->L;
	spawn_detach(L);
	route_drop_state(L);
	call_arm();
	lua_close(L);
	call_disarm();
	free(ls);
}
