/* sink.c — line sinks that never block event delivery: a TCP or unix stream
 * that reconnects, and unix datagrams (syslog's /dev/log).
 *
 * A stream sink keeps every line in one queue (two flat buffers: the bytes, and
 * 4 bytes of length a line, both counted against max_queue) from write() until
 * the kernel says the peer has it: TCP acknowledged it (SIOCOUTQ), or a unix
 * peer read it. Only then is it counted as sent. Past the bound a line is dropped
 * and counted, never waited for. When the connection breaks, lines already
 * handed to the kernel but not confirmed are counted as dropped (not re-sent:
 * the peer may hold part of them), lines never written wait for the next
 * connection. So offered = sent + dropped + pending, always. Reconnects back off
 * 0.2 s doubling to 5 s. The socket is ours (non-blocking, MSG_NOSIGNAL) on a
 * uv_poll_t. Datagram sinks (a unix socket path, or UDP to HOST:PORT) send each
 * record at once or drop it (EAGAIN, nobody listening), never wait. The uv
 * handles are one group (handle.h), freed when the last is closed; the userdata
 * points to it, __gc closes it. A record is framed here (sink:frame: newline, syslog's
 * prefix), so that route.c can write events from C (sink_put, then sink_flush
 * once per batch). With recorded input the queue is unbounded and the sink keeps
 * the loop running until its peer has every line, as a file would be written.
 *
 * A HOST that is a name is resolved before each connection (UDP: once), with
 * uv_getaddrinfo while events are live, so that a slow resolver never holds
 * event delivery; with recorded input at once (nothing live to hold up), since
 * a replay feeds every line before the loop runs. A UDP sink queues what it is
 * given until its name is resolved. A sink that starts failing (cannot resolve,
 * connect or send; the connection lost) says so once on stderr, again when it
 * works again with what it dropped meanwhile, and at close what it dropped in
 * all. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <linux/sockios.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "handle.h"

static void (*closed_hook)(const struct sink *s);   /* sink_on_close */

#define SINK_MT "ctlua.sink"
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000
#define LINE_COST 4                   /* bytes of length kept per queued line */
#define KEEP_CAP (64 * 1024)          /* an empty queue frees buffers larger than this */
#define BATCH_WRITE (64 * 1024)       /* a batch's unwritten bytes past this go out at once */

enum { S_TCP, S_UNIX, S_DGRAM, S_UDP };

/* A flat buffer consumed from the front: the live part is [off, off + len). */
struct buf { char *p; size_t off, len, cap; };

struct sink {
	struct hgroup g;              /* first: the handles' data */
	int kind;
	struct sockaddr_storage sa;
	char path[108];
	uv_poll_t poll;
	uv_timer_t retry;
	int fd;                       /* the socket (-1: none) */
	int connecting, connected, blocked;   /* blocked: waiting until writable */
	int closed;
	uint64_t retry_ms;
	struct buf data, lens;        /* queued line bytes; their lengths (uint32_t) */
	size_t wsent;                 /* bytes of the queue's front written on this connection */
	char *pre;                    /* on_connect text of this connection, until confirmed */
	size_t pre_len, pre_w;
	size_t max_queue;
	lua_State *L;                 /* the state that owns on_connect */
	int on_connect;               /* registry ref of fn() -> text sent first on each
				       * connection (LUA_NOREF: none) */
	uint64_t offered, accepted, sent, dropped, reconnects;
	/* How a record is framed (sink:frame): head, the time as clock formats it,
	 * tail, the text, then a newline if nl. The head to tail part is kept per
	 * second. */
	int nl;
	char *head, *clock, *tail;
	char prefix[256];
	size_t prefix_len;
	time_t prefix_at;
	int live;                     /* live events: bounded queue; recorded ones wait */
	char host[256], port[8];      /* a name to resolve (host[0] == 0: numeric) */
	uv_getaddrinfo_t gai;
	int resolving, resolved;
	char name[160];               /* what warnings call it (sink:label) */
	int failing;                  /* said it fails; will say when it works again */
	uint64_t dropped_then;        /* dropped when it started failing */
};

_Static_assert(offsetof(struct sink, g) == 0, "a handle's data is its group and its sink");

/* Room for n more bytes at the end of b. Sliding the live part to the front only
 * when that moves no more than it frees, else reallocating to twice what is
 * needed, keeps appends amortised O(1) and the buffer within 2x its content. */
static int buf_reserve(struct buf *b, size_t n)
{
	if (b->off + b->len + n <= b->cap)
		return 0;
	if (b->off >= b->len && b->len + n <= b->cap) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		return 0;
	}
	size_t cap = 2 * (b->len + n) < 4096 ? 4096 : 2 * (b->len + n);
	char *p = malloc(cap);
	if (!p)
		return -1;
	if (b->len)
		memcpy(p, b->p + b->off, b->len);
	free(b->p);
	b->p = p, b->cap = cap, b->off = 0;
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n, b->len -= n;
	if (b->len == 0) {
		b->off = 0;
		if (b->cap > KEEP_CAP) {      /* a burst is over: give the memory back */
			free(b->p);
			b->p = NULL, b->cap = 0;
		}
	}
}

static size_t nlines(const struct sink *s) { return s->lens.len / sizeof(uint32_t); }
static size_t held(const struct sink *s) { return s->data.len + nlines(s) * LINE_COST; }

static uint32_t front_len(const struct sink *s)
{
	uint32_t n;
	memcpy(&n, s->lens.p + s->lens.off, sizeof(n));
	return n;
}

/* One line made of the pieces, queued. */
static int queue_push(struct sink *s, const struct iovec *iov, int niov, size_t len)
{
	uint32_t n = (uint32_t)len;
	if (buf_reserve(&s->data, len) < 0 || buf_reserve(&s->lens, sizeof(n)) < 0)
		return -1;
	for (int i = 0; i < niov; i++) {
		memcpy(s->data.p + s->data.off + s->data.len, iov[i].iov_base, iov[i].iov_len);
		s->data.len += iov[i].iov_len;
	}
	memcpy(s->lens.p + s->lens.off + s->lens.len, &n, sizeof(n));
	s->lens.len += sizeof(n);
	return 0;
}

static void queue_pop(struct sink *s)
{
	buf_consume(&s->data, front_len(s));
	buf_consume(&s->lens, sizeof(uint32_t));
}

static void start_connect(struct sink *s);

static void settle(struct sink *s);

/* Once when it starts failing: what failed and why, and what happens to lines. */
static void failing(struct sink *s, const char *what, const char *why)
{
	if (s->failing || s->closed)
		return;
	s->failing = 1, s->dropped_then = s->dropped;
	fprintf(stderr, "ctlua: sink %s: %s: %s; %s\n", s->name[0] ? s->name : "(unnamed)", what, why,
		s->kind == S_DGRAM || (s->kind == S_UDP && s->resolved) ? "dropping lines until it works again"
		: "queueing lines (then dropping them) until it works again");
	fflush(stderr);
}

static void working(struct sink *s)
{
	if (!s->failing)
		return;
	s->failing = 0;
	fprintf(stderr, "ctlua: sink %s: working again (%llu lines dropped meanwhile)\n",
		s->name[0] ? s->name : "(unnamed)", (unsigned long long)(s->dropped - s->dropped_then));
	fflush(stderr);
}

/* Reconnects; or, connected with recorded input, looks for acknowledgements. */
static void on_retry(uv_timer_t *t)
{
	struct sink *s = t->data;
	if (s->fd >= 0)
		settle(s);
	else
		start_connect(s);
}

static void retry_later(struct sink *s)
{
	if (s->closed)
		return;
	uv_timer_start(&s->retry, on_retry, s->retry_ms, 0);
	s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
}

static void free_frame(struct sink *s)
{
	free(s->head), free(s->clock), free(s->tail);
}

/* The retry timer closes only in sink_close, so the last handle closed means
 * the sink is closed. */
static void sink_freed(struct hgroup *g)
{
	struct sink *s = (struct sink *)g;
	free(s->data.p);
	free(s->lens.p);
	free(s->pre);
	free_frame(s);
	free(s);
}

static void poll_closed(uv_handle_t *h)
{
	retry_later(h->data);
	hgroup_closed(h);
}

/* Counts as sent the lines the kernel says the peer has: for TCP the bytes
 * acknowledged (written minus SIOCOUTQ); for a unix stream SIOCOUTQ is the
 * memory of what the peer has not read yet, never less than its bytes, so taking
 * it as bytes errs towards "not confirmed". */
static void settle_lines(struct sink *s)
{
	int out;
	size_t written = s->pre_w + s->wsent;
	if (s->fd < 0 || s->connecting || written == 0 || ioctl(s->fd, SIOCOUTQ, &out) < 0)
		return;
	/* A unix peer that closed freed what it had not read: then 0 means lost, not
	 * read. It is marked gone before that, so look after the count. */
	char c;
	if (s->kind == S_UNIX && (recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN))
		return;
	size_t acked = written - ((size_t)out < written ? (size_t)out : written);
	if (s->pre_len) {                 /* the preamble went first */
		if (acked < s->pre_len)
			return;
		acked -= s->pre_len;
		free(s->pre);
		s->pre = NULL, s->pre_len = s->pre_w = 0;
	}
	while (nlines(s) && front_len(s) <= acked) {
		uint32_t n = front_len(s);
		acked -= n, s->wsent -= n;
		queue_pop(s);
		s->sent++;
	}
}

/* Recorded input (--netlink-file, --replay) waits for the reader, as a file
 * does: while lines are unconfirmed the sink keeps the loop running, and looks
 * again every 10 ms once all is written (no poll event says "acknowledged"). */
static void hold_loop(struct sink *s)
{
	if (s->live || s->closed)
		return;
	int busy = nlines(s) > 0 || s->pre_len > 0;
	if (s->fd >= 0 && (s->kind == S_TCP || s->kind == S_UNIX))
		busy ? uv_ref((uv_handle_t *)&s->poll) : uv_unref((uv_handle_t *)&s->poll);
	busy ? uv_ref((uv_handle_t *)&s->retry) : uv_unref((uv_handle_t *)&s->retry);
	if (busy && s->connected && !s->blocked && !uv_is_active((uv_handle_t *)&s->retry))
		uv_timer_start(&s->retry, on_retry, 10, 0);
}

static void settle(struct sink *s)
{
	settle_lines(s);
	hold_loop(s);
}

/* The connection broke or never came: what it had not confirmed is dropped,
 * lines never written stay queued; poll_closed retries. */
static void disconnect(struct sink *s)
{
	if (s->fd < 0)
		return;
	if (!s->closed)
		failing(s, s->connected ? "connection lost" : "cannot connect",
			s->connected ? "closed by the peer or the network" : strerror(errno ? errno : ECONNREFUSED));
	settle(s);
	while (s->wsent && nlines(s)) {
		uint32_t n = front_len(s);
		s->wsent = s->wsent > n ? s->wsent - n : 0;
		queue_pop(s);
		s->dropped++;
	}
	s->wsent = 0;
	free(s->pre);
	s->pre = NULL, s->pre_len = s->pre_w = 0;
	s->connecting = s->connected = s->blocked = 0;
	uv_close((uv_handle_t *)&s->poll, poll_closed);   /* stops polling at once */
	close(s->fd);
	s->fd = -1;
}

static void want_events(struct sink *s, uv_poll_cb cb)
{
	int ev = s->connecting || s->blocked ? UV_WRITABLE : 0;
	if (s->connected)
		ev |= UV_READABLE | UV_DISCONNECT;
	uv_poll_start(&s->poll, ev, cb);
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Writes what is not written yet, preamble first, until the kernel would block. */
static void flush(struct sink *s)
{
	while (s->connected && !s->blocked) {
		const char *p;
		size_t n;
		if (s->pre_w < s->pre_len)
			p = s->pre + s->pre_w, n = s->pre_len - s->pre_w;
		else if (s->wsent < s->data.len)
			p = s->data.p + s->data.off + s->wsent, n = s->data.len - s->wsent;
		else
			break;
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			s->blocked = 1;
			want_events(s, on_poll);
			break;
		}
		if (w < 0) {
			disconnect(s);
			return;
		}
		if (s->pre_w < s->pre_len)
			s->pre_w += (size_t)w;
		else
			s->wsent += (size_t)w;
	}
	settle(s);
}

/* What the owner wants said first on a new connection (IPFIX: its templates),
 * ahead of the lines queued meanwhile. Not counted as a line. */
static void take_preamble(struct sink *s)
{
	if (s->on_connect == LUA_NOREF || s->L != rt.ls->L)
		return;
	lua_State *L = s->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->on_connect);
	if (call_protected(L, 0, 1) != LUA_OK) {
		stats.timer_errors++;
		call_report(L, "sink on_connect error");
		return;
	}
	size_t len;
	const char *text = lua_tolstring(L, -1, &len);
	if (text && len && s->fd >= 0 && (s->pre = malloc(len))) {
		memcpy(s->pre, text, len);
		s->pre_len = len;
	}
	lua_pop(L, 1);
}

static void on_connected(struct sink *s)
{
	s->connecting = 0;
	s->connected = 1;
	s->retry_ms = RETRY_MIN_MS;
	working(s);
	want_events(s, on_poll);
	take_preamble(s);                 /* may close the sink: then fd < 0 */
	if (s->fd >= 0)
		flush(s);
}

/* Collectors do not talk back; reading only tells when they go away. */
static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sink *s = h->data;
	if (status < 0) {
		/* libuv says EBADF for POLLERR: the socket's own error says why */
		int err = 0;
		socklen_t len = sizeof(err);
		errno = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err ? err : -status;
		disconnect(s);
		return;
	}
	if (s->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			errno = err;
			disconnect(s);
		}
		else
			on_connected(s);
		return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT)) {
		char junk[1024];
		ssize_t n = recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			disconnect(s);
			return;
		}
	}
	if (events & UV_WRITABLE) {
		s->blocked = 0;
		want_events(s, on_poll);
		flush(s);
	} else {
		settle(s);
	}
}

static void connect_now(struct sink *s);
static void dgram_open(struct sink *s);

/* The resolved address: the first the resolver gives. */
static void take_address(struct sink *s, const struct addrinfo *ai)
{
	memset(&s->sa, 0, sizeof(s->sa));
	memcpy(&s->sa, ai->ai_addr, ai->ai_addrlen);
	s->resolved = 1;
}

/* A name's addresses came (res), or not (err): connect to the first, or say so and
 * try again later. Both resolutions end here: the live one and the recorded one. */
static void use_addresses(struct sink *s, const char *err, struct addrinfo *res)
{
	if (err) {
		char what[300];
		snprintf(what, sizeof(what), "cannot resolve %s", s->host);
		failing(s, what, err);
		retry_later(s);
		return;
	}
	take_address(s, res);
	s->kind == S_UDP ? dgram_open(s) : connect_now(s);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sink *s = req->data;
	s->resolving = 0;
	if (!s->closed)
		use_addresses(s, status < 0 || !res ? uv_strerror(status) : NULL, res);
	uv_freeaddrinfo(res);
	if (--s->g.open == 0)             /* the request held the group too */
		s->g.freed(&s->g);
}

/* A name: resolved first (live: on the resolver's thread), then connected. */
static void resolve(struct sink *s)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = s->kind == S_UDP ? SOCK_DGRAM : SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	if (!s->live) {
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(s->host, s->port, &hints, &res);
		use_addresses(s, rc != 0 || !res ? gai_strerror(rc) : NULL, res);
		if (res)
			freeaddrinfo(res);
		return;
	}
	if (s->resolving)
		return;
	s->gai.data = s;
	int rc = uv_getaddrinfo(rt.loop, &s->gai, on_resolved, s->host, s->port, &hints);
	if (rc < 0) {
		failing(s, "cannot resolve", uv_strerror(rc));
		retry_later(s);
		return;
	}
	s->resolving = 1;
	s->g.open++;
}

static void start_connect(struct sink *s)
{
	if (s->closed || s->fd >= 0)
		return;
	if (s->kind == S_UDP) {           /* here only while its name is unresolved */
		resolve(s);
		return;
	}
	s->reconnects++;
	if (s->host[0])
		resolve(s);
	else
		connect_now(s);
}

static void connect_now(struct sink *s)
{
	if (s->closed || s->fd >= 0)
		return;
	int fam = s->kind == S_UNIX ? AF_UNIX : s->sa.ss_family;
	socklen_t salen = fam == AF_UNIX ? sizeof(struct sockaddr_un)
		: fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		failing(s, "cannot connect", strerror(errno));
		retry_later(s);
		return;
	}
	int rc = connect(fd, (struct sockaddr *)&s->sa, salen);
	if ((rc < 0 && errno != EINPROGRESS) || uv_poll_init_socket(rt.loop, &s->poll, fd) < 0) {
		failing(s, "cannot connect", strerror(errno));
		close(fd);
		retry_later(s);
		return;
	}
	uv_unref((uv_handle_t *)&s->poll);   /* a sink alone keeps nothing running */
	hgroup_add(&s->g, (uv_handle_t *)&s->poll);
	s->fd = fd;
	if (rc == 0) {
		on_connected(s);
	} else {
		s->connecting = 1;
		want_events(s, on_poll);
	}
	if (s->fd >= 0)
		hold_loop(s);
}

static struct sink *check_sink(lua_State *L)
{
	struct sink **p = luaL_checkudata(L, 1, SINK_MT);
	if (!*p)
		luaL_error(L, "sink is closed");
	return *p;
}

/* "NAME:PORT" (a host name, not an address): kept for the resolver. 0 or -1. */
static int host_name(struct sink *s, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(s->host))
		return -1;
	size_t hl = (size_t)(colon - addr);
	for (size_t i = 0; i < hl; i++)      /* what a DNS name may hold */
		if (!(addr[i] == '.' || addr[i] == '-' || addr[i] == '_' ||
		      (addr[i] >= '0' && addr[i] <= '9') || ((addr[i] | 32) >= 'a' && (addr[i] | 32) <= 'z')))
			return -1;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 1 || p > 65535)
		return -1;
	memcpy(s->host, addr, hl);
	s->host[hl] = 0;
	snprintf(s->port, sizeof(s->port), "%ld", p);
	return 0;
}

/* UDP to a resolved name: the socket, then what was queued meanwhile, each
 * datagram sent or dropped. */
static void dgram_open(struct sink *s)
{
	int fam = s->sa.ss_family;
	socklen_t salen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&s->sa, salen) < 0) {
		failing(s, "cannot open", strerror(errno));
		if (fd >= 0)
			close(fd);
		retry_later(s);
		return;
	}
	s->fd = fd;
	while (nlines(s)) {
		uint32_t n = front_len(s);
		if (send(fd, s->data.p + s->data.off, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			s->dropped++;
		else
			s->sent++;
		queue_pop(s);
	}
	hold_loop(s);
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
	s->kind = kind, s->fd = -1, s->retry_ms = RETRY_MIN_MS;
	s->live = rt.live;
	s->max_queue = s->live ? (size_t)maxq : SIZE_MAX;   /* recorded input waits, never drops */
	s->g.freed = sink_freed;
	s->L = lstate_of(L)->L, s->on_connect = LUA_NOREF;
	snprintf(s->name, sizeof(s->name), "%s:%s", kinds[kind], addr);   /* until sink:label */
	if (kind == S_TCP || kind == S_UDP) {
		int rc = hostport_parse(addr, NULL, &s->sa);
		if (rc == -EAFNOSUPPORT && host_name(s, addr) == 0)
			rc = 0;               /* a name: resolved before connecting */
		if (rc < 0) {
			free(s);
			return luaL_argerror(L, 2, "HOST:PORT expected");
		}
	} else {
		if (strlen(addr) >= sizeof(s->path)) {
			free(s);
			return luaL_argerror(L, 2, "socket path too long");
		}
		strcpy(s->path, addr);
		struct sockaddr_un *un = (struct sockaddr_un *)&s->sa;   /* where it connects or sends */
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, addr);
	}
	if (kind == S_DGRAM || (kind == S_UDP && !s->host[0])) {
		int fam = kind == S_DGRAM ? AF_UNIX : s->sa.ss_family;
		s->fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		socklen_t salen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if (s->fd < 0 || (kind == S_UDP && connect(s->fd, (struct sockaddr *)&s->sa, salen) < 0)) {
			int e = errno;
			if (s->fd >= 0)
				close(s->fd);
			free(s);
			return err_push(L, e);
		}
	} else {
		uv_timer_init(rt.loop, &s->retry);
		hgroup_add(&s->g, (uv_handle_t *)&s->retry);
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
	} else if (kind == S_UDP && s->host[0]) {
		resolve(s);
	}
	return 1;
}

/* The framing before the text (syslog: "<PRI>", "Mmm dd hh:mm:ss ", "ident[pid]: "),
 * the time as os.date writes it, made again when the second changes. */
static void frame_prefix(struct sink *s)
{
	if (!s->clock)
		return;
	time_t now = time(NULL);
	if (now == s->prefix_at && s->prefix_len)
		return;
	struct tm tm;
	size_t n = strlen(s->head), room = sizeof(s->prefix);
	memcpy(s->prefix, s->head, n);
	if (localtime_r(&now, &tm))
		n += strftime(s->prefix + n, room - n, s->clock, &tm);
	size_t t = strlen(s->tail);
	if (n + t > room)
		t = room - n;
	memcpy(s->prefix + n, s->tail, t);
	s->prefix_len = n + t, s->prefix_at = now;
}

/* One record, framed as the sink frames them: 1 taken, 0 dropped (counted), -1
 * out of memory (not counted). defer: a stream sink writes at sink_flush (the
 * end of the batch), or once BATCH_WRITE bytes wait. */
int sink_put(struct sink *s, const char *text, size_t len, int defer)
{
	frame_prefix(s);
	struct iovec iov[3] = {
		{ s->prefix, s->prefix_len }, { (void *)text, len }, { "\n", (size_t)s->nl },
	};
	size_t total = s->prefix_len + len + (size_t)s->nl;
	s->offered++;
	if (s->kind == S_DGRAM || (s->kind == S_UDP && s->fd >= 0)) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
		if (s->kind == S_DGRAM)
			m.msg_name = &s->sa, m.msg_namelen = sizeof(struct sockaddr_un);
		if (sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* UDP: an ICMP "port unreachable" fails one send in two, and a
			 * collector over UDP may come and go: counted, not told. */
			if (!(s->kind == S_UDP && errno == ECONNREFUSED))
				failing(s, "cannot send", strerror(errno));
			s->dropped++;
			return 0;
		}
		working(s);
		s->accepted++, s->sent++;
		return 1;
	}
	if (held(s) + total + LINE_COST > s->max_queue)
		settle(s);                    /* confirmed lines free their room */
	if (held(s) + total + LINE_COST > s->max_queue || total > UINT32_MAX) {
		s->dropped++;
		return 0;
	}
	if (queue_push(s, iov, 3, total) < 0) {
		s->offered--;
		return -1;
	}
	s->accepted++;
	if (!defer || s->data.len - s->wsent >= BATCH_WRITE)
		flush(s);
	return 1;
}

/* A record lost before it reached the sink (no memory to format it). */
void sink_drop(struct sink *s)
{
	s->offered++, s->dropped++;
}

/* End of a batch: what sink_put deferred goes out in one send. */
void sink_flush(struct sink *s)
{
	if (s->kind == S_TCP || s->kind == S_UNIX)
		flush(s);
}

/* The open sink at index i, or NULL when it is not a sink. */
struct sink *sink_test(lua_State *L, int i)
{
	struct sink **p = luaL_testudata(L, i, SINK_MT);
	if (p && !*p)
		luaL_error(L, "sink is closed");
	return p ? *p : NULL;
}

/* sink:write(text) -> true | false (dropped: queue full, or a datagram refused) */
static int sink_write(lua_State *L)
{
	struct sink *s = check_sink(L);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	int rc = sink_put(s, text, len, 0);
	if (rc < 0)
		return luaL_error(L, "out of memory");
	lua_pushboolean(L, rc);
	return 1;
}

/* sink:frame(newline [, head, clock, tail]): each record written is head, the
 * time formatted by strftime(clock), tail, the text, and a newline if asked
 * (syslog: "<30>", "%b %e %H:%M:%S ", "ctlua[PID]: "). */
static int sink_frame(lua_State *L)
{
	struct sink *s = check_sink(L);
	int nl = lua_toboolean(L, 2);
	const char *head = luaL_optstring(L, 3, NULL), *clock = luaL_optstring(L, 4, NULL);
	const char *tail = luaL_optstring(L, 5, NULL);
	luaL_argcheck(L, !head || strlen(head) < 64, 3, "head too long");
	luaL_argcheck(L, !clock || strlen(clock) < 32, 4, "clock format too long");
	luaL_argcheck(L, !tail || strlen(tail) < 128, 5, "tail too long");
	free(s->head), free(s->clock), free(s->tail);
	s->head = s->clock = s->tail = NULL;
	s->nl = nl, s->prefix_len = 0, s->prefix_at = 0;
	if (head || clock || tail) {
		s->head = strdup(head ? head : "");
		s->clock = strdup(clock ? clock : "");
		s->tail = strdup(tail ? tail : "");
		if (!s->head || !s->clock || !s->tail)
			return luaL_error(L, "out of memory");
	}
	return 0;
}

/* sink:stats() -> { offered, sent, dropped, pending, lines, queued (bytes),
 * connected, reconnects }: offered = sent + dropped + pending; lines = offered
 * minus those refused at write (the queue was full). */
static int sink_stats(lua_State *L)
{
	struct sink *s = check_sink(L);
	settle(s);
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, (lua_Integer)s->offered);
	lua_setfield(L, -2, "offered");
	lua_pushinteger(L, (lua_Integer)s->sent);
	lua_setfield(L, -2, "sent");
	lua_pushinteger(L, (lua_Integer)s->dropped);
	lua_setfield(L, -2, "dropped");
	lua_pushinteger(L, (lua_Integer)nlines(s));
	lua_setfield(L, -2, "pending");
	lua_pushinteger(L, (lua_Integer)s->accepted);
	lua_setfield(L, -2, "lines");
	lua_pushinteger(L, (lua_Integer)held(s));
	lua_setfield(L, -2, "queued");
	lua_pushboolean(L, s->kind == S_DGRAM || (s->kind == S_UDP && s->fd >= 0) || s->connected);
	lua_setfield(L, -2, "connected");
	lua_pushinteger(L, (lua_Integer)(s->reconnects > 0 ? s->reconnects - 1 : 0));
	lua_setfield(L, -2, "reconnects");
	return 1;
}

/* At close, what it lost in all, if anything: never silently. */
static void dropped_at_close(const struct sink *s)
{
	if (s->dropped == 0)
		return;
	fprintf(stderr, "ctlua: sink %s: %llu of %llu lines dropped\n", s->name[0] ? s->name : "(unnamed)",
		(unsigned long long)s->dropped, (unsigned long long)s->offered);
	fflush(stderr);
}

/* sink:close() / __gc / __close: lines not yet confirmed are dropped. */
static int sink_close(lua_State *L)
{
	struct sink **p = luaL_checkudata(L, 1, SINK_MT);
	struct sink *s = *p;
	if (!s)
		return 0;
	*p = NULL;
	if (closed_hook)
		closed_hook(s);
	s->closed = 1;
	luaL_unref(L, LUA_REGISTRYINDEX, s->on_connect);
	s->on_connect = LUA_NOREF;
	if (s->kind == S_DGRAM || (s->kind == S_UDP && !s->host[0])) {
		close(s->fd);
		dropped_at_close(s);
		free_frame(s);
		free(s);
		return 0;
	}
	if (s->kind == S_UDP) {
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
	} else {
		disconnect(s);                /* closed: poll_closed will not retry */
	}
	if (s->resolving)
		uv_cancel((uv_req_t *)&s->gai);   /* its callback still runs, then frees */
	while (nlines(s)) {               /* never written: lost now */
		queue_pop(s);
		s->dropped++;
	}
	dropped_at_close(s);
	hgroup_close((uv_handle_t *)&s->retry);
	return 0;
}

/* sink:label(name): what its warnings call it ("tcp:HOST:PORT", "syslog:/dev/log"). */
static int sink_label(lua_State *L)
{
	struct sink *s = check_sink(L);
	snprintf(s->name, sizeof(s->name), "%s", luaL_checkstring(L, 2));
	return 0;
}

static const luaL_Reg sink_methods[] = {
	{ "write", sink_write },
	{ "frame", sink_frame },
	{ "stats", sink_stats },
	{ "label", sink_label },
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

/* Who is told when a sink closes (route.c, above: it drops its routes to it). */
void sink_on_close(void (*fn)(const struct sink *s))
{
	closed_hook = fn;
}

void sink_register(lua_State *L)
{
	rt_class(L, SINK_MT, sink_meta, sink_methods);
	luaL_setfuncs(L, sink_funcs, 0);
}
