/* watch.c — the namespaces ctlua watches: each with an event socket (event.c)
 * and a command socket (cmd.c) open there, --netns all following /run/netns, and
 * the Lua functions that watch and choose namespaces.
 *
 * Above netns.c (the registry of namespaces), event.c and cmd.c, which know
 * nothing of each other's sockets: this file opens and closes them together. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "cmd.h"

/* Watches spec (as netns_add takes it): its slot, with an event socket and a
 * command socket open there (so that table operations work once privileges are
 * dropped), or -errno with nothing left behind. */
int watch_add(const char *spec)
{
	int ns = netns_add(spec);
	if (ns < 0)
		return ns;
	int rc = event_watch(ns);
	if (rc == 0)
		rc = cmd_open_ns(ns);
	if (rc < 0) {
		watch_remove(ns);
		return rc;
	}
	return ns;
}

/* Stops watching slot ns: its sockets close; a slot other than ours is freed. */
void watch_remove(int ns)
{
	event_unwatch(ns);
	cmd_close_ns(ns);
	nft_forget(ns);
	if (ns > 0)
		netns_remove(ns);
}

/* --netns all: follow /run/netns. A change (inotify) is acted on after a short
 * quiet time, as `ip netns add` creates the file before it bind-mounts the
 * namespace onto it; a namespace that is not ready yet is tried again. */
static uv_fs_event_t follow_ev;
static uv_timer_t follow_timer;
static int follow_retries;

static void follow_add(const char *name)
{
	if (netns_find(name) >= 0)
		return;
	int ns = watch_add(name);
	if (ns == -EINVAL) {                /* not mounted yet */
		follow_retries++;
		return;
	}
	if (ns < 0) {
		if (ns != -ENOENT)          /* gone again already: nothing to say */
			fprintf(stderr, "ctlua: cannot watch network namespace %s: %s\n", name, strerror(-ns));
		return;
	}
	if (conf.verbose)
		fprintf(stderr, "ctlua: watching network namespace %s\n", name);
}

static void follow_scan(uv_timer_t *t)
{
	(void)t;
	for (int i = 1; i < NETNS_MAX; i++) {
		if (netns_name(i) && !netns_exists(i)) {
			if (conf.verbose)
				fprintf(stderr, "ctlua: network namespace %s is gone\n", netns_name(i));
			watch_remove(i);
		}
	}
	follow_retries = 0;
	netns_scan(follow_add);
	if (follow_retries)
		uv_timer_start(&follow_timer, follow_scan, 200, 0);
}

static void follow_changed(uv_fs_event_t *h, const char *file, int events, int status)
{
	(void)h, (void)file, (void)events, (void)status;
	uv_timer_start(&follow_timer, follow_scan, 100, 0);
}

int watch_follow(void)
{
	mkdir("/run/netns", 0755);
	int rc = event_watch(0);
	if (rc < 0)
		return rc;
	uv_timer_init(rt.loop, &follow_timer);
	uv_unref((uv_handle_t *)&follow_timer);
	uv_fs_event_init(rt.loop, &follow_ev);
	if ((rc = uv_fs_event_start(&follow_ev, follow_changed, "/run/netns", 0)) < 0)
		return rc;
	uv_unref((uv_handle_t *)&follow_ev);
	follow_scan(NULL);
	return 0;
}

/* core.use_netns(name | nil) -> nothing: the namespace the next table operation
 * acts in (nil: ctlua's own). Raises on a namespace not watched. */
static int watch_luse(lua_State *L)
{
	int ns = 0;
	if (!lua_isnoneornil(L, 1)) {
		const char *name = luaL_checkstring(L, 1);
		if ((ns = netns_find(name)) < 0)
			return luaL_error(L, "unknown network namespace '%s' (not watched)", name);
	}
	cmd_select(ns);
	return 0;
}

/* core.watch(spec) -> name | nil, message, code: watch one more namespace (as
 * --netns); events from it carry ev.netns from now on. */
static int watch_lwatch(lua_State *L)
{
	int ns = watch_add(luaL_checkstring(L, 1));
	if (ns < 0)
		return err_push(L, -ns);
	netns_mode = 1;
	lua_pushstring(L, netns_name(ns));
	return 1;
}

/* core.unwatch(name) -> true | nil, message, code */
static int watch_lunwatch(lua_State *L)
{
	int ns = netns_find(luaL_checkstring(L, 1));
	if (ns < 0)
		return err_push(L, ENOENT);
	watch_remove(ns);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.netns() -> { name, ... } watched now, and whether ev.netns is set */
static int watch_llist(lua_State *L)
{
	lua_newtable(L);
	int n = 0;
	for (int i = 0; i < NETNS_MAX; i++) {
		if (netns_name(i) && event_watched(i)) {
			lua_pushstring(L, netns_name(i));
			lua_rawseti(L, -2, ++n);
		}
	}
	lua_pushboolean(L, netns_mode);
	return 2;
}

static const luaL_Reg watch_funcs[] = {
	{ "use_netns", watch_luse },
	{ "watch", watch_lwatch },
	{ "unwatch", watch_lunwatch },
	{ "netns", watch_llist },
	{ NULL, NULL },
};

void watch_register(lua_State *L)
{
	luaL_setfuncs(L, watch_funcs, 0);
}
