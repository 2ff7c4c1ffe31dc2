/* runtime.c — the process's state (base.h says which lifetime each part has),
 * the clock, stopping, and the userdata class helper every binding uses. */
#include <time.h>
#include <lauxlib.h>
#include "base.h"

struct conf conf;
struct run rt = { .live = 1 };
struct ctlua_stats stats;

const char *const ev_kind_name[EV_KINDS] = { "new", "update", "destroy", "expect-new", "expect-destroy" };
const double htime_le[HTIME_BUCKETS] = { 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2,
					  0.1, 0.5, 1, 5 };

struct lstate *lstate_of(lua_State *L)
{
	void *ud;
	lua_getallocf(L, &ud);
	return ud;
}

double rt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rt_stop(void)
{
	if (!rt.stopping) {
		rt.stopping = 1;
		uv_stop(rt.loop);
	}
}

void rt_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods)
{
	luaL_newmetatable(L, name);
	luaL_setfuncs(L, meta, 0);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}
