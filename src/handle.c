/* handle.c — handle groups, bounded read buffers and owned writes (handle.h).
 *
 * Base layer: libuv and libc only, nothing of ctlua. Closing is asynchronous in
 * libuv, so memory holding handles can go only in the close callback of the
 * last of them; a stream's pending write completes (cancelled) before the
 * stream's close callback runs, so an hwrite's copy is gone by then too. */
#include <stdlib.h>
#include <string.h>
#include "handle.h"

#define HBUF_FIRST 8192      /* the first allocation */
#define HBUF_ROOM 4096       /* grow when less than this is left */

void hgroup_add(struct hgroup *g, uv_handle_t *h)
{
	h->data = g;
	g->open++;
}

void hgroup_closed(uv_handle_t *h)
{
	struct hgroup *g = h->data;
	if (--g->open == 0)
		g->freed(g);
}

void hgroup_close(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, hgroup_closed);
}

/* What is dropped is read into this and forgotten: the loop runs one read
 * callback at a time, each done with its buffer when it returns. */
static char scratch[4096];

void hbuf_alloc(struct hbuf *b, uv_buf_t *room)
{
	if (b->len >= b->max) {
		*room = uv_buf_init(scratch, sizeof(scratch));
		return;
	}
	if (b->cap - b->len < HBUF_ROOM && b->cap < b->max) {
		size_t cap = b->cap ? b->cap * 2 : HBUF_FIRST;
		if (cap > b->max)
			cap = b->max;
		char *p = realloc(b->buf, cap);
		if (!p) {
			*room = uv_buf_init(scratch, sizeof(scratch));
			return;
		}
		b->buf = p, b->cap = cap;
	}
	*room = uv_buf_init(b->buf + b->len, (unsigned)(b->cap - b->len));
}

size_t hbuf_read(struct hbuf *b, const uv_buf_t *room, ssize_t n)
{
	if (n <= 0)
		return 0;
	if (room->base == scratch) {
		b->dropped += (size_t)n;
		return 0;
	}
	b->len += (size_t)n;
	return (size_t)n;
}

void hbuf_free(struct hbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

static void hwrite_done(uv_write_t *req, int status)
{
	struct hwrite *w = (struct hwrite *)req;   /* req is the first member */
	free(w->copy);
	w->copy = NULL;
	w->done(req, status);
}

int hwrite_start(struct hwrite *w, uv_stream_t *s, const uv_buf_t *parts, unsigned n, uv_write_cb done)
{
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += parts[i].len;
	w->copy = malloc(total ? total : 1);
	if (!w->copy)
		return UV_ENOMEM;
	size_t at = 0;
	for (unsigned i = 0; i < n; i++) {
		if (parts[i].len)
			memcpy(w->copy + at, parts[i].base, parts[i].len);
		at += parts[i].len;
	}
	w->done = done;
	uv_buf_t b = uv_buf_init(w->copy, (unsigned)total);
	int rc = uv_write(&w->req, s, &b, 1, hwrite_done);
	if (rc < 0) {
		free(w->copy);
		w->copy = NULL;
	}
	return rc;
}
