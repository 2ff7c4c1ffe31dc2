/* secure.c — as root, load no code that someone else could have written.
 *
 * A script, the runtime or a module (Lua or C, through require) is refused when
 * it, or any directory on its resolved path or holding a symlink on the way to
 * it, is writable by group or others (a sticky directory such as /tmp is fine),
 * or when one of them is owned by a user other than root, the user ctlua runs
 * as, or the owner of the ctlua binary (who could change the binary itself, so
 * trusting their files adds nothing). --insecure lifts the check. */
#include <errno.h>
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

/* 0 when the directory dir (its stat in st) may hold code, else -1 with the
 * reason in msg. */
static int check_dir(const char *path, const char *dir, const struct stat *st, int parent,
		     char *msg, size_t len)
{
	const char *which = parent ? "its directory" : "the directory on its path";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
		snprintf(msg, len, "refusing to load %s: %s %s is writable by %s (or run with --insecure)",
			 path, which, dir, st->st_mode & S_IWOTH ? "others" : "its group");
		return -1;
	}
	if (!trusted_owner(st->st_uid)) {
		snprintf(msg, len, "refusing to load %s: %s %s is owned by uid %u (or run with --insecure)",
			 path, which, dir, (unsigned)st->st_uid);
		return -1;
	}
	return 0;
}

/* Resolves path one component at a time, as the kernel does, and checks every
 * directory it passes through: each one on the resolved path from / down, and so
 * each one holding a symlink it follows (whoever can write there can point the
 * link elsewhere, or rename what is below). A path that does not resolve is 0:
 * the loader reports it its own way. */
static int check_dirs(const char *path, char *msg, size_t len)
{
	char rest[2 * PATH_MAX + 2], cur[PATH_MAX] = "", link[PATH_MAX], tmp[sizeof(rest)];
	struct stat st;
	if (path[0] == '/')
		snprintf(rest, sizeof(rest), "%s", path);
	else if (getcwd(cur, sizeof(cur)))
		snprintf(rest, sizeof(rest), "%s/%s", cur, path), cur[0] = '\0';
	else
		return 0;
	if (stat("/", &st) == 0 && check_dir(path, "/", &st, 0, msg, len) < 0)
		return -1;
	for (int hops = 0;;) {
		char *p = rest;
		while (*p == '/')
			p++;
		if (!*p)
			return 0;
		char *q = strchr(p, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		const char *more = q ? q : "";
		while (*more == '/')
			more++;
		char comp[NAME_MAX + 1];
		if (n > NAME_MAX)
			return 0;
		memcpy(comp, p, n), comp[n] = '\0';
		/* what is left after this component, moved to the front */
		memmove(rest, more, strlen(more) + 1);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(cur, '/');
			if (slash)
				*slash = '\0';
			continue;
		}
		char next[PATH_MAX];
		if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, comp) >= sizeof(next)) {
			snprintf(msg, len, "refusing to load %s: its path is too long to check (or run with --insecure)", path);
			return -1;
		}
		if (lstat(next, &st) < 0)
			return 0;
		if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlink(next, link, sizeof(link) - 1);
			if (l < 0 || ++hops > 40)
				return 0;
			link[l] = '\0';
			if (link[0] == '/')
				cur[0] = '\0';
			/* too long to follow here: refuse rather than check another path */
			if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s%s", link, rest[0] ? "/" : "", rest) >= sizeof(tmp)) {
				snprintf(msg, len, "refusing to load %s: its path is too long to check (or run with --insecure)", path);
				return -1;
			}
			memcpy(rest, tmp, sizeof(rest));
			continue;
		}
		if (!rest[0])
			return 0;         /* the file itself: check_file looks at it */
		if (!S_ISDIR(st.st_mode))
			return 0;
		if (check_dir(path, next, &st, !strchr(rest, '/'), msg, len) < 0)
			return -1;
		memcpy(cur, next, sizeof(cur));
	}
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
	return check_dirs(path, msg, len);
}

/* A script named without a directory that is not in the current one: the
 * scripts directory beside luadir (its parent's scripts/: the source tree's or
 * the installed one), NAME then NAME.lua. Returns the path to load: buf, or name
 * itself when it is there or nowhere (the loader then says it cannot open it). */
const char *script_path(const char *luadir, const char *name, char *buf, size_t len)
{
	const char *slash = strrchr(luadir, '/');
	if (strchr(name, '/') || access(name, F_OK) == 0 || !slash)
		return name;
	for (int ext = 0; ext < 2; ext++) {
		int n = snprintf(buf, len, "%.*s/scripts/%s%s", (int)(slash - luadir), luadir, name, ext ? ".lua" : "");
		if (n > 0 && (size_t)n < len && access(buf, F_OK) == 0)
			return buf;
	}
	return name;
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
