/* netns.c — the network namespaces ctlua watches and acts in.
 *
 * Slot 0 is ctlua's own namespace ("self"). Others come from --netns NAME (a file
 * under /run/netns, as `ip netns` makes them), --netns PATH, ct.watch(), or --netns
 * all, which follows /run/netns as namespaces appear and disappear. A netlink
 * socket belongs to the namespace it was created in, so creating one elsewhere
 * is setns() there and back (CAP_SYS_ADMIN); sockets then stay where they are. */
#define _GNU_SOURCE             /* setns */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "cmd.h"

struct netns {
	char name[64];
	int fd;
	int used;
};

static struct netns nss[NETNS_MAX];
int netns_mode;                   /* --netns or ct.watch used: events carry ev.netns */

void netns_init(void)
{
	snprintf(nss[0].name, sizeof(nss[0].name), "self");
	nss[0].fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	nss[0].used = 1;
}

const char *netns_name(int i)
{
	return i >= 0 && i < NETNS_MAX && nss[i].used ? nss[i].name : NULL;
}

int netns_find(const char *name)
{
	for (int i = 0; i < NETNS_MAX; i++)
		if (nss[i].used && strcmp(nss[i].name, name) == 0)
			return i;
	return -1;
}

/* Adds spec ("self", a name under /run/netns, or a path) and returns its slot, or
 * -errno (ENOENT no such namespace, EINVAL not a namespace, ENOSPC too many). */
int netns_add(const char *spec)
{
	char path[512];
	const char *name = spec;
	if (strcmp(spec, "self") == 0)
		return 0;
	char pidname[32];
	int pid;
	if (strchr(spec, '/')) {
		snprintf(path, sizeof(path), "%s", spec);
		name = strrchr(spec, '/') + 1;
		if (sscanf(spec, "/proc/%d/ns/net", &pid) == 1) {  /* a process's: "pid-N" */
			snprintf(pidname, sizeof(pidname), "pid-%d", pid);
			name = pidname;
		}
	} else {
		snprintf(path, sizeof(path), "/run/netns/%s", spec);
	}
	if (!*name || strlen(name) >= sizeof(nss[0].name))
		return -EINVAL;
	int have = netns_find(name);
	if (have >= 0)
		return have;
	int slot = -1;
	for (int i = 1; i < NETNS_MAX && slot < 0; i++)
		if (!nss[i].used)
			slot = i;
	if (slot < 0)
		return -ENOSPC;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A file under /run/netns that is not (yet) bind-mounted is no namespace. */
	struct stat a, b;
	if (fstat(fd, &a) < 0 || fstat(nss[0].fd, &b) < 0 || a.st_dev != b.st_dev) {
		close(fd);
		return -EINVAL;
	}
	snprintf(nss[slot].name, sizeof(nss[slot].name), "%s", name);
	nss[slot].fd = fd;
	nss[slot].used = 1;
	return slot;
}

void netns_remove(int i)
{
	if (i <= 0 || i >= NETNS_MAX || !nss[i].used)
		return;
	close(nss[i].fd);
	nss[i].used = 0;
}

/* A NETLINK_NETFILTER socket created in namespace i (see nl_socket). */
struct mnl_socket *netns_socket(int i, int flags)
{
	if (i == 0)
		return nl_socket(flags);
	if (i < 0 || i >= NETNS_MAX || !nss[i].used) {
		errno = ENOENT;
		return NULL;
	}
	if (setns(nss[i].fd, CLONE_NEWNET) < 0)
		return NULL;
	struct mnl_socket *s = nl_socket(flags);
	int e = errno;
	if (setns(nss[0].fd, CLONE_NEWNET) < 0) {
		/* Stuck in another namespace: nothing ctlua does would be right. */
		fprintf(stderr, "ctlua: cannot return to its own network namespace: %s\n", strerror(errno));
		abort();
	}
	errno = e;
	return s;
}

/* Calls fn(name) for each namespace file under /run/netns. */
static void netns_scan(void (*fn)(const char *name))
{
	DIR *d = opendir("/run/netns");
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			fn(e->d_name);
	closedir(d);
}

/* Whether /run/netns still has a file for slot i (self always exists). */
static int netns_exists(int i)
{
	if (i == 0)
		return 1;
	char path[600];
	snprintf(path, sizeof(path), "/run/netns/%s", nss[i].name);
	return access(path, F_OK) == 0;
}

/* Watches spec (as netns_add takes it): its slot, with an event socket and a
 * command socket open there (so that table operations work once privileges are
 * dropped), or -errno with nothing left behind. */
int netns_watch(const char *spec)
{
	int ns = netns_add(spec);
	if (ns < 0)
		return ns;
	int rc = event_watch(ns);
	if (rc == 0)
		rc = cmd_open_ns(ns);
	if (rc < 0) {
		netns_unwatch(ns);
		return rc;
	}
	return ns;
}

/* Stops watching slot ns: its sockets close; a slot other than ours is freed. */
void netns_unwatch(int ns)
{
	event_unwatch(ns);
	cmd_close_ns(ns);
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
	int ns = netns_watch(name);
	if (ns == -EINVAL) {                /* not mounted yet */
		follow_retries++;
		return;
	}
	if (ns < 0) {
		if (ns != -ENOENT)          /* gone again already: nothing to say */
			fprintf(stderr, "ctlua: cannot watch network namespace %s: %s\n", name, strerror(-ns));
		return;
	}
	if (G.verbose)
		fprintf(stderr, "ctlua: watching network namespace %s\n", name);
}

static void follow_scan(uv_timer_t *t)
{
	(void)t;
	for (int i = 1; i < NETNS_MAX; i++) {
		if (nss[i].used && !netns_exists(i)) {
			if (G.verbose)
				fprintf(stderr, "ctlua: network namespace %s is gone\n", nss[i].name);
			netns_unwatch(i);
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

int netns_follow(void)
{
	mkdir("/run/netns", 0755);
	int rc = event_watch(0);
	if (rc < 0)
		return rc;
	uv_timer_init(G.loop, &follow_timer);
	uv_unref((uv_handle_t *)&follow_timer);
	uv_fs_event_init(G.loop, &follow_ev);
	if ((rc = uv_fs_event_start(&follow_ev, follow_changed, "/run/netns", 0)) < 0)
		return rc;
	uv_unref((uv_handle_t *)&follow_ev);
	follow_scan(NULL);
	return 0;
}

/* core.use_netns(name | nil) -> nothing: the namespace the next table operation
 * acts in (nil: ctlua's own). Raises on a namespace not watched. */
static int netns_luse(lua_State *L)
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
static int netns_lwatch(lua_State *L)
{
	int ns = netns_watch(luaL_checkstring(L, 1));
	if (ns < 0)
		return push_fail(L, -ns);
	netns_mode = 1;
	lua_pushstring(L, nss[ns].name);
	return 1;
}

/* core.unwatch(name) -> true | nil, message, code */
static int netns_lunwatch(lua_State *L)
{
	int ns = netns_find(luaL_checkstring(L, 1));
	if (ns < 0)
		return push_fail(L, ENOENT);
	netns_unwatch(ns);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.netns() -> { name, ... } watched now, and whether ev.netns is set */
static int netns_llist(lua_State *L)
{
	lua_newtable(L);
	int n = 0;
	for (int i = 0; i < NETNS_MAX; i++) {
		if (nss[i].used && event_watched(i)) {
			lua_pushstring(L, nss[i].name);
			lua_rawseti(L, -2, ++n);
		}
	}
	lua_pushboolean(L, netns_mode);
	return 2;
}

static const luaL_Reg netns_funcs[] = {
	{ "use_netns", netns_luse },
	{ "watch", netns_lwatch },
	{ "unwatch", netns_lunwatch },
	{ "netns", netns_llist },
	{ NULL, NULL },
};

void netns_register(lua_State *L)
{
	luaL_setfuncs(L, netns_funcs, 0);
}
