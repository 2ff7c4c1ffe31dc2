/* metrics.c — GET /metrics over HTTP on the libuv loop (--metrics [HOST:]PORT).
 *
 * Mechanism only: the body comes from the Lua runtime (hooks.metrics, which
 * renders the Prometheus text format), asked afresh on every request. A client
 * can cost at most one bounded request buffer and one queued response: requests
 * over METRICS_REQ_MAX bytes are refused, clients are cut METRICS_FIRST_MS after
 * connecting if they have sent nothing and after METRICS_TIMEOUT_MS in any case,
 * at most METRICS_CLIENTS at a time. When that many are open, a new client
 * evicts the oldest one that has not sent a complete request (idle connections
 * must not keep a scraper out); only when all are being answered is it refused.
 * Writes are queued by libuv, so a client that reads slowly never holds up event
 * delivery. Binds loopback unless a host is given. */
#define _GNU_SOURCE             /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "handle.h"

#define METRICS_REQ_MAX 8192
#define METRICS_FIRST_MS 2000
#define METRICS_TIMEOUT_MS 5000
#define METRICS_CLIENTS 16

struct client {
	struct hgroup g;              /* first: the handles' data */
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct hwrite wr;             /* the response */
	struct client *prev, *next;   /* open clients, oldest first */
	uint64_t since;               /* loop time of the accept */
	struct hbuf req;              /* over reqbuf: never grown */
	char reqbuf[METRICS_REQ_MAX];
	int answering;                /* a complete request is being answered */
	int closing;
};

_Static_assert(offsetof(struct client, g) == 0, "a handle's data is its group and its client");

static uv_tcp_t server;
static int listening, open_clients;
static struct client *oldest, *newest;

static void client_freed(struct hgroup *g)
{
	free(g);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	*(c->prev ? &c->prev->next : &oldest) = c->next;
	*(c->next ? &c->next->prev : &newest) = c->prev;
	open_clients--;
	hgroup_close((uv_handle_t *)&c->timer);
	hgroup_close((uv_handle_t *)&c->tcp);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	client_close(w->data);
}

static void respond(struct client *c, const char *status, const char *type, const char *body, size_t blen)
{
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->answering = 1;
	char head[256];
	int hlen = snprintf(head, sizeof(head),
			    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			    status, type, blen);
	uv_buf_t parts[2] = { uv_buf_init(head, (unsigned)hlen), uv_buf_init((char *)body, (unsigned)blen) };
	c->wr.req.data = c;
	if (hwrite_start(&c->wr, (uv_stream_t *)&c->tcp, parts, 2, on_written) < 0)
		client_close(c);
}

/* The body of GET /metrics from hooks.metrics(); a failing hook is a 500. */
static void serve_metrics(struct client *c)
{
	lua_State *L = rt.ls->L;
	int st = call_hook("metrics", 0, 1);
	if (st != LUA_OK || !lua_isstring(L, -1)) {
		if (st != LUA_OK)
			call_report(L, "metrics");   /* reports and pops the error */
		else
			lua_pop(L, 1);               /* not a body */
		static const char msg[] = "metrics failed\n";
		respond(c, "500 Internal Server Error", "text/plain", msg, sizeof(msg) - 1);
		return;
	}
	size_t n;
	const char *body = lua_tolstring(L, -1, &n);
	respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, n);
	lua_pop(L, 1);
}

static void on_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	(void)want;
	struct client *c = h->data;
	hbuf_alloc(&c->req, buf);
}

/* n more bytes of the request are in c->req: answers once the headers are in. */
static void received(struct client *c, size_t n)
{
	/* The first bytes: the rest of the request gets the whole time budget. */
	if (c->req.len == n && n > 0) {
		uint64_t spent = uv_now(rt.loop) - c->since;
		uv_timer_start(&c->timer, on_timeout, spent < METRICS_TIMEOUT_MS ? METRICS_TIMEOUT_MS - spent : 0, 0);
	}
	const char *req = c->req.buf;
	size_t len = c->req.len;
	/* Only the request line matters; wait for the end of the headers. */
	if (!memmem(req, len, "\r\n\r\n", 4) && !memmem(req, len, "\n\n", 2)) {
		if (len == c->req.max) {
			static const char msg[] = "request too large\n";
			respond(c, "431 Request Header Fields Too Large", "text/plain", msg, sizeof(msg) - 1);
		}
		return;
	}
	if (len >= 13 && memcmp(req, "GET /metrics", 12) == 0 && (req[12] == ' ' || req[12] == '?')) {
		serve_metrics(c);
	} else if (len >= 5 && memcmp(req, "GET ", 4) == 0) {
		static const char msg[] = "not found: ctlua serves /metrics\n";
		respond(c, "404 Not Found", "text/plain", msg, sizeof(msg) - 1);
	} else {
		static const char msg[] = "only GET\n";
		respond(c, "405 Method Not Allowed", "text/plain", msg, sizeof(msg) - 1);
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;
	if (n < 0)
		client_close(c);
	else
		received(c, hbuf_read(&c->req, buf, n));
}

/* Makes room for the client just accepted (newest): closes the oldest other one
 * that has not sent a complete request. What is already in the kernel counts: a
 * scraper whose request has arrived but not been read yet is not idle (read
 * here, it is answered instead). 0, or -1 when every other one is answered. */
static int evict_idle(void)
{
	for (struct client *c = oldest, *next; c && c != newest; c = next) {
		next = c->next;
		if (c->answering)
			continue;
		uv_os_fd_t fd;
		uv_buf_t room;
		ssize_t n = -1;
		if (c->req.len < c->req.max && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
			hbuf_alloc(&c->req, &room);
			n = recv(fd, room.base, room.len, MSG_DONTWAIT);
		}
		if (n > 0) {
			received(c, hbuf_read(&c->req, &room, n));
			if (c->closing)
				return 0;
			if (c->answering)
				continue;
		}
		client_close(c);
		return 0;
	}
	return -1;
}

static void on_connection(uv_stream_t *srv, int status)
{
	if (status < 0)
		return;
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->g.freed = client_freed;
	c->req = (struct hbuf){ .buf = c->reqbuf, .cap = METRICS_REQ_MAX, .max = METRICS_REQ_MAX };
	uv_tcp_init(rt.loop, &c->tcp);
	uv_timer_init(rt.loop, &c->timer);
	hgroup_add(&c->g, (uv_handle_t *)&c->tcp);
	hgroup_add(&c->g, (uv_handle_t *)&c->timer);
	c->since = uv_now(rt.loop);
	/* linked in first, so that client_close can take it out again */
	c->prev = newest;
	*(newest ? &newest->next : &oldest) = c;
	newest = c;
	open_clients++;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		client_close(c);
		return;
	}
	/* Full: an evicted idle client or this one is refused; both are counted. */
	if (open_clients > METRICS_CLIENTS) {
		stats.metrics_refused++;
		if (evict_idle() < 0) {
			client_close(c);
			return;
		}
	}
	uv_timer_start(&c->timer, on_timeout, METRICS_FIRST_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Listens on spec: "PORT" (loopback), "HOST:PORT" or "[V6]:PORT". 0 or -errno;
 * a bad spec is -EINVAL. */
int metrics_listen(const char *spec)
{
	struct sockaddr_storage sa;
	if (hostport_parse(spec, "127.0.0.1", &sa) < 0)
		return -EINVAL;
	uv_tcp_init(rt.loop, &server);
	int rc = uv_tcp_bind(&server, (struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&server, 64, on_connection);
	if (rc < 0) {
		uv_close((uv_handle_t *)&server, NULL);
		return rc;
	}
	uv_unref((uv_handle_t *)&server);    /* serving alone keeps nothing alive */
	listening = 1;
	return 0;
}

void metrics_close(void)
{
	if (listening && !uv_is_closing((uv_handle_t *)&server))
		uv_close((uv_handle_t *)&server, NULL);
	listening = 0;
}
