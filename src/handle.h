/* handle.h — what the modules owning libuv handles share (spawn.c, sink.c,
 * metrics.c): the base layer below them, like luv's lhandle.c below its
 * one-file-per-handle-type modules. Depends on libuv and libc only.
 *
 * hgroup: a heap object owning several handles, freed in the close callback of
 * its last one. The group is the owner's first member and every handle's data
 * points to it, so the same pointer serves the owner's own callbacks.
 *
 * hbuf: what a read callback collects, grown up to a bound; past it (or out of
 * memory) the bytes are read and counted as dropped, so the peer never stalls.
 *
 * hwrite: one write of a private copy of some pieces (a response, a command's
 * stdin), the copy freed when the write completes or is cancelled. */
#ifndef CTLUA_HANDLE_H
#define CTLUA_HANDLE_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

struct hgroup {
	int open;                         /* handles added and not yet closed */
	void (*freed)(struct hgroup *);   /* runs when the last one has closed */
};

/* h (initialised) belongs to g from now on: h->data = g. */
void hgroup_add(struct hgroup *g, uv_handle_t *h);
/* Closes h unless it is closing already; the last close frees the group. */
void hgroup_close(uv_handle_t *h);
/* The close callback hgroup_close uses, for one that does more first. */
void hgroup_closed(uv_handle_t *h);

struct hbuf {
	char *buf;
	size_t len, cap, max, dropped;    /* cap == max from the start: the caller's
					   * storage, never reallocated (nor hbuf_free'd) */
};

/* For an alloc callback: room at the end of b, or scratch space to drop into. */
void hbuf_alloc(struct hbuf *b, uv_buf_t *room);
/* For a read callback (n > 0 bytes read into room): the bytes kept in b. */
size_t hbuf_read(struct hbuf *b, const uv_buf_t *room, ssize_t n);
void hbuf_free(struct hbuf *b);

struct hwrite {
	uv_write_t req;                   /* req.data is the caller's */
	char *copy;                       /* set while the write is under way */
	uv_write_cb done;
};

/* Writes the n pieces to s as one copy; done(&w->req, status) when it completes
 * (UV_ECANCELED: s was closed first). 0, or a uv error (no callback then). */
int hwrite_start(struct hwrite *w, uv_stream_t *s, const uv_buf_t *parts, unsigned n, uv_write_cb done);

#endif
