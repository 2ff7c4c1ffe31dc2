/* sink.c — line sinks that never block event delivery: a TCP or unix stream
 * that reconnects, and unix datagrams (syslog's /dev/log).
 *
 * A stream sink queues lines (a byte bound, max_queue) while it is not connected
 * or the peer reads slowly; past the bound a line is dropped and counted, never
 * waited for. When the connection breaks it reconnects with a backoff (0.2 s
 * doubling to 5 s); lines libuv still held are counted as dropped. Datagram
 * sinks (a unix socket path, or UDP to HOST:PORT) send each record at once or
 * drop it (EAGAIN, nobody listening), never wait. The uv
 * handles live in malloc'd memory (closing is asynchronous), the userdata points
 * to it, __gc closes it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <lauxlib.h>
#include "ctlua.h"

#define SINK_MT "ctlua.sink"
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000

enum { S_TCP, S_UNIX, S_DGRAM, S_UDP };

struct line {
	uv_write_t req;
	struct line *next;
	struct sink *s;
	size_t len;
	char data[];
};

struct sink {
	int kind;
	struct sockaddr_storage sa;
	char path[108];
	union { uv_tcp_t tcp; uv_pipe_t pipe; uv_handle_t h; uv_stream_t st; } u;
	uv_connect_t conn;
	uv_timer_t retry;
	int fd;                       /* S_DGRAM, S_UDP */
	int open;                     /* the stream handle is initialised, not closing */
	int connected, closed, handles;
	uint64_t retry_ms;
	struct line *head, *tail;     /* waiting for a connection */
	size_t queued, max_queue;     /* bytes waiting here or in libuv's write queue */
	lua_State *L;                 /* the state that owns on_connect */
	int on_connect;               /* registry ref of fn() -> text sent first on each
				       * connection (LUA_NOREF: none) */
	uint64_t lines, dropped, reconnects;
};

static void start_connect(struct sink *s);

static void on_retry(uv_timer_t *t)
{
	start_connect(t->data);
}

static void free_if_done(struct sink *s)
{
	if (s->closed && s->handles == 0) {
		for (struct line *l = s->head, *n; l; l = n) {
			n = l->next;
			free(l);
		}
		free(s);
	}
}

static void handle_closed(uv_handle_t *h)
{
	struct sink *s = h->data;
	s->handles--;
	if (h == &s->u.h && !s->closed) {
		uv_timer_start(&s->retry, on_retry, s->retry_ms, 0);
		s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
	}
	free_if_done(s);
}

/* The connection broke or never came: close the handle; handle_closed retries. */
static void disconnect(struct sink *s)
{
	s->connected = 0;
	if (s->open) {
		s->open = 0;
		uv_close(&s->u.h, handle_closed);
	}
}

static void on_written(uv_write_t *req, int status)
{
	struct line *l = (struct line *)req;
	struct sink *s = l->s;
	s->queued -= l->len;
	if (status < 0) {
		s->dropped++;
		if (status != UV_ECANCELED)
			disconnect(s);
	}
	free(l);
	free_if_done(s);
}

static void send_line(struct sink *s, struct line *l)
{
	uv_buf_t b = uv_buf_init(l->data, (unsigned)l->len);
	l->s = s;
	if (uv_write(&l->req, &s->u.st, &b, 1, on_written) < 0) {
		s->queued -= l->len;
		s->dropped++;
		free(l);
		disconnect(s);
	}
}

/* A line holding a copy of text, counted as queued; NULL when out of memory. */
static struct line *new_line(struct sink *s, const char *text, size_t len)
{
	struct line *l = malloc(sizeof(*l) + len);
	if (l) {
		l->next = NULL, l->len = len, l->s = s;
		memcpy(l->data, text, len);
		s->queued += len;
	}
	return l;
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	(void)h, (void)want;
	static char sink_buf[1024];
	*buf = uv_buf_init(sink_buf, sizeof(sink_buf));
}

/* Collectors do not talk back; reading only tells when they go away. */
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0)
		disconnect(st->data);
}

/* What the owner wants said first on a new connection (IPFIX: its templates),
 * ahead of the lines queued meanwhile. Not counted as a line. */
static void send_preamble(struct sink *s)
{
	if (s->on_connect == LUA_NOREF || s->L != G.L)
		return;
	lua_State *L = s->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->on_connect);
	if (call_protected(L, 0, 1) != LUA_OK) {
		G.stats.timer_errors++;
		call_report(L, "sink on_connect error");
		return;
	}
	size_t len;
	const char *text = lua_tolstring(L, -1, &len);
	struct line *l = text && len ? new_line(s, text, len) : NULL;
	if (l)
		send_line(s, l);
	lua_pop(L, 1);
}

static void on_connect(uv_connect_t *c, int status)
{
	struct sink *s = c->data;
	if (status < 0 || !s->open) {
		disconnect(s);
		return;
	}
	s->connected = 1;
	s->retry_ms = RETRY_MIN_MS;
	uv_read_start(&s->u.st, on_alloc, on_read);
	send_preamble(s);
	if (!s->connected)               /* the preamble's write already failed */
		return;
	struct line *l = s->head;
	s->head = s->tail = NULL;
	while (l) {
		struct line *n = l->next;
		send_line(s, l);
		l = n;
	}
}

static void start_connect(struct sink *s)
{
	if (s->closed || s->open)
		return;
	s->reconnects++;
	s->conn.data = s;
	if (s->kind == S_TCP)
		uv_tcp_init(G.loop, &s->u.tcp);
	else
		uv_pipe_init(G.loop, &s->u.pipe, 0);
	uv_unref(&s->u.h);                /* a sink alone keeps nothing running */
	s->u.h.data = s;
	s->open = 1, s->handles++;
	if (s->kind == S_UNIX)
		uv_pipe_connect(&s->conn, &s->u.pipe, s->path, on_connect);
	else if (uv_tcp_connect(&s->conn, &s->u.tcp, (struct sockaddr *)&s->sa, on_connect) < 0)
		disconnect(s);
}

static struct sink *check_sink(lua_State *L)
{
	struct sink **p = luaL_checkudata(L, 1, SINK_MT);
	if (!*p)
		luaL_error(L, "sink is closed");
	return *p;
}

/* core.sink_open(kind, address, max_queue [, on_connect]) -> sink | nil, message, code
 * kind "tcp" or "udp" (address "HOST:PORT", "[V6]:PORT"), "unix" (a stream socket
 * path) or "dgram" (a datagram socket path, e.g. /dev/log). Stream sinks only:
 * on_connect() -> text, sent first on every new connection. */
static int sink_open(lua_State *L)
{
	static const char *const kinds[] = { "tcp", "unix", "dgram", "udp", NULL };
	int kind = luaL_checkoption(L, 1, NULL, kinds);
	const char *addr = luaL_checkstring(L, 2);
	lua_Integer maxq = luaL_optinteger(L, 3, 1 << 20);
	luaL_argcheck(L, maxq > 0, 3, "max_queue must be > 0");
	if (!lua_isnoneornil(L, 4))
		luaL_checktype(L, 4, LUA_TFUNCTION);
	struct sink *s = calloc(1, sizeof(*s));
	if (!s)
		return luaL_error(L, "out of memory");
	s->kind = kind, s->max_queue = (size_t)maxq, s->fd = -1, s->retry_ms = RETRY_MIN_MS;
	s->L = G.L, s->on_connect = LUA_NOREF;
	if (kind == S_TCP || kind == S_UDP) {
		int rc = hostport_parse(addr, NULL, &s->sa);
		if (rc < 0) {
			free(s);
			return luaL_argerror(L, 2, rc == -EINVAL ? "HOST:PORT expected" : "not a numeric address");
		}
	} else {
		if (strlen(addr) >= sizeof(s->path)) {
			free(s);
			return luaL_argerror(L, 2, "socket path too long");
		}
		strcpy(s->path, addr);
		if (kind == S_DGRAM) {        /* the address every write goes to */
			struct sockaddr_un *un = (struct sockaddr_un *)&s->sa;
			un->sun_family = AF_UNIX;
			strcpy(un->sun_path, addr);
		}
	}
	if (kind == S_DGRAM || kind == S_UDP) {
		int fam = kind == S_DGRAM ? AF_UNIX : s->sa.ss_family;
		s->fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		socklen_t salen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if (s->fd < 0 || (kind == S_UDP && connect(s->fd, (struct sockaddr *)&s->sa, salen) < 0)) {
			int e = errno;
			if (s->fd >= 0)
				close(s->fd);
			free(s);
			return push_fail(L, e);
		}
	} else {
		uv_timer_init(G.loop, &s->retry);
		s->retry.data = s;
		s->handles = 1;
		uv_unref((uv_handle_t *)&s->retry);
	}
	struct sink **p = lua_newuserdatauv(L, sizeof(*p), 0);
	*p = s;
	luaL_setmetatable(L, SINK_MT);
	if (kind == S_TCP || kind == S_UNIX) {
		if (!lua_isnoneornil(L, 4)) {
			lua_pushvalue(L, 4);
			s->on_connect = luaL_ref(L, LUA_REGISTRYINDEX);
		}
		start_connect(s);
	}
	return 1;
}

/* sink:write(text) -> true | false (dropped: queue full, or a datagram refused) */
static int sink_write(lua_State *L)
{
	struct sink *s = check_sink(L);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	if (s->kind == S_DGRAM || s->kind == S_UDP) {
		ssize_t n = s->kind == S_UDP ? send(s->fd, text, len, MSG_DONTWAIT)
					     : sendto(s->fd, text, len, MSG_DONTWAIT, (struct sockaddr *)&s->sa,
						      sizeof(struct sockaddr_un));
		if (n < 0) {
			s->dropped++;
			lua_pushboolean(L, 0);
			return 1;
		}
		s->lines++;
		lua_pushboolean(L, 1);
		return 1;
	}
	if (s->queued + len > s->max_queue) {
		s->dropped++;
		lua_pushboolean(L, 0);
		return 1;
	}
	struct line *l = new_line(s, text, len);
	if (!l)
		return luaL_error(L, "out of memory");
	s->lines++;
	if (s->connected) {
		send_line(s, l);
	} else {
		if (s->tail)
			s->tail->next = l;
		else
			s->head = l;
		s->tail = l;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* sink:stats() -> { lines, dropped, queued (bytes), connected, reconnects } */
static int sink_stats(lua_State *L)
{
	struct sink *s = check_sink(L);
	lua_createtable(L, 0, 5);
	lua_pushinteger(L, (lua_Integer)s->lines);
	lua_setfield(L, -2, "lines");
	lua_pushinteger(L, (lua_Integer)s->dropped);
	lua_setfield(L, -2, "dropped");
	lua_pushinteger(L, (lua_Integer)s->queued);
	lua_setfield(L, -2, "queued");
	lua_pushboolean(L, s->kind == S_DGRAM || s->kind == S_UDP || s->connected);
	lua_setfield(L, -2, "connected");
	lua_pushinteger(L, (lua_Integer)(s->reconnects > 0 ? s->reconnects - 1 : 0));
	lua_setfield(L, -2, "reconnects");
	return 1;
}

/* sink:close() / __gc / __close: lines not yet written are dropped. */
static int sink_close(lua_State *L)
{
	struct sink **p = luaL_checkudata(L, 1, SINK_MT);
	struct sink *s = *p;
	if (!s)
		return 0;
	*p = NULL;
	s->closed = 1;
	luaL_unref(L, LUA_REGISTRYINDEX, s->on_connect);
	s->on_connect = LUA_NOREF;
	if (s->kind == S_DGRAM || s->kind == S_UDP) {
		close(s->fd);
		free(s);
		return 0;
	}
	disconnect(s);                    /* closed: handle_closed will not retry */
	uv_close((uv_handle_t *)&s->retry, handle_closed);
	return 0;
}

static const luaL_Reg sink_methods[] = {
	{ "write", sink_write },
	{ "stats", sink_stats },
	{ "close", sink_close },
	{ NULL, NULL },
};

static const luaL_Reg sink_meta[] = {
	{ "__gc", sink_close },
	{ "__close", sink_close },
	{ NULL, NULL },
};

static const luaL_Reg sink_funcs[] = {
	{ "sink_open", sink_open },
	{ NULL, NULL },
};

void sink_register(lua_State *L)
{
	core_class(L, SINK_MT, sink_meta, sink_methods);
	luaL_setfuncs(L, sink_funcs, 0);
}
