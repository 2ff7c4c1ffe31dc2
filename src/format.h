/* format.h — an event as conntrack -E text or as JSON, from struct ctev; names. */
#ifndef CTLUA_FORMAT_H
#define CTLUA_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "decode.h"
#include "names.h"

/* An output buffer that grows and is reused: no allocation once it is large enough. */
struct obuf { char *b; size_t n, cap; int oom; };
int ob_grow(struct obuf *o, size_t more);
static inline int ob_need(struct obuf *o, size_t more)
{
	return o->n + more <= o->cap || ob_grow(o, more);
}
static inline void ob_put(struct obuf *o, const char *s, size_t n)
{
	if (ob_need(o, n)) {
		for (size_t i = 0; i < n; i++)
			o->b[o->n + i] = s[i];
		o->n += n;
	}
}
#define ob_lit(o, s) ob_put((o), (s), sizeof(s) - 1)
void ob_u64(struct obuf *o, uint64_t v);
void ob_i64(struct obuf *o, int64_t v);
void ob_num(struct obuf *o, double v);            /* as lua-cjson with precision 14 */
void ob_jstr(struct obuf *o, const char *s, size_t n);   /* a JSON string */

/* Options of the text line: conntrack's -o words (format_text says what each does). */
enum {
	FMT_TIMESTAMP = 1, FMT_ID = 2, FMT_EXTENDED = 4, FMT_KTIMESTAMP = 8, FMT_LABELS = 16,
	FMT_USERSPACE = 32, FMT_XML = 64, FMT_SAVE = 128,
};
#define FMT_WORDS 8
extern const struct fmt_word { const char *name; int bit; } fmt_words[FMT_WORDS];
void format_text(struct obuf *o, const struct ctev *ev, int opts);
/* The lines conntrack -o xml prints before the first event and at its end. */
#define XML_HEAD(exp) ((exp) ? "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<expect>" \
			     : "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>")
#define XML_TAIL(exp) ((exp) ? "</expect>" : "</conntrack>")
void format_json(struct obuf *o, const struct ctev *ev);

/* Text of an address: IPv4 as a dotted quad, IPv6 as inet_ntop writes it. */
size_t addr_text(int family, const uint8_t *a, char *out);

/* Names, as libnetfilter_conntrack prints them. */
const char *proto_name(unsigned p);               /* NULL when it has none */
int proto_number(const char *name, int nocase);   /* -1 when it is none of them */
const char *state_name(const struct ctev *ev);    /* NULL when no state was sent */
/* The tables behind them, for core.fields(): Lua copies none of them. */
#define NPROTOS 8
extern const struct proto_name { const char *name; unsigned num; } protos[NPROTOS];
#define TCP_STATES 10
extern const char *const tcp_states[TCP_STATES];
int state_number(unsigned proto, const char *name);   /* -1 when none */
#define STATUS_NAMES 16
extern const char *const status_bits[STATUS_NAMES];
#define EXPFLAG_NAMES 3
extern const char *const exp_flag_bits[EXPFLAG_NAMES];
/* The one order of keys in JSON objects, for every table (see json_rank). */
extern const char *const json_keys[];
extern const int json_nkeys;
int json_rank(const char *s, size_t n);           /* position in json_keys, or json_nkeys */

/* Fills in what the message does not say: kind, time, own port id, namespace. */
void ctev_finish(struct ctev *ev, int kind, double now, uint32_t own_portid, const char *netns);

/* Labels of a table formatted by ct.format: names given instead of a bitmap. */
#define CTEV_LABEL_NAMES 128
struct ctev_names { int n; const char *name[CTEV_LABEL_NAMES]; };
#endif
