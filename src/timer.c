/* timer.c — ct.every / ct.after: libuv timers as userdata.
 *
 * The uv handle lives in malloc'd memory, not in the userdata, because uv_close()
 * finishes asynchronously, after Lua may already have freed the userdata. While a
 * timer is armed, the registry anchors its userdata, so a discarded handle keeps
 * firing; once stopped it is ordinary garbage and __gc closes the handle. */
#include <math.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "ctlua.h"

#define TIMER_MT "ctlua.timer"

struct timer {
	uv_timer_t h;
	int fn;      /* registry ref of the callback */
	int self;    /* registry ref anchoring the userdata while armed, or LUA_NOREF */
	struct lstate *ls;   /* the state it belongs to (its refs are there) */
};

static struct timer *check_timer(lua_State *L, int idx)
{
	struct timer **p = luaL_checkudata(L, idx, TIMER_MT);
	return *p;
}

static void disarm(lua_State *L, struct timer *t)
{
	if (!t)
		return;
	uv_timer_stop(&t->h);
	luaL_unref(L, LUA_REGISTRYINDEX, t->self);
	t->self = LUA_NOREF;
}

static void on_timer(uv_timer_t *h)
{
	struct timer *t = h->data;
	lua_State *L = t->ls->L;
	if (rt.stopping)
		return;
	int repeating = uv_timer_get_repeat(h) > 0;
	lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn);
	lua_rawgeti(L, LUA_REGISTRYINDEX, t->self);   /* the handle, so fn can :stop() it */
	if (!repeating)
		disarm(L, t);                          /* one-shot: garbage once fn returns */
	if (call_protected(L, 1, 0) != LUA_OK) {
		stats.timer_errors++;
		call_report(L, "timer error");
	}
}

static int start_timer(lua_State *L, int repeat)
{
	double s = luaL_checknumber(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds out of range");
	luaL_argcheck(L, !repeat || s > 0, 1, "interval must be > 0");
	uint64_t ms = (uint64_t)ceil(s * 1000.0);
	if (repeat && ms == 0)
		ms = 1;

	struct timer **p = lua_newuserdatauv(L, sizeof(*p), 0);
	*p = NULL;
	luaL_setmetatable(L, TIMER_MT);
	struct timer *t = calloc(1, sizeof(*t));
	if (!t)
		return luaL_error(L, "out of memory");
	uv_timer_init(rt.loop, &t->h);
	t->h.data = t;
	t->ls = lstate_of(L);    /* its main thread, not a coroutine that may be gone */
	*p = t;
	lua_pushvalue(L, 2);
	t->fn = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, -1);
	t->self = luaL_ref(L, LUA_REGISTRYINDEX);
	uv_timer_start(&t->h, on_timer, ms, repeat ? ms : 0);
	return 1;
}

/* ct.every(seconds, fn) -> timer; fn(timer) is called every `seconds` */
static int timer_every(lua_State *L)
{
	return start_timer(L, 1);
}

/* ct.after(seconds, fn) -> timer; fn(timer) is called once after `seconds` */
static int timer_after(lua_State *L)
{
	return start_timer(L, 0);
}

/* timer:stop() -> nothing; safe to call twice */
static int timer_stop(lua_State *L)
{
	disarm(L, check_timer(L, 1));
	return 0;
}

/* timer:active() -> boolean */
static int timer_active(lua_State *L)
{
	struct timer *t = check_timer(L, 1);
	lua_pushboolean(L, t && uv_is_active((uv_handle_t *)&t->h));
	return 1;
}

static void free_timer(uv_handle_t *h)
{
	free(h->data);
}

/* __gc: safe to run twice; runs for stopped (unanchored) timers and at lua_close */
static int timer_gc(lua_State *L)
{
	struct timer **p = luaL_checkudata(L, 1, TIMER_MT);
	struct timer *t = *p;
	if (!t)
		return 0;
	*p = NULL;
	disarm(L, t);
	luaL_unref(L, LUA_REGISTRYINDEX, t->fn);
	uv_close((uv_handle_t *)&t->h, free_timer);
	return 0;
}

static const luaL_Reg timer_methods[] = {
	{ "stop", timer_stop },
	{ "active", timer_active },
	{ NULL, NULL },
};

static const luaL_Reg timer_meta[] = {
	{ "__gc", timer_gc },
	{ "__close", timer_stop },
	{ NULL, NULL },
};

static const luaL_Reg timer_funcs[] = {
	{ "every", timer_every },
	{ "after", timer_after },
	{ NULL, NULL },
};

void timer_register(lua_State *L)
{
	rt_class(L, TIMER_MT, timer_meta, timer_methods);
	luaL_setfuncs(L, timer_funcs, 0);
}
