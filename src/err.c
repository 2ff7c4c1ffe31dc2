/* err.c — the one error contract of every bound function (base.h).
 *
 * Names are libuv's (uv_err_name), as luv returns them, so a script compares the
 * same strings whatever failed: a netlink command, a socket, a spawn. An errno
 * libuv has no name for (ETIME, say) gets the C library's, never a made-up one. */
#define _GNU_SOURCE             /* strerrorname_np */
#include <stdarg.h>
#include <string.h>
#include <lauxlib.h>
#include "base.h"

const char *err_name(int e)
{
	static char buf[32];
	uv_err_name_r(-e, buf, sizeof(buf));
	if (strncmp(buf, "Unknown", 7) != 0)
		return buf;
	const char *n = strerrorname_np(e);
	return n ? n : "EIO";
}

int err_push(lua_State *L, int e)
{
	lua_pushnil(L);
	lua_pushstring(L, strerror(e));
	lua_pushstring(L, err_name(e));
	return 3;
}

int err_push_rc(lua_State *L, int rc)
{
	if (rc < 0)
		return err_push(L, -rc);
	lua_pushboolean(L, 1);
	return 1;
}

int err_arg(lua_State *L, int arg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *msg = lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return luaL_argerror(L, arg, msg);
}
