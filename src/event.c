/* event.c — the conntrack event socket: subscribe, drain, convert, dispatch.
 *
 * One non-blocking netlink socket on a uv_poll_t, joined only to the groups some
 * handler needs. Each wake-up reads at most EVENT_BUDGET datagrams so timers stay
 * punctual; the poll is level-triggered, so what is left is read on the next turn.
 * Lua runs only in deliver(), inside call_protected, never in a libmnl callback. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <lauxlib.h>
#include "ctlua.h"

#define EVENT_BUDGET 64          /* datagrams per wake-up */

static struct mnl_socket *nl;
static uv_poll_t poll_h;
static int poll_active;
static uint32_t groups;          /* bit g set = joined netlink group g */
static char rxbuf[32768];     /* one event datagram is far smaller */

/* From-file mode (canned messages for unprivileged tests). */
static char *file_buf;
static size_t file_len;
static uv_timer_t file_timer;

struct delivery { const struct nlmsghdr *nlh; enum ev_kind kind; double now; };

/* Protected: parse, build the table, call hooks.dispatch(ev). */
static int deliver(lua_State *L)
{
	struct delivery *d = lua_touserdata(L, 1);
	if (!convert_msg(L, d->nlh, d->kind >= EV_EXP_NEW, d->kind, d->now)) {
		G.stats.parse_errors++;
		return 0;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, G.dispatch_ref);
	lua_insert(L, -2);
	lua_call(L, 1, 0);
	return 0;
}

static int classify(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
		return -1;
	int subsys = NFNL_SUBSYS_ID(nlh->nlmsg_type), type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	if (subsys == NFNL_SUBSYS_CTNETLINK) {
		if (type == IPCTNL_MSG_CT_NEW)
			return nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL) ? EV_NEW : EV_UPDATE;
		if (type == IPCTNL_MSG_CT_DELETE)
			return EV_DESTROY;
	} else if (subsys == NFNL_SUBSYS_CTNETLINK_EXP) {
		if (type == IPCTNL_MSG_EXP_NEW)
			return EV_EXP_NEW;
		if (type == IPCTNL_MSG_EXP_DELETE)
			return EV_EXP_DESTROY;
	}
	return -1;
}

/* Delivers every event message of one datagram. */
static void deliver_datagram(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;
	double now = core_now();
	G.stats.batches++;
	for (; mnl_nlmsg_ok(nlh, left) && !G.stopping; nlh = mnl_nlmsg_next(nlh, &left)) {
		int kind = classify(nlh);
		if (kind < 0)
			continue;
		G.stats.events[kind]++;
		struct delivery d = { nlh, (enum ev_kind)kind, now };
		lua_State *L = G.L;
		lua_pushcfunction(L, deliver);
		lua_pushlightuserdata(L, &d);
		if (call_protected(L, 1, 0) != LUA_OK)
			call_report(L, "event dispatch failed");
	}
}

static void on_overrun(void)
{
	G.stats.overruns++;
	lua_pushinteger(G.L, (lua_Integer)G.stats.overruns);
	if (call_hook("overrun", 1, 0) != LUA_OK)
		call_report(G.L, "overrun dispatch failed");
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)events;
	if (!nl)
		return;
	if (status < 0) {
		/* libuv stops a watcher that reports POLLERR; on netlink that is the
		 * pending ENOBUFS of an overrun, which the recv below collects. Watch on. */
		uv_poll_start(h, UV_READABLE, on_readable);
	}
	int fd = mnl_socket_get_fd(nl);
	for (int n = 0; n < EVENT_BUDGET && !G.stopping && nl; n++) {
		ssize_t r = recv(fd, rxbuf, sizeof(rxbuf), MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				on_overrun();
				continue;
			}
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ctlua: event socket: %s\n", strerror(errno));
			break;
		}
		deliver_datagram(rxbuf, (size_t)r);
	}
}

/* Opens the event socket; joins no group yet (see join_groups). 0 or -errno. */
int event_open(int bufsize)
{
	if (!(nl = nl_socket(SOCK_NONBLOCK)))
		return -errno;
	int fd = mnl_socket_get_fd(nl);
	/* FORCE lifts rmem_max for root; others get what rmem_max allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	uv_poll_init(G.loop, &poll_h, fd);
	return 0;
}

/* Effective receive buffer size in bytes (what the kernel granted). */
int rcvbuf_size(void)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (nl)
		getsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &v, &l);
	return v;
}

/* Joins exactly the groups in mask (bit g = netlink group g). 0 or -errno. */
static int join_groups(uint32_t mask)
{
	if (!nl)
		return 0;
	int fd = mnl_socket_get_fd(nl);
	for (unsigned g = NFNLGRP_CONNTRACK_NEW; g <= NFNLGRP_CONNTRACK_EXP_DESTROY; g++) {
		uint32_t bit = 1u << g;
		if ((mask & bit) == (groups & bit))
			continue;
		int opt = mask & bit ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP;
		if (setsockopt(fd, SOL_NETLINK, opt, &g, sizeof(g)) < 0)
			return -errno;
		groups ^= bit;
	}
	if (groups && !poll_active) {
		uv_poll_start(&poll_h, UV_READABLE, on_readable);
		poll_active = 1;
	} else if (!groups && poll_active) {
		uv_poll_stop(&poll_h);
		poll_active = 0;
	}
	return 0;
}

static void file_deliver(uv_timer_t *t)
{
	(void)t;
	deliver_datagram(file_buf, file_len);
	uv_close((uv_handle_t *)&file_timer, NULL);
}

/* Reads canned netlink messages from path and delivers them once the loop runs. */
int event_from_file(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return -errno;
	size_t cap = 1 << 16;
	file_buf = malloc(cap);
	for (size_t r; file_buf && (r = fread(file_buf + file_len, 1, cap - file_len, f)) > 0;) {
		file_len += r;
		if (file_len == cap)
			file_buf = realloc(file_buf, cap *= 2);
	}
	if (f != stdin)
		fclose(f);
	if (!file_buf)
		return -ENOMEM;
	uv_timer_init(G.loop, &file_timer);
	uv_timer_start(&file_timer, file_deliver, 0, 0);
	return 0;
}

void event_close(void)
{
	if (nl) {
		if (!uv_is_closing((uv_handle_t *)&poll_h))
			uv_close((uv_handle_t *)&poll_h, NULL);
		mnl_socket_close(nl);
		nl = NULL;
	}
	convert_free();
	free(file_buf);
	file_buf = NULL;
}

/* core.subscribe(mask) -> true | nil, message, code
 * Joins exactly the netlink groups whose bits are set in mask. */
static int event_subscribe(lua_State *L)
{
	lua_Integer mask = luaL_checkinteger(L, 1);
	int rc = join_groups((uint32_t)mask);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, strerror(-rc));
		lua_pushinteger(L, -rc);
		return 3;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* core.groups() -> mask of the netlink groups joined now */
static int event_groups(lua_State *L)
{
	lua_pushinteger(L, groups);
	return 1;
}

/* core.rcvbuf() -> effective receive buffer size of the event socket, bytes */
static int event_rcvbuf(lua_State *L)
{
	lua_pushinteger(L, rcvbuf_size());
	return 1;
}

static const luaL_Reg event_funcs[] = {
	{ "subscribe", event_subscribe },
	{ "groups", event_groups },
	{ "rcvbuf", event_rcvbuf },
	{ NULL, NULL },
};

void event_register(lua_State *L)
{
	luaL_setfuncs(L, event_funcs, 0);
}
