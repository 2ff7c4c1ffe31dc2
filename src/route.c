/* route.c — sinks as handlers: events written in C, straight from the message.
 *
 * ct.on(name, sink) adds a route: each event of that kind is formatted by
 * format.c from its struct ctev (no Lua table, no call into Lua) and appended to
 * the sink's output buffer. An output is a file descriptor (stdout, a file) with
 * a byte buffer: the batch's lines go out in one write() once the batch has been
 * delivered. A pipe or socket is written non-blocking; what it does not take
 * waits in the buffer (max_queue bytes, polled for writability), and a line that
 * does not fit is dropped and counted: a stalled reader costs the event socket
 * nothing. Regular files and terminals are written as they come. */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "decode.h"
#include "format.h"

#define OUTPUT_MT "ctlua.output"
#define ROUTES_MAX 64

struct output {
	int fd, own_fd, nonblock, closed, tty;
	int oldfl;                    /* the fd's flags before O_NONBLOCK, restored at close */
	struct obuf buf;              /* bytes not written yet */
	size_t max_queue;
	uv_poll_t poll;
	int polling, handle;          /* poll started; handle initialised (closed async) */
	/* offered = sent + dropped + pending, in lines; lines = sent + pending */
	uint64_t offered, sent, dropped, pending, errors;
};

struct route {
	uint32_t kinds;               /* bit k: events of ev_kind k */
	struct output *out;           /* one of these two */
	struct sink *sink;
	int opts, json, used, id;
	int ref;                      /* registry ref of the output userdata: keeps it alive */
	lua_State *L;                 /* the state it belongs to */
};
static struct route routes[ROUTES_MAX];
static int nroutes, next_id = 1;
static uint32_t routed;           /* kinds some route takes */
static struct output *dirty[ROUTES_MAX];
static int ndirty;
static struct sink *dirty_sinks[ROUTES_MAX];
static int ndirty_sinks;
/* Destinations that got conntrack's XML head (before their first -o xml line),
 * and so get its tail when their routes go: 1 conntrack, 2 expect. */
static struct { const void *dest; int exp; } xml_open[ROUTES_MAX];
static int nxml_open;
/* Live output is written once COALESCE_BYTES wait or COALESCE_MS after the first
 * of them, not after every batch: a receiver that keeps up wakes for a handful of
 * events at a time, and a write per wake-up was a third of its system calls. A
 * terminal is written at once, as a person watches it. */
#define COALESCE_BYTES 32768
#define COALESCE_MS 50
static size_t unflushed;          /* bytes routed since the last flush */
static int urgent;                /* a terminal is waiting */
static uv_timer_t flush_timer;
static int flush_timer_init, flush_armed;

static void on_writable(uv_poll_t *p, int status, int events);
static void recompute(void);

/* Writes what the fd takes now; the rest stays. Non-blocking fds only wait. */
static void flush_out(struct output *o)
{
	size_t off = 0;
	while (off < o->buf.n) {
		ssize_t w = write(o->fd, o->buf.b + off, o->buf.n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* EPIPE and friends: nobody will read these, a line cut
				 * short included. SIGPIPE is caught, so a reader of
				 * stdout that went away (ctlua | head) ends ctlua here. */
				if (errno == EPIPE && o->fd == STDOUT_FILENO)
					rt_stop();
				o->errors++;
				o->dropped += o->pending;
				o->pending = 0;
				off = o->buf.n;
			}
			break;
		}
		/* A line is sent once its newline is written. */
		for (const char *p = o->buf.b + off, *end = p + w;
		     (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
			o->sent++, o->pending--;
		off += (size_t)w;
	}
	if (off) {
		memmove(o->buf.b, o->buf.b + off, o->buf.n - off);
		o->buf.n -= off;
	}
	int want = o->buf.n > 0 && o->nonblock && !o->closed;
	if (want && !o->polling) {
		if (!o->handle) {
			uv_poll_init(rt.loop, &o->poll, o->fd);
			o->poll.data = o;
			o->handle = 1;
		}
		uv_poll_start(&o->poll, UV_WRITABLE, on_writable);
		o->polling = 1;
	} else if (!want && o->polling) {
		uv_poll_stop(&o->poll);
		o->polling = 0;
	}
}

static void on_writable(uv_poll_t *p, int status, int events)
{
	(void)status, (void)events;
	flush_out(p->data);
}

/* Appends one line (a newline is added); 0 when it was dropped. */
static int out_line(struct output *o, const char *s, size_t n)
{
	o->offered++;
	if (o->closed || o->buf.n + n + 1 > o->max_queue || !ob_need(&o->buf, n + 1)) {
		o->dropped++;
		return 0;
	}
	memcpy(o->buf.b + o->buf.n, s, n);
	o->buf.n += n;
	o->buf.b[o->buf.n++] = '\n';
	o->pending++;
	return 1;
}

static void mark_dirty(struct output *o)
{
	for (int i = 0; i < ndirty; i++)
		if (dirty[i] == o)
			return;
	if (ndirty < ROUTES_MAX)
		dirty[ndirty++] = o;
	else
		flush_out(o);
}

static void mark_dirty_sink(struct sink *s)
{
	for (int i = 0; i < ndirty_sinks; i++)
		if (dirty_sinks[i] == s)
			return;
	dirty_sinks[ndirty_sinks++] = s;      /* one per route at most */
}

/* Whether some route takes events of this kind (event.c skips the rest). */
int route_wants(int kind)
{
	return (routed >> kind) & 1;
}

static int put_line(struct route *r, const char *s, size_t n);

/* An XML destination's head, once, before its first line. */
static void xml_head(struct route *r, int exp)
{
	const void *dest = r->sink ? (const void *)r->sink : (const void *)r->out;
	for (int i = 0; i < nxml_open; i++)
		if (xml_open[i].dest == dest)
			return;
	if (nxml_open == ROUTES_MAX)
		return;
	xml_open[nxml_open].dest = dest, xml_open[nxml_open++].exp = exp;
	const char *h = XML_HEAD(exp);
	const char *nl = strchr(h, '\n');
	put_line(r, h, (size_t)(nl - h));
	put_line(r, nl + 1, strlen(nl + 1));
}

/* The XML tail of a destination whose routes go (its last route, the state). */
static void xml_tail(const void *dest, struct route *r)
{
	for (int i = 0; i < nxml_open; i++) {
		if (xml_open[i].dest != dest)
			continue;
		if (r) {
			const char *t = XML_TAIL(xml_open[i].exp);
			put_line(r, t, strlen(t));
		}
		xml_open[i] = xml_open[--nxml_open];
		return;
	}
}

/* Whether some other route in use still writes to r's destination. */
static int dest_shared(const struct route *r)
{
	for (int i = 0; i < nroutes; i++)
		if (&routes[i] != r && routes[i].used && routes[i].out == r->out && routes[i].sink == r->sink)
			return 1;
	return 0;
}

/* Formats ev once per format and appends it to every output routed for its kind. */
void route_event(const struct ctev *ev)
{
	static struct obuf line;
	int done_opts = -1;
	for (int i = 0; i < nroutes; i++) {
		struct route *r = &routes[i];
		if (!r->used || !((r->kinds >> ev->kind) & 1))
			continue;
		int key = r->json ? 0x100 : r->opts;
		if (key != done_opts) {
			line.n = 0, line.oom = 0;
			if (r->json)
				format_json(&line, ev);
			else
				format_text(&line, ev, r->opts);
			done_opts = key;
		}
		if (r->opts & FMT_XML)
			xml_head(r, ev->exp);
		if (line.oom) {
			if (r->sink)
				sink_drop(r->sink), mark_dirty_sink(r->sink);
			else
				r->out->offered++, r->out->dropped++;
			continue;
		}
		put_line(r, line.b, line.n);
	}
}

/* One line to a route's destination. */
static int put_line(struct route *r, const char *s, size_t n)
{
	unflushed += n + 1;
	if (r->sink) {
		int ok = sink_put(r->sink, s, n, 1) >= 0;
		if (!ok)
			sink_drop(r->sink);
		mark_dirty_sink(r->sink);
		return ok;
	}
	struct output *o = r->out;
	int ok = out_line(o, s, n);
	urgent |= o->tty;
	/* One write per batch, or per 64 KiB of a long one (a recorded file
	 * is one batch). */
	if (o->buf.n >= 65536)
		flush_out(o);
	else if (o->buf.n)
		mark_dirty(o);
	return ok;
}

static void on_flush_timer(uv_timer_t *t)
{
	(void)t;
	flush_armed = 0;
	route_flush();
}

/* End of a batch: write now (recorded input, a terminal, enough bytes), or within
 * COALESCE_MS. */
void route_batch_end(void)
{
	if (!ndirty && !ndirty_sinks)
		return;
	if (!rt.live || urgent || unflushed >= COALESCE_BYTES) {
		route_flush();
		return;
	}
	if (flush_armed)
		return;
	if (!flush_timer_init) {
		uv_timer_init(rt.loop, &flush_timer);
		uv_unref((uv_handle_t *)&flush_timer);   /* every exit path flushes */
		flush_timer_init = 1;
	}
	uv_timer_start(&flush_timer, on_flush_timer, COALESCE_MS, 0);
	flush_armed = 1;
}

/* Writes everything routed so far: one write per output. */
void route_flush(void)
{
	unflushed = 0, urgent = 0;
	if (flush_armed) {
		uv_timer_stop(&flush_timer);
		flush_armed = 0;
	}
	for (int i = 0; i < ndirty; i++)
		flush_out(dirty[i]);
	ndirty = 0;
	for (int i = 0; i < ndirty_sinks; i++)
		sink_flush(dirty_sinks[i]);
	ndirty_sinks = 0;
}

/* A sink closing (sink_on_close): its routes go, and it is not flushed again. */
static void route_forget(const struct sink *s)
{
	for (int i = 0; i < ndirty_sinks; i++)
		if (dirty_sinks[i] == s)
			dirty_sinks[i--] = dirty_sinks[--ndirty_sinks];
	for (int i = 0; i < nroutes; i++)
		if (routes[i].used && routes[i].sink == s)
			routes[i].used = 0;
	xml_tail(s, NULL);
	recompute();
}

/* The userdata holds a pointer: the poll handle lives until libuv has closed it. */
static struct output *check_output(lua_State *L, int i)
{
	struct output **p = luaL_checkudata(L, i, OUTPUT_MT);
	if (!*p)
		luaL_error(L, "sink is closed");
	return *p;
}

/* core.output(target, max_queue) -> output | nil, message, code
 * target: "stdout", "stderr" or a file path (opened for appending). */
static int route_output(lua_State *L)
{
	const char *t = luaL_checkstring(L, 1);
	lua_Integer maxq = luaL_optinteger(L, 2, 1 << 20);
	luaL_argcheck(L, maxq > 0, 2, "max_queue must be > 0");
	int fd, own = 0;
	if (strcmp(t, "stdout") == 0)
		fd = 1;
	else if (strcmp(t, "stderr") == 0)
		fd = 2;
	else if ((fd = open(t, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return err_push(L, errno);
	else
		own = 1;
	struct output **p = lua_newuserdatauv(L, sizeof(*p), 0);
	struct output *o = *p = calloc(1, sizeof(*o));
	if (!o) {
		if (own)
			close(fd);
		return luaL_error(L, "out of memory");
	}
	o->fd = fd, o->own_fd = own, o->max_queue = rt.live ? (size_t)maxq : SIZE_MAX;
	o->tty = isatty(fd);
	struct stat st;
	if (rt.live && fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		/* Ours alone to wait on: a pipe's other end is someone else's. */
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
			o->nonblock = 1, o->oldfl = fl;
	}
	luaL_setmetatable(L, OUTPUT_MT);
	return 1;
}

/* output:write(text) -> true | false (dropped): one line, in order with the routed ones */
static int output_write(lua_State *L)
{
	struct output *o = check_output(L, 1);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);
	int ok = out_line(o, s, n);
	/* Written at once (outside a batch nobody flushes for us). */
	flush_out(o);
	lua_pushboolean(L, ok);
	return 1;
}

/* output:stats() -> { offered, sent, dropped, pending, lines, queued, connected,
 * reconnects }, as the stream sinks count: offered = sent + dropped + pending */
static int output_stats(lua_State *L)
{
	struct output *o = check_output(L, 1);
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, (lua_Integer)o->offered);
	lua_setfield(L, -2, "offered");
	lua_pushinteger(L, (lua_Integer)o->sent);
	lua_setfield(L, -2, "sent");
	lua_pushinteger(L, (lua_Integer)o->pending);
	lua_setfield(L, -2, "pending");
	lua_pushinteger(L, (lua_Integer)(o->sent + o->pending));
	lua_setfield(L, -2, "lines");
	lua_pushinteger(L, (lua_Integer)o->dropped);
	lua_setfield(L, -2, "dropped");
	lua_pushinteger(L, (lua_Integer)o->buf.n);
	lua_setfield(L, -2, "queued");
	lua_pushboolean(L, !o->closed);
	lua_setfield(L, -2, "connected");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "reconnects");
	return 1;
}

static void output_closed(uv_handle_t *h)
{
	free(h->data);
}

static void output_free(struct output *o)
{
	for (int i = 0; i < ndirty; i++)
		if (dirty[i] == o)
			dirty[i--] = dirty[--ndirty];
	flush_out(o);
	o->closed = 1;
	/* The flag is on the open file, shared with whoever else holds the pipe
	 * (the shell's other commands): give it back as it was. */
	if (o->nonblock)
		fcntl(o->fd, F_SETFL, o->oldfl);
	if (o->own_fd)
		close(o->fd);
	free(o->buf.b);
	if (o->handle)
		uv_close((uv_handle_t *)&o->poll, output_closed);
	else
		free(o);
}

/* output:close() / __gc: what is buffered is written if the fd takes it now.
 * Safe twice. */
static int output_close(lua_State *L)
{
	struct output **p = luaL_checkudata(L, 1, OUTPUT_MT);
	if (*p) {
		struct output *o = *p;
		*p = NULL;
		for (int i = 0; i < nroutes; i++) {
			if (routes[i].used && routes[i].out == o) {
				xml_tail(o, &routes[i]);
				routes[i].used = 0;
			}
		}
		recompute();
		output_free(o);
	}
	return 0;
}

/* core.route(kinds, output | sink, json, opts) -> id: events of the kinds in the
 * mask go to an output or a socket sink (sink.c), formatted in C. opts: FMT_*
 * bits (core.format_opts), or true for the -o timestamp form alone. */
static int route_add(lua_State *L)
{
	lua_Integer kinds = luaL_checkinteger(L, 1);
	struct sink *sink = sink_test(L, 2);
	struct output *out = sink ? NULL : check_output(L, 2);
	int slot = -1;
	for (int i = 0; i < nroutes; i++)
		if (!routes[i].used)
			slot = i;
	if (slot < 0) {
		if (nroutes == ROUTES_MAX)
			return luaL_error(L, "too many sink handlers (%d)", ROUTES_MAX);
		slot = nroutes++;
	}
	struct route *r = &routes[slot];
	r->out = out, r->sink = sink;
	r->L = lstate_of(L)->L;
	lua_pushvalue(L, 2);
	r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	r->kinds = (uint32_t)kinds, r->json = lua_toboolean(L, 3);
	r->opts = lua_isinteger(L, 4) ? (int)lua_tointeger(L, 4) : lua_toboolean(L, 4) ? FMT_TIMESTAMP : 0;
	r->used = 1, r->id = next_id++;
	routed |= r->kinds;
	lua_pushinteger(L, r->id);
	return 1;
}

static void recompute(void)
{
	routed = 0;
	for (int i = 0; i < nroutes; i++)
		if (routes[i].used)
			routed |= routes[i].kinds;
}

/* core.unroute(id) */
static int route_remove(lua_State *L)
{
	lua_Integer id = luaL_checkinteger(L, 1);
	for (int i = 0; i < nroutes; i++) {
		if (routes[i].used && routes[i].id == id) {
			if (!dest_shared(&routes[i]))
				xml_tail(routes[i].sink ? (const void *)routes[i].sink : (const void *)routes[i].out,
					 &routes[i]);
			routes[i].used = 0;
			luaL_unref(L, LUA_REGISTRYINDEX, routes[i].ref);
		}
	}
	recompute();
	return 0;
}


/* Before a Lua state closes (reload, exit): its routes go with it. */
void route_drop_state(lua_State *L)
{
	for (int i = 0; i < nroutes; i++)
		if (routes[i].used && routes[i].L == L)
			xml_tail(routes[i].sink ? (const void *)routes[i].sink : (const void *)routes[i].out, &routes[i]);
	route_flush();
	for (int i = 0; i < nroutes; i++)
		if (routes[i].used && routes[i].L == L)
			routes[i].used = 0;
	recompute();
}

static const luaL_Reg output_methods[] = {
	{ "write", output_write },
	{ "stats", output_stats },
	{ "close", output_close },
	{ NULL, NULL },
};

static const luaL_Reg output_meta[] = {
	{ "__gc", output_close },
	{ NULL, NULL },
};

/* core.output_mode(live): live events may drop lines; recorded ones never do. */
static int route_mode(lua_State *L)
{
	rt.live = lua_toboolean(L, 1);
	return 0;
}

static const luaL_Reg route_funcs[] = {
	{ "output_mode", route_mode },
	{ "output", route_output },
	{ "route", route_add },
	{ "unroute", route_remove },
	{ NULL, NULL },
};

void route_register(lua_State *L)
{
	rt_class(L, OUTPUT_MT, output_meta, output_methods);
	luaL_setfuncs(L, route_funcs, 0);
	sink_on_close(route_forget);
}
