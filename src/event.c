/* event.c — the conntrack event socket: subscribe, drain, convert, dispatch.
 *
 * One non-blocking netlink socket on a uv_poll_t, joined only to the groups some
 * handler needs. Each wake-up reads at most EVENT_ROUNDS batches of EVENT_BATCH
 * datagrams (recvmmsg) so timers stay punctual; the poll is level-triggered, so what
 * is left is read on the next turn. Lua runs only in deliver_batch(), one protected
 * call per batch, never in a libmnl callback. */
#define _GNU_SOURCE             /* recvmmsg */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "cmd.h"
#include "decode.h"
#include "format.h"

#define EVENT_BATCH 64           /* datagrams per recvmmsg */
#define EVENT_ROUNDS 4           /* recvmmsg calls per wake-up: 256 datagrams at most */
#define DGRAM_SIZE 8192          /* one event datagram is far smaller */

/* One event socket per watched namespace (slot = netns slot, netns.c). */
struct evsock {
	struct mnl_socket *nl;
	uv_poll_t poll;
	int used, poll_active, closing;
	uint32_t groups;             /* bit g set = joined netlink group g */
	uint64_t events[EV_KINDS];
};
static struct evsock socks[NETNS_MAX];
static uint32_t groups;          /* what every socket should have joined */
static struct nfct_filter *kfilter;   /* attached to every socket, NULL = none */
static int reliable_mode, open_bufsize;

/* From-file mode (canned messages for unprivileged tests). */
static char *file_buf;
static size_t file_len;
static uv_timer_t file_timer;

/* Events read ahead of a resync's dump (core.hold), not yet delivered (core.release). */
static char *held;               /* datagrams, each: uint32_t length, bytes, padding */
static size_t held_len, held_cap;
static int held_ns;
static double held_now;

/* The batch being delivered: datagrams from one recvmmsg (or the canned file), all
 * from namespace slot batch_ns. batch_i advances before each datagram is handed
 * over, so an error raised while delivering one neither repeats it nor loses the
 * ones after it. */
static const char *batch_buf[EVENT_BATCH];
static size_t batch_len[EVENT_BATCH];
static int batch_n, batch_i, batch_ns;
static double batch_now;

/* One event to the Lua handlers: its table, then hooks.dispatch(ev) (at index 1;
 * the keys of convert.c at index 2). */
static void deliver_lua(lua_State *L, const struct ctev *ev)
{
	lua_pushvalue(L, 1);
	call_arm();                  /* each event gets the whole budget */
	convert_ev_k(L, ev, 2);
	if (!conf.timing) {
		lua_call(L, 1, 0);
		return;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	lua_call(L, 1, 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	int k = 0;
	while (k < HTIME_BUCKETS && s > htime_le[k])
		k++;
	stats.htime[k]++;
	stats.htime_sum += s;
}

static uint32_t lua_kinds = ~0u;  /* kinds the Lua runtime wants (core.lua_kinds) */

/* Protected (one call per batch): each message is classified, decoded once, then
 * written by the sink handlers (route.c) and handed to the Lua handlers. */
static int deliver_batch(lua_State *L)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, rt.ls->dispatch_ref);
	convert_keys(L);
	const char *netns = netns_mode ? netns_name(batch_ns) : NULL;
	uint32_t own_portid = cmd_portid_ns(batch_ns);
	struct evsock *es = &socks[batch_ns];
	while (batch_i < batch_n && !rt.stopping) {
		int i = batch_i++;
		const struct nlmsghdr *nlh = (const void *)batch_buf[i];
		int left = (int)batch_len[i];
		for (; nl_msg_ok(nlh, left) && !rt.stopping; nlh = mnl_nlmsg_next(nlh, &left)) {
			int kind = decode_kind(nlh);
			if (kind < 0)
				continue;
			stats.events[kind]++;
			es->events[kind]++;
			struct ctev ev;
			if (decode_msg(nlh, kind >= EV_EXP_NEW, &ev) < 0) {
				stats.parse_errors++;
				continue;
			}
			ctev_finish(&ev, kind, batch_now, own_portid, netns);
			if (route_wants(kind))
				route_event(&ev);
			if ((lua_kinds >> kind) & 1)
				deliver_lua(L, &ev);
		}
	}
	return 0;
}

static void deliver_pending(lua_State *L)
{
	while (batch_i < batch_n && !rt.stopping) {
		lua_pushcfunction(L, deliver_batch);
		if (call_protected(L, 0, 0) != LUA_OK)
			call_report(L, "event dispatch failed");
	}
	route_batch_end();           /* written now or within 50 ms, not per batch */
}

/* Doubles a socket's receive buffer after an overrun, up to conf.rcvbuf_max (what the
 * kernel reports is twice what was asked, so asking for the reported size doubles). */
static int sock_rcvbuf(struct evsock *es)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (es->nl)
		getsockopt(mnl_socket_get_fd(es->nl), SOL_SOCKET, SO_RCVBUF, &v, &l);
	return v;
}

static void grow_buffer(struct evsock *es)
{
	int cur = sock_rcvbuf(es);
	if (!es->nl || cur <= 0 || (long long)cur >= conf.rcvbuf_max)
		return;
	int want = (long long)cur * 2 > conf.rcvbuf_max ? (int)(conf.rcvbuf_max / 2) : cur;
	int fd = mnl_socket_get_fd(es->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	if (conf.verbose)
		fprintf(stderr, "ctlua: overrun: receive buffer %d -> %d bytes\n", cur, sock_rcvbuf(es));
}

static void on_overrun(struct evsock *es)
{
	stats.overruns++;
	grow_buffer(es);
	lua_pushinteger(rt.ls->L, (lua_Integer)stats.overruns);
	if (call_hook("overrun", 1, 0) != LUA_OK)
		call_report(rt.ls->L, "overrun dispatch failed");
}

static char rxbufs[EVENT_BATCH][DGRAM_SIZE];
static struct mmsghdr mm[EVENT_BATCH];
static struct iovec iov[EVENT_BATCH];

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct evsock *es = h->data;
	if (!es->nl || es->closing)
		return;
	if (status < 0) {
		/* libuv stops a watcher that reports POLLERR; on netlink that is the
		 * pending ENOBUFS of an overrun, which the read below collects. Watch on. */
		uv_poll_start(h, UV_READABLE, on_readable);
	}
	int fd = mnl_socket_get_fd(es->nl);
	for (int round = 0; round < EVENT_ROUNDS && !rt.stopping && es->nl && !es->closing; round++) {
		for (int i = 0; i < EVENT_BATCH; i++) {
			iov[i].iov_base = rxbufs[i];
			iov[i].iov_len = DGRAM_SIZE;
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(fd, mm, EVENT_BATCH, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				on_overrun(es);
				continue;
			}
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ctlua: event socket: %s\n", strerror(errno));
			break;
		}
		for (int i = 0; i < r; i++) {
			batch_buf[i] = rxbufs[i];
			batch_len[i] = mm[i].msg_len;
		}
		batch_n = r, batch_i = 0, batch_ns = (int)(es - socks), batch_now = rt_now();
		stats.batches++;
		deliver_pending(rt.ls->L);
		if (r < EVENT_BATCH)     /* drained: wait for the next wake-up */
			break;
	}
}

/* Joins exactly the groups in mask on one socket; starts or stops its poll. */
static int sock_join(struct evsock *es, uint32_t mask)
{
	int fd = mnl_socket_get_fd(es->nl);
	for (unsigned g = NFNLGRP_CONNTRACK_NEW; g <= NFNLGRP_CONNTRACK_EXP_DESTROY; g++) {
		uint32_t bit = 1u << g;
		if ((mask & bit) == (es->groups & bit))
			continue;
		int opt = mask & bit ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP;
		if (setsockopt(fd, SOL_NETLINK, opt, &g, sizeof(g)) < 0)
			return -errno;
		es->groups ^= bit;
	}
	if (es->groups && !es->poll_active) {
		uv_poll_start(&es->poll, UV_READABLE, on_readable);
		es->poll_active = 1;
	} else if (!es->groups && es->poll_active) {
		uv_poll_stop(&es->poll);
		es->poll_active = 0;
	}
	return 0;
}

static void sock_closed(uv_handle_t *h)
{
	struct evsock *es = h->data;
	es->closing = 0;
}

/* Closes the event socket of namespace slot ns (its events stop). */
void event_unwatch(int ns)
{
	struct evsock *es = &socks[ns];
	if (!es->used)
		return;
	es->used = 0, es->closing = 1;
	uv_close((uv_handle_t *)&es->poll, sock_closed);
	mnl_socket_close(es->nl);
	es->nl = NULL;
}

/* Opens the event socket of namespace slot ns, joined to the groups and under the
 * kernel filter the others have. 0 or -errno.
 * Reliable mode is conntrackd's NetlinkEventsReliable. With BROADCAST_ERROR the
 * kernel learns that a delivery to this socket failed and keeps a DESTROY event
 * (and the dying entry) to send again later; other lost events ride on the entry's
 * next one. NO_ENOBUFS then stops the kernel from reporting overruns that it
 * repairs itself. */
int event_watch(int ns)
{
	struct evsock *es = &socks[ns];
	if (es->used)
		return 0;
	if (es->closing)
		return -EBUSY;
	if (!(es->nl = netns_socket(ns, SOCK_NONBLOCK)))
		return -errno;
	int fd = mnl_socket_get_fd(es->nl);
	int e = 0;
	if (reliable_mode) {
		int one = 1;
		if (setsockopt(fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one)) < 0)
			e = errno;
	}
	/* FORCE lifts rmem_max for root; others get what rmem_max allows. */
	int bufsize = open_bufsize;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	if (!e && kfilter && nfct_filter_attach(fd, kfilter) < 0)
		e = errno;
	if (e) {
		mnl_socket_close(es->nl), es->nl = NULL;
		return -e;
	}
	uv_poll_init(rt.loop, &es->poll, fd);
	es->poll.data = es;
	es->used = 1, es->groups = 0, es->poll_active = 0;
	memset(es->events, 0, sizeof(es->events));
	int rc = sock_join(es, groups);
	if (rc < 0) {
		event_unwatch(ns);
		return rc;
	}
	return 0;
}

/* Sets how event sockets are opened (event_watch opens them). */
void event_open(int bufsize, int reliable)
{
	reliable_mode = reliable, open_bufsize = bufsize;
}

/* Whether the event sockets have joined some group. */
int event_joined(void)
{
	return groups != 0;
}

/* Effective receive buffer size in bytes of the first open socket. */
int rcvbuf_size(void)
{
	for (int i = 0; i < NETNS_MAX; i++)
		if (socks[i].used)
			return sock_rcvbuf(&socks[i]);
	return 0;
}

/* Whether namespace slot ns has an event socket. */
int event_watched(int ns)
{
	return socks[ns].used;
}

/* Events received per namespace slot and kind. */
uint64_t event_count(int ns, int kind)
{
	return socks[ns].events[kind];
}

/* Joins exactly the groups in mask (bit g = netlink group g) on every socket.
 * 0 or -errno (the first failure; the others are still tried). */
static int join_groups(uint32_t mask)
{
	int rc = 0;
	groups = mask;
	for (int i = 0; i < NETNS_MAX; i++) {
		if (!socks[i].used)
			continue;
		int r = sock_join(&socks[i], mask);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/* Delivers the netlink messages in buf as one datagram (canned files, fuzzing). */
void event_feed(const char *buf, size_t len)
{
	batch_buf[0] = buf, batch_len[0] = len;
	batch_n = 1, batch_i = 0, batch_ns = 0, batch_now = rt_now();
	stats.batches++;
	deliver_pending(rt.ls->L);
}

static void file_deliver(uv_timer_t *t)
{
	(void)t;
	event_feed(file_buf, file_len);
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
	uv_timer_init(rt.loop, &file_timer);
	uv_timer_start(&file_timer, file_deliver, 0, 0);
	return 0;
}

void event_close(void)
{
	for (int i = 0; i < NETNS_MAX; i++)
		event_unwatch(i);
	if (kfilter)
		nfct_filter_destroy(kfilter), kfilter = NULL;
	free(file_buf);
	file_buf = NULL;
	free(held);
	held = NULL, held_len = held_cap = 0;
}

/* core.subscribe(mask) -> true | nil, message, code
 * Joins exactly the netlink groups whose bits are set in mask. */
static int event_subscribe(lua_State *L)
{
	lua_Integer mask = luaL_checkinteger(L, 1);
	return err_push_rc(L, join_groups((uint32_t)mask));
}

/* Reads spec[key] (array of address entries {family, raw bytes, prefix bits}) into the
 * filter, in the host-order words libnetfilter_conntrack's BPF compares. */
static void filter_addrs(lua_State *L, struct nfct_filter *f, const char *key, int v4attr, int v6attr)
{
	if (lua_getfield(L, 1, key) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	lua_Integer n = luaL_len(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, -1, i);
		lua_geti(L, -1, 1);
		int v6 = strcmp(lua_tostring(L, -1), "ipv6") == 0;
		lua_geti(L, -2, 2);
		size_t len;
		const unsigned char *raw = (const unsigned char *)lua_tolstring(L, -1, &len);
		lua_geti(L, -3, 3);
		int bits = (int)lua_tointeger(L, -1);
		if (!v6 && len == 4) {
			struct nfct_filter_ipv4 a;
			a.addr = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
			a.mask = bits ? 0xffffffffu << (32 - bits) : 0;
			nfct_filter_add_attr(f, v4attr, &a);
		} else if (v6 && len == 16) {
			struct nfct_filter_ipv6 a;
			for (int w = 0; w < 4; w++) {
				a.addr[w] = (uint32_t)raw[4 * w] << 24 | (uint32_t)raw[4 * w + 1] << 16 |
					    (uint32_t)raw[4 * w + 2] << 8 | raw[4 * w + 3];
				int b = bits - 32 * w;
				a.mask[w] = b >= 32 ? 0xffffffffu : b <= 0 ? 0 : 0xffffffffu << (32 - b);
			}
			nfct_filter_add_attr(f, v6attr, &a);
		}
		lua_pop(L, 4);
	}
	lua_pop(L, 1);
}

/* core.kernel_filter(spec | nil) -> true | nil, message, code
 * Attaches (replaces) or, with nil, detaches the kernel event filter:
 * spec = { protos = {6, ...}, states = {3, ...} (TCP), src = {addr...}, dst = {addr...},
 *          marks = {7 | {value, mask}, ...} }, each attribute optional (absent = not filtered). */
static int event_kernel_filter(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		if (kfilter) {
			for (int i = 0; i < NETNS_MAX; i++)
				if (socks[i].used)
					nfct_filter_detach(mnl_socket_get_fd(socks[i].nl));
			nfct_filter_destroy(kfilter), kfilter = NULL;
		}
		lua_pushboolean(L, 1);
		return 1;
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	struct nfct_filter *f = nfct_filter_create();
	if (!f)
		return err_push(L, ENOMEM);
	if (lua_getfield(L, 1, "protos") == LUA_TTABLE) {
		for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; i++) {
			lua_geti(L, -1, i);
			nfct_filter_add_attr_u32(f, NFCT_FILTER_L4PROTO, (uint32_t)lua_tointeger(L, -1));
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 1, "states") == LUA_TTABLE) {
		for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; i++) {
			lua_geti(L, -1, i);
			struct nfct_filter_proto p = { IPPROTO_TCP, (uint16_t)lua_tointeger(L, -1) };
			nfct_filter_add_attr(f, NFCT_FILTER_L4PROTO_STATE, &p);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	filter_addrs(L, f, "src", NFCT_FILTER_SRC_IPV4, NFCT_FILTER_SRC_IPV6);
	filter_addrs(L, f, "dst", NFCT_FILTER_DST_IPV4, NFCT_FILTER_DST_IPV6);
	if (lua_getfield(L, 1, "marks") == LUA_TTABLE) {
		for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; i++) {
			lua_geti(L, -1, i);      /* N or {value, mask} */
			struct nfct_filter_dump_mark m = { (uint32_t)lua_tointeger(L, -1), 0xffffffffu };
			if (lua_istable(L, -1)) {
				lua_geti(L, -1, 1);
				lua_geti(L, -2, 2);
				m.val = (uint32_t)lua_tointeger(L, -2), m.mask = (uint32_t)lua_tointeger(L, -1);
				lua_pop(L, 2);
			}
			nfct_filter_add_attr(f, NFCT_FILTER_MARK, &m);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	for (int i = 0; i < NETNS_MAX; i++) {
		if (socks[i].used && nfct_filter_attach(mnl_socket_get_fd(socks[i].nl), f) < 0) {
			int e = errno;
			nfct_filter_destroy(f);
			return err_push(L, e);
		}
	}
	if (kfilter)
		nfct_filter_destroy(kfilter);
	kfilter = f;                 /* kept for sockets opened later (ct.watch) */
	lua_pushboolean(L, 1);
	return 1;
}

/* core.lua_kinds(mask): bit k set = events of ev_kind k are dispatched to Lua */
static int event_lua_kinds(lua_State *L)
{
	lua_kinds = (uint32_t)luaL_checkinteger(L, 1);
	return 0;
}

/* Read-ahead for a resync. Events still queued on the socket when a dump starts
 * happened before it: applied after the dump's diff, a NEW whose DESTROY was lost
 * would bring back an entry the dump proved gone, for good. So core.hold() reads the
 * queue to EAGAIN first, raw and without Lua (fast, so the drain ends), and
 * core.release() delivers it once the dump has been read, before the diff. Reaching
 * EAGAIN also ends the kernel's congestion state, in which later drops would go
 * unreported; drops met here are counted, not reported, as the dump covers them. */

#define HELD_ALIGN(n) (((n) + 3) & ~(size_t)3)

/* core.hold([netns]) -> datagrams read, complete (false: stopped at the size cap) */
static int event_hold(lua_State *L)
{
	int ns = 0;
	if (!lua_isnoneornil(L, 1) && (ns = netns_find(luaL_checkstring(L, 1))) < 0)
		return luaL_error(L, "unknown network namespace '%s' (not watched)", lua_tostring(L, 1));
	struct evsock *es = &socks[ns];
	if (held_len && held_ns != ns)
		return luaL_error(L, "events of another namespace are held");
	held_ns = ns, held_now = rt_now();
	lua_Integer n = 0;
	int complete = 1;
	/* At most about the socket's buffer again: what was queued, plus as much. */
	size_t cap = (size_t)sock_rcvbuf(es) * 2 + (1 << 20);
	while (es->nl && !es->closing) {
		if (held_len >= cap) {
			complete = 0;
			break;
		}
		if (held_cap - held_len < sizeof(uint32_t) + DGRAM_SIZE) {
			size_t c = held_cap ? held_cap * 2 : 1 << 20;
			char *p = realloc(held, c);
			if (!p) {
				complete = 0;
				break;
			}
			held = p, held_cap = c;
		}
		ssize_t r = recv(mnl_socket_get_fd(es->nl), held + held_len + sizeof(uint32_t),
				 DGRAM_SIZE, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == ENOBUFS) {
				stats.overruns++;
				grow_buffer(es);
				continue;
			}
			if (errno == EINTR)
				continue;
			break;           /* EAGAIN: the queue is empty */
		}
		uint32_t len = (uint32_t)r;
		memcpy(held + held_len, &len, sizeof(len));
		held_len += HELD_ALIGN(sizeof(len) + len);
		n++;
	}
	lua_pushinteger(L, n);
	lua_pushboolean(L, complete);
	return 2;
}

/* core.release() -> nothing: delivers the held events, in order, to the handlers.
 * Called from inside a handler, the rest of the batch being delivered goes first:
 * it was read before them. */
static int event_release(lua_State *L)
{
	int ns = batch_ns;
	deliver_pending(L);
		size_t off = 0;
	while (off < held_len && !rt.stopping) {
		batch_n = 0, batch_i = 0, batch_ns = held_ns, batch_now = held_now;
		while (batch_n < EVENT_BATCH && off < held_len) {
			uint32_t len;
			memcpy(&len, held + off, sizeof(len));
			batch_buf[batch_n] = held + off + sizeof(len);
			batch_len[batch_n++] = len;
			off += HELD_ALIGN(sizeof(len) + len);
		}
		stats.batches++;
		deliver_pending(L);
	}
	batch_n = batch_i = 0;
	batch_ns = ns;
	free(held);
	held = NULL, held_len = held_cap = 0;
	return 0;
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
	{ "lua_kinds", event_lua_kinds },
	{ "kernel_filter", event_kernel_filter },
	{ "rcvbuf", event_rcvbuf },
	{ "hold", event_hold },
	{ "release", event_release },
	{ NULL, NULL },
};

void event_register(lua_State *L)
{
	luaL_setfuncs(L, event_funcs, 0);
}
