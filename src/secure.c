/* secure.c — as root, load no code that someone else could have written.
 *
 * A script, the runtime or a module (Lua or C, through require) is refused when
 * it or its directory is writable by group or others (a sticky directory such as
 * /tmp is fine), or when it is owned by a user other than root, the user ctlua
 * runs as, or the owner of the ctlua binary (who could change the binary itself,
 * so trusting their files adds nothing). --insecure lifts the check. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "ctlua.h"

static int checking = -1;     /* -1: not decided yet */
static uid_t exe_owner;

static int should_check(const struct config *c)
{
	if (checking < 0) {
		struct stat st;
		exe_owner = stat("/proc/self/exe", &st) == 0 ? st.st_uid : 0;
		checking = geteuid() == 0 && !c->insecure;
	}
	return checking;
}

static int trusted_owner(uid_t u)
{
	return u == 0 || u == geteuid() || u == exe_owner;
}

/* 0 when path may be loaded, else -1 with the reason in msg. */
static int check_file(const char *path, char *msg, size_t len)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;             /* the loader reports a missing file its own way */
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(msg, len, "refusing to load %s: writable by %s (chmod go-w it, or run with --insecure)",
			 path, st.st_mode & S_IWOTH ? "others" : "its group");
		return -1;
	}
	if (!trusted_owner(st.st_uid)) {
		snprintf(msg, len, "refusing to load %s: owned by uid %u, not root (chown root it, or run with --insecure)",
			 path, (unsigned)st.st_uid);
		return -1;
	}
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	const char *dir = dirname(copy);
	if (stat(dir, &st) < 0)
		return 0;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(msg, len, "refusing to load %s: its directory %s is writable by %s (or run with --insecure)",
			 path, dir, st.st_mode & S_IWOTH ? "others" : "its group");
		return -1;
	}
	if (!trusted_owner(st.st_uid)) {
		snprintf(msg, len, "refusing to load %s: its directory %s is owned by uid %u (or run with --insecure)",
			 path, dir, (unsigned)st.st_uid);
		return -1;
	}
	return 0;
}

/* luaL_loadfile with the check: LUA_ERRFILE and the reason on refusal. */
int script_load(lua_State *L, const struct config *c, const char *path)
{
	char msg[PATH_MAX + 256];
	if (should_check(c) && check_file(path, msg, sizeof(msg)) < 0) {
		lua_pushstring(L, msg);
		return LUA_ERRFILE;
	}
	return luaL_loadfile(L, path);
}

/* A package.searchers entry wrapping Lua's own (upvalue 1), checking the file it
 * would load, found on package[upvalue 2] ("path" or "cpath"). Refusal raises, so
 * require stops there instead of looking further. */
static int secure_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchpath");
	lua_pushstring(L, name);
	lua_getfield(L, -3, lua_tostring(L, lua_upvalueindex(2)));
	lua_call(L, 2, 1);
	if (lua_type(L, -1) == LUA_TSTRING) {
		char msg[PATH_MAX + 256];
		if (check_file(lua_tostring(L, -1), msg, sizeof(msg)) < 0)
			return luaL_error(L, "%s", msg);
	}
	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Wraps the Lua and C file searchers of require (package.searchers[2] and [3])
 * when checking; a no-op otherwise. */
void secure_searchers(lua_State *L, const struct config *c)
{
	if (!should_check(c))
		return;
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchers");
	static const char *const which[] = { NULL, NULL, "path", "cpath" };
	for (int i = 2; i <= 3; i++) {
		lua_rawgeti(L, -1, i);
		lua_pushstring(L, which[i]);
		lua_pushcclosure(L, secure_searcher, 2);
		lua_rawseti(L, -2, i);
	}
	lua_pop(L, 2);
}
