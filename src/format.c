/* format.c — struct ctev as the line conntrack-tools 1.4.7 prints, or as JSON.
 *
 * One formatter for every event: a message straight from the socket (sinks),
 * an event table (ct.format, ct.json) once read back into a struct ctev. The
 * text is what `conntrack -E` / `-L` and their `expect` forms print, with any
 * of conntrack's -o words (FMT_*: extended, timestamp, id, ktimestamp, labels,
 * userspace, xml, save); a field present is printed exactly when the kernel
 * sent the attribute, which is what the library tests. JSON is what lua-cjson
 * (precision 14) made of the event table, keys in the one order of json_keys.
 * No printf and no inet_ntop on the default path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "base.h"
#include "format.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *const status_bits[STATUS_NAMES] = {
	"expected", "seen_reply", "assured", "confirmed", "src_nat", "dst_nat",
	"seq_adjust", "src_nat_done", "dst_nat_done", "dying", "fixed_timeout",
	"template", "nat_clash", "helper", "offload", "hw_offload",
};
const char *const exp_flag_bits[EXPFLAG_NAMES] = { "permanent", "inactive", "userspace" };

/* conntrack's -o words in its own order: it takes the first a given prefix matches. */
const struct fmt_word fmt_words[FMT_WORDS] = {
	{ "xml", FMT_XML }, { "extended", FMT_EXTENDED }, { "timestamp", FMT_TIMESTAMP },
	{ "id", FMT_ID }, { "ktimestamp", FMT_KTIMESTAMP }, { "labels", FMT_LABELS },
	{ "userspace", FMT_USERSPACE }, { "save", FMT_SAVE },
};

/* Every key an event table has, in the order JSON objects list them (other keys
 * follow, sorted). Tuples, sets and the top level share it. */
const char *const json_keys[] = {
	"event", "family", "proto", "protonum", "state", "timeout",
	"orig", "reply", "tuple", "mask", "master", "nat", "dir",
	"src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes", "zone",
	"status", "flags", "mark", "use", "secmark", "secctx", "helper", "class", "fn",
	"labels", "start", "stop", "time", "portid", "progname", "self", "resync", "netns",
	"expected", "seen_reply", "assured", "confirmed", "src_nat", "dst_nat",
	"seq_adjust", "src_nat_done", "dst_nat_done", "dying", "fixed_timeout",
	"template", "nat_clash", /* "helper" above */ "offload", "hw_offload",
	"permanent", "inactive", "userspace",
};
const int json_nkeys = (int)NELEM(json_keys);

int json_rank(const char *s, size_t n)
{
	for (int i = 0; i < json_nkeys; i++)
		if (strlen(json_keys[i]) == n && memcmp(json_keys[i], s, n) == 0)
			return i;
	return json_nkeys;
}

/* The protocols conntrack prints by name: the one list (formats, tables, filters). */
const struct proto_name protos[NPROTOS] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "icmp", IPPROTO_ICMP },
	{ "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP }, { "dccp", IPPROTO_DCCP },
	{ "gre", IPPROTO_GRE }, { "udplite", IPPROTO_UDPLITE },
};

const char *proto_name(unsigned p)
{
	for (unsigned i = 0; i < NPROTOS; i++)
		if (protos[i].num == p)
			return protos[i].name;
	return NULL;
}

int proto_number(const char *name, int nocase)
{
	for (unsigned i = 0; i < NPROTOS; i++)
		if ((nocase ? strcasecmp : strcmp)(name, protos[i].name) == 0)
			return (int)protos[i].num;
	return -1;
}

const char *const tcp_states[TCP_STATES] = {
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
	"LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};
static const char *const sctp_states[] = {
	"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
	"SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED",
};
static const char *const dccp_states[] = {
	"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING",
	"TIMEWAIT", "IGNORE", "INVALID",
};

int state_number(unsigned proto, const char *name)
{
	const char *const *names = proto == IPPROTO_TCP ? tcp_states : proto == IPPROTO_SCTP ? sctp_states :
				   proto == IPPROTO_DCCP ? dccp_states : NULL;
	for (int i = 0; names && i < 10; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *state_name(const struct ctev *ev)
{
	if (ev->has & CH_TCP)
		return ev->tcp_state < NELEM(tcp_states) ? tcp_states[ev->tcp_state] : "UNKNOWN";
	if (ev->has & CH_SCTP)
		return ev->sctp_state < NELEM(sctp_states) ? sctp_states[ev->sctp_state] : "UNKNOWN";
	if (ev->has & CH_DCCP)
		return ev->dccp_state < NELEM(dccp_states) ? dccp_states[ev->dccp_state] : "UNKNOWN";
	return NULL;
}

void ctev_finish(struct ctev *ev, int kind, double now, uint32_t own_portid, const char *netns)
{
	ev->kind = kind;
	if (kind != EV_ENTRY) {
		ev->time = now, ev->has |= CH_TIME;
		if (ev->portid)
			ev->has |= CH_PORTID;
		ev->self = ev->portid && ev->portid == own_portid;
	} else {
		ev->self = 0;
	}
	ev->netns = netns;
	ev->start_s = (double)ev->start / 1e9;
	ev->stop_s = (double)ev->stop / 1e9;
	ev->protoname = NULL, ev->statetext = NULL, ev->progname = NULL, ev->labelnames = NULL;
}

/* Output buffer --------------------------------------------------------------- */

int ob_grow(struct obuf *o, size_t more)
{
	if (o->oom)
		return 0;
	size_t cap = o->cap ? o->cap : 4096;
	while (cap < o->n + more)
		cap *= 2;
	char *b = realloc(o->b, cap);
	if (!b) {
		o->oom = 1;
		return 0;
	}
	o->b = b, o->cap = cap;
	return 1;
}

void ob_u64(struct obuf *o, uint64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	ob_put(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

void ob_i64(struct obuf *o, int64_t v)
{
	if (v < 0) {
		ob_lit(o, "-");
		ob_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		ob_u64(o, (uint64_t)v);
	}
}

static void ob_hex(struct obuf *o, unsigned v)
{
	char tmp[8], *p = tmp + sizeof(tmp);
	do
		*--p = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	ob_put(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* lua-cjson's "%.14g", and null for what JSON cannot say. Integral values of up
 * to 14 digits are written as digits, which is what %.14g gives for them. The
 * last float written is remembered: within a batch every event has one time. */
void ob_num(struct obuf *o, double v)
{
	static double last = -1;
	static char lastbuf[32];
	static size_t lastlen;
	if (isnan(v) || isinf(v)) {
		ob_lit(o, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e14 && !(v == 0 && signbit(v))) {
		ob_i64(o, (int64_t)v);
		return;
	}
	if (v != last || lastlen == 0) {
		int n = snprintf(lastbuf, sizeof(lastbuf), "%.14g", v);
		last = v, lastlen = n > 0 ? (size_t)n : 0;
	}
	ob_put(o, lastbuf, lastlen);
}

/* lua-cjson's escapes: control characters, '"', '\\', '/' and DEL. */
void ob_jstr(struct obuf *o, const char *s, size_t n)
{
	if (!ob_need(o, n + 2))
		return;
	o->b[o->n++] = '"';
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n) {
			unsigned char c = (unsigned char)s[j];
			if (c < 32 || c == '"' || c == '\\' || c == '/' || c == 127)
				break;
			j++;
		}
		ob_put(o, s + i, j - i);
		if (j == n)
			break;
		unsigned char c = (unsigned char)s[j];
		char e[7] = { '\\', 0 };
		size_t el = 2;
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '/': e[1] = '/'; break;
		case '\b': e[1] = 'b'; break;
		case '\t': e[1] = 't'; break;
		case '\n': e[1] = 'n'; break;
		case '\f': e[1] = 'f'; break;
		case '\r': e[1] = 'r'; break;
		default:
			e[1] = 'u', e[2] = '0', e[3] = '0';
			e[4] = "0123456789abcdef"[c >> 4], e[5] = "0123456789abcdef"[c & 15];
			el = 6;
		}
		ob_put(o, e, el);
		i = j + 1;
	}
	ob_lit(o, "\"");
}

#define ob_str(o, s) ob_put((o), (s), strlen(s))

/* Addresses --------------------------------------------------------------------- */

static size_t ipv4_text(const uint8_t *b, char *out)
{
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100), v %= 100, *p++ = (char)('0' + v / 10);
		else if (v >= 10)
			*p++ = (char)('0' + v / 10);
		*p++ = (char)('0' + v % 10);
		if (i < 3)
			*p++ = '.';
	}
	return (size_t)(p - out);
}

/* As glibc's inet_ntop: the longest run of two or more zero words (the first of
 * equal ones) becomes "::"; ::a.b.c.d and ::ffff:a.b.c.d keep the dotted quad. */
static size_t ipv6_text(const uint8_t *a, char *out)
{
	unsigned w[8];
	for (int i = 0; i < 8; i++)
		w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	int best = -1, bestlen = 0;
	for (int i = 0; i < 8;) {
		if (w[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !w[j])
			j++;
		if (j - i > bestlen)
			best = i, bestlen = j - i;
		i = j;
	}
	if (bestlen < 2)
		best = -1;
	char *p = out;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + bestlen) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i)
			*p++ = ':';
		if (i == 6 && best == 0 && (bestlen == 6 || (bestlen == 5 && w[5] == 0xffff))) {
			p += ipv4_text(a + 12, p);
			break;
		}
		unsigned v = w[i];
		int started = 0;
		for (int sh = 12; sh >= 0; sh -= 4) {
			unsigned d = (v >> sh) & 15;
			if (d || started || sh == 0)
				*p++ = "0123456789abcdef"[d], started = 1;
		}
	}
	if (best >= 0 && best + bestlen == 8)
		*p++ = ':';
	return (size_t)(p - out);
}

size_t addr_text(int family, const uint8_t *a, char *out)
{
	return family == AF_INET6 ? ipv6_text(a, out) : ipv4_text(a, out);
}

static void ob_addr(struct obuf *o, const struct ctev *ev, const struct cttuple *t, int dst)
{
	const char *text = dst ? t->dsttext : t->srctext;
	if (text) {
		ob_put(o, text, dst ? t->dstlen : t->srclen);
		return;
	}
	if (!ob_need(o, 48))
		return;
	o->n += addr_text(ev->family, dst ? t->dst : t->src, o->b + o->n);
}

/* Text ------------------------------------------------------------------------------ */

static int ports_proto(unsigned pn)
{
	return pn == 6 || pn == 17 || pn == 136 || pn == 132 || pn == 33;
}

/* " src=A dst=B" and the layer-4 part: ports, GRE keys or ICMP type/code/id. */
static void text_tuple(struct obuf *o, const struct ctev *ev, const struct cttuple *t,
		       unsigned pn, const char *src, const char *dst)
{
	ob_lit(o, " ");
	ob_str(o, src);
	ob_lit(o, "=");
	if (t && (t->has & TH_SRC))
		ob_addr(o, ev, t, 0);
	ob_lit(o, " ");
	ob_str(o, dst);
	ob_lit(o, "=");
	if (t && (t->has & TH_DST))
		ob_addr(o, ev, t, 1);
	unsigned sp = t && (t->has & TH_SPORT) ? t->sport : 0;
	unsigned dp = t && (t->has & TH_DPORT) ? t->dport : 0;
	if (ports_proto(pn)) {
		ob_lit(o, " sport=");
		ob_u64(o, sp);
		ob_lit(o, " dport=");
		ob_u64(o, dp);
	} else if (pn == 47) {
		ob_lit(o, " srckey=0x");
		ob_hex(o, sp);
		ob_lit(o, " dstkey=0x");
		ob_hex(o, dp);
	} else if (pn == 1 || pn == 58) {
		ob_lit(o, " type=");
		ob_u64(o, t && (t->has & TH_TYPE) ? t->type : 0);
		ob_lit(o, " code=");
		ob_u64(o, t && (t->has & TH_CODE) ? t->code : 0);
		ob_lit(o, " id=");
		ob_u64(o, t && (t->has & TH_ICMPID) ? t->icmpid : 0);
	}
}

static void text_counters(struct obuf *o, const struct cttuple *t)
{
	if ((t->has & (TH_PACKETS | TH_BYTES)) == (TH_PACKETS | TH_BYTES)) {
		ob_lit(o, " packets=");
		ob_i64(o, (int64_t)t->packets);
		ob_lit(o, " bytes=");
		ob_i64(o, (int64_t)t->bytes);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int digits_value(const char *s)
{
	if (!*s || strlen(s) > 4)
		return -1;
	int v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static int label_bit(const struct ctev *ev, unsigned bit)
{
	if (bit / 8 >= ev->labels_len)
		return 0;
	uint32_t w = 0;
	size_t off = (bit / 32) * 4, n = ev->labels_len - off < 4 ? ev->labels_len - off : 4;
	memcpy(&w, ev->labels + off, n);
	return (w >> (bit % 32)) & 1;
}

#define LABEL_BITS 128                 /* what the kernel keeps (NF_CT_LABELS_MAX_SIZE) */

/* The labels part of -o labels: "labels=a,b" in bit order, names from
 * connlabel.conf only; "labels" alone when no set bit has a name; nothing
 * without a connlabel.conf. A table's names are put back in bit order; names the
 * file does not know (a table made by hand) follow, sorted. The callback gets
 * each name (sep: what goes before it). */
static void each_label(const struct ctev *ev, void (*put)(struct obuf *, const char *, int), struct obuf *o)
{
	const char *extra[CTEV_LABEL_NAMES];
	int nextra = 0, n = 0;
	if (ev->labelnames) {
		uint8_t set[LABEL_BITS / 8] = { 0 };
		for (int i = 0; i < ev->labelnames->n; i++) {
			const char *name = ev->labelnames->name[i];
			int bit = digits_value(name);
			for (unsigned b = 0; bit < 0 && b < LABEL_BITS; b++) {
				const char *ln = label_name(b);
				if (ln && strcmp(ln, name) == 0)
					bit = (int)b;
			}
			if (bit >= 0 && bit < LABEL_BITS)
				set[bit / 8] |= (uint8_t)(1u << (bit % 8));
			else if (bit < 0)
				extra[nextra++] = name;
		}
		for (unsigned b = 0; b < LABEL_BITS; b++) {
			const char *name;
			if ((set[b / 8] >> (b % 8) & 1) && (name = label_name(b)) && *name)
				put(o, name, n++);
		}
		qsort(extra, (size_t)nextra, sizeof(extra[0]), cmp_str);
		for (int i = 0; i < nextra; i++)
			put(o, extra[i], n++);
	} else {
		unsigned max = (unsigned)((ev->labels_len + 3) / 4) * 32;
		for (unsigned bit = 0; bit < max; bit++) {
			const char *name;
			if (label_bit(ev, bit) && (name = label_name(bit)) && *name)
				put(o, name, n++);
		}
	}
}

/* Whether the labels part is printed at all: a connlabel.conf was read (or a
 * table names labels the file would not know). */
static int labels_shown(const struct ctev *ev)
{
	if (!(ev->has & CH_LABELS))
		return 0;
	if (labels_mapped())
		return 1;
	if (ev->labelnames)
		for (int i = 0; i < ev->labelnames->n; i++)
			if (digits_value(ev->labelnames->name[i]) < 0)
				return 1;
	return 0;
}

static void put_text_label(struct obuf *o, const char *name, int i)
{
	ob_str(o, i ? "," : "=");
	ob_str(o, name);
}

static void text_labels(struct obuf *o, const struct ctev *ev)
{
	if (!labels_shown(ev))
		return;
	ob_lit(o, " labels");
	each_label(ev, put_text_label, o);
}

static const char *const prefix[EV_KINDS] = {
	"    [NEW]", " [UPDATE]", "[DESTROY]", "    [NEW]", "[DESTROY]",
};

/* The [USERSPACE] suffix of events a process caused. */
static void text_userspace(struct obuf *o, const struct ctev *ev)
{
	if (!(ev->has & CH_PORTID))
		return;
	ob_lit(o, " [USERSPACE] portid=");
	ob_u64(o, ev->portid);
	const char *pn = ev->has & CH_PROGNAME ? ev->progname : progname_of(ev->portid);
	if (pn) {
		ob_lit(o, " progname=");
		if (ev->has & CH_PROGNAME)
			ob_put(o, pn, ev->progname_len);
		else
			ob_str(o, pn);
	}
}

static const char *l3_name(unsigned family)
{
	return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "unknown";
}

/* ctime(3) of whole seconds, without its newline (local time, as conntrack). */
static void ob_ctime(struct obuf *o, double secs)
{
	static const char days[] = "SunMonTueWedThuFriSat", months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t t = (time_t)floor(secs);
	struct tm tm;
	char b[64];
	if (!localtime_r(&t, &tm))
		return;
	int n = snprintf(b, sizeof(b), "%.3s %.3s%3d %.2d:%.2d:%.2d %d", days + 3 * tm.tm_wday,
			 months + 3 * tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, 1900 + tm.tm_year);
	if (n > 0)
		ob_put(o, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

static void text_conntrack(struct obuf *o, const struct ctev *ev, int opts)
{
	static const struct cttuple none;
	/* An expectation without its tuples prints as the conntrack form would. */
	const struct cttuple *orig = ev->exp ? &none : &ev->t[T_ORIG];
	const struct cttuple *reply = ev->exp ? &none : &ev->t[T_REPLY];
	unsigned pn = ev->exp ? 0 : orig->has & TH_PROTONUM ? orig->protonum : 0;
	const char *name = ev->protoname;
	if (!name)
		name = (!ev->exp && (orig->has & TH_PROTONUM) && proto_name(pn)) ? proto_name(pn) : "unknown";
	if (opts & FMT_EXTENDED) {
		/* "%-8s %u": the layer-3 name and number */
		const char *l3 = l3_name(ev->family);
		ob_lit(o, " ");
		ob_str(o, l3);
		ob_put(o, "        ", 8 - strlen(l3));
		ob_lit(o, " ");
		ob_u64(o, ev->family);
	}
	size_t nl = strlen(name);
	ob_lit(o, " ");
	ob_str(o, name);
	if (nl < 8)
		ob_put(o, "        ", 8 - nl);
	ob_lit(o, " ");
	ob_u64(o, pn);
	if (ev->has & CH_TIMEOUT) {
		ob_lit(o, " ");
		ob_u64(o, ev->timeout);
	}
	const char *st = ev->statetext ? ev->statetext : ev->exp ? NULL : state_name(ev);
	if (st) {
		ob_lit(o, " ");
		ob_str(o, st);
	}
	text_tuple(o, ev, orig, pn, "src", "dst");
	if (orig->has & TH_ZONE) {
		ob_lit(o, " zone-orig=");
		ob_u64(o, orig->zone);
	}
	text_counters(o, orig);
	int status = (ev->has & CH_STATUS) != 0;
	if (status && !(ev->status & (1u << 1)))
		ob_lit(o, " [UNREPLIED]");
	text_tuple(o, ev, reply, pn, "src", "dst");
	if (reply->has & TH_ZONE) {
		ob_lit(o, " zone-reply=");
		ob_u64(o, reply->zone);
	}
	text_counters(o, reply);
	/* One of them, as the library prints: an offloaded flow is assured too. */
	if (status) {
		if (ev->status & (1u << 15))
			ob_lit(o, " [HW_OFFLOAD]");
		else if (ev->status & (1u << 14))
			ob_lit(o, " [OFFLOAD]");
		else if (ev->status & (1u << 2))
			ob_lit(o, " [ASSURED]");
	}
	if (ev->has & CH_MARK) {
		ob_lit(o, " mark=");
		ob_u64(o, ev->mark);
	}
	if (ev->has & CH_SECMARK) {
		ob_lit(o, " secmark=");
		ob_u64(o, ev->secmark);
	}
	if (ev->has & CH_SECCTX) {
		ob_lit(o, " secctx=");
		ob_put(o, ev->secctx, ev->secctx_len);
	}
	if (ev->has & CH_ZONE) {
		ob_lit(o, " zone=");
		ob_u64(o, ev->zone);
	}
	if (ev->has & CH_START) {
		/* The library computes whole seconds on both ends; an entry still alive
		 * counts up to now. */
		double stop = ev->has & CH_STOP ? ev->stop_s : ev->has & CH_TIME ? ev->time : (double)time(NULL);
		ob_lit(o, " delta-time=");
		ob_i64(o, (int64_t)floor(stop) - (int64_t)floor(ev->start_s));
	}
	if (opts & FMT_KTIMESTAMP) {
		if (ev->has & CH_START) {
			ob_lit(o, " [start=");
			ob_ctime(o, ev->start_s);
			ob_lit(o, "]");
		}
		if (ev->has & CH_STOP) {
			ob_lit(o, " [stop=");
			ob_ctime(o, ev->stop_s);
			ob_lit(o, "]");
		}
	}
	if (ev->has & CH_HELPER) {
		ob_lit(o, " helper=");
		ob_put(o, ev->helper, ev->helper_len);
	}
	if (ev->has & CH_USE) {
		ob_lit(o, " use=");
		ob_u64(o, ev->use);
	}
	if ((opts & FMT_ID) && (ev->has & CH_ID)) {
		ob_lit(o, " id=");
		ob_u64(o, ev->id);
	}
	if (opts & FMT_LABELS)
		text_labels(o, ev);
}

static void text_expect(struct obuf *o, const struct ctev *ev)
{
	const struct cttuple *tu = &ev->t[T_EXPECTED], *ma = &ev->t[T_MASK], *me = &ev->t[T_MASTER];
	int have_tu = ev->has & (CH_TUPLE0 << T_EXPECTED), have_ma = ev->has & (CH_TUPLE0 << T_MASK);
	int have_me = ev->has & (CH_TUPLE0 << T_MASTER);
	unsigned pn = have_tu && (tu->has & TH_PROTONUM) ? tu->protonum : 0;
	if (ev->has & CH_TIMEOUT) {
		ob_lit(o, " ");
		ob_u64(o, ev->timeout);
	}
	ob_lit(o, " proto=");
	ob_u64(o, pn);
	text_tuple(o, ev, have_tu ? tu : NULL, pn, "src", "dst");
	text_tuple(o, ev, have_ma ? ma : NULL, pn, "mask-src", "mask-dst");
	text_tuple(o, ev, have_me ? me : NULL, have_me && (me->has & TH_PROTONUM) ? me->protonum : pn,
		   "master-src", "master-dst");
	if (ev->has & CH_ZONE) {
		ob_lit(o, " zone=");
		ob_u64(o, ev->zone);
	}
	if (ev->flags & 7) {
		static const char *const up[] = { "PERMANENT", "INACTIVE", "USERSPACE" };
		ob_lit(o, " ");
		int first = 1;
		for (int i = 0; i < 3; i++) {
			if (ev->flags & (1u << i)) {
				if (!first)
					ob_lit(o, ",");
				ob_str(o, up[i]);
				first = 0;
			}
		}
	}
	if (ev->has & CH_CLASS) {
		ob_lit(o, " class=");
		ob_u64(o, ev->class_);
	}
	if (ev->has & CH_HELPER) {
		ob_lit(o, " helper=");
		ob_put(o, ev->helper, ev->helper_len);
	}
}

/* "[sec.usec]\t": conntrack events print "%-.8ld.%-.6ld" (zero-padded),
 * expectations "%-8ld.%-6ld" (left-aligned, space-padded: usec 5123 is
 * "5123  ", which still means 0.005123 s). */
static void text_time(struct obuf *o, const struct ctev *ev)
{
	double t = ev->has & CH_TIME ? ev->time : 0;
	double sec = floor(t);
	double usec = floor((t - sec) * 1e6 + 0.5);
	if (usec > 999999)
		usec = 999999;
	char s[24], u[8];
	size_t sl = 0, ul = 0;
	int64_t sv = (int64_t)sec;
	int v = (int)usec;
	if (sv < 0)
		sv = 0;
	do
		s[sl++] = (char)('0' + sv % 10);
	while (sv /= 10);
	do
		u[ul++] = (char)('0' + v % 10);
	while (v /= 10);
	ob_lit(o, "[");
	if (!ev->exp && sl < 8)
		ob_put(o, "00000000", 8 - sl);
	for (size_t i = sl; i > 0; i--)
		ob_put(o, &s[i - 1], 1);
	if (ev->exp && sl < 8)
		ob_put(o, "        ", 8 - sl);
	ob_lit(o, ".");
	if (!ev->exp && ul < 6)
		ob_put(o, "000000", 6 - ul);
	for (size_t i = ul; i > 0; i--)
		ob_put(o, &u[i - 1], 1);
	if (ev->exp && ul < 6)
		ob_put(o, "      ", 6 - ul);
	ob_lit(o, "]\t");
}

/* -o save ------------------------------------------------------------------------ */

static int same_addr(const struct ctev *ev, const struct cttuple *a, int adst,
		     const struct cttuple *b, int bdst)
{
	const char *at = adst ? a->dsttext : a->srctext, *bt = bdst ? b->dsttext : b->srctext;
	if (at || bt) {
		size_t al = adst ? a->dstlen : a->srclen, bl = bdst ? b->dstlen : b->srclen;
		return at && bt && al == bl && memcmp(at, bt, al) == 0;
	}
	return memcmp(adst ? a->dst : a->src, bdst ? b->dst : b->src, ev->family == AF_INET6 ? 16 : 4) == 0;
}

static void save_num(struct obuf *o, const char *opt, uint64_t v)
{
	ob_lit(o, " ");
	ob_str(o, opt);
	ob_lit(o, " ");
	ob_u64(o, v);
}

static void save_str(struct obuf *o, const char *opt, const char *v)
{
	ob_lit(o, " ");
	ob_str(o, opt);
	ob_lit(o, " ");
	ob_str(o, v ? v : "(null)");      /* glibc's printf of a name the tool has not */
}

/* The options conntrack -I takes to make this entry again: what conntrack -L -o
 * save (and -E -o save) prints. Status names only for the bits the tool can set;
 * mark and labels are not part of it in 1.4.7. */
static void text_save(struct obuf *o, const struct ctev *ev)
{
	static const char *const cmd[EV_KINDS] = { "-A", "-U", "-D", "-A", "-D" };
	const struct cttuple *orig = &ev->t[T_ORIG], *reply = &ev->t[T_REPLY];
	unsigned pn = orig->has & TH_PROTONUM ? orig->protonum : 0;
	ob_str(o, ev->kind >= 0 && ev->kind < EV_KINDS ? cmd[ev->kind] : "-A");
	if (ev->has & CH_TIMEOUT)
		save_num(o, "-t", ev->timeout);
	if (ev->has & CH_STATUS) {
		static const struct { unsigned bit; const char *name; } st[] = {
			{ 0, "EXPECTED" }, { 1, "SEEN_REPLY" }, { 2, "ASSURED" }, { 10, "FIXED_TIMEOUT" },
		};
		ob_lit(o, " -u ");
		int n = 0;
		for (unsigned i = 0; i < NELEM(st); i++) {
			if (ev->status & (1u << st[i].bit)) {
				if (n++)
					ob_lit(o, ",");
				ob_str(o, st[i].name);
			}
		}
		if (!n)
			ob_lit(o, "UNSET");
	}
	if (ev->has & CH_SECMARK)
		save_num(o, "-c", ev->secmark);
	if (ev->has & CH_ZONE)
		save_num(o, "-w", ev->zone);
	if (orig->has & TH_ZONE)
		save_num(o, "--orig-zone", orig->zone);
	if (reply->has & TH_ZONE)
		save_num(o, "--reply-zone", reply->zone);
	if (ev->family != AF_INET && ev->family != AF_INET6)
		return;
	/* A reply address that is not the original one inverted is NAT: -g / -n,
	 * unless the status says that NAT was not done. */
	int st = (ev->has & CH_STATUS) != 0;
	int dnat = !(st && !(ev->status & (1u << 8))) && !same_addr(ev, reply, 0, orig, 1);
	int snat = !(st && !(ev->status & (1u << 7))) && !same_addr(ev, reply, 1, orig, 0);
	struct { const struct cttuple *t; int dst; const char *opt; } a[] = {
		{ orig, 0, "-s" }, { orig, 1, "-d" }, { reply, 0, dnat ? "-g" : "-r" }, { reply, 1, snat ? "-n" : "-q" },
	};
	for (unsigned i = 0; i < NELEM(a); i++) {
		if (!(a[i].t->has & (a[i].dst ? TH_DST : TH_SRC)))
			continue;
		ob_lit(o, " ");
		ob_str(o, a[i].opt);
		ob_lit(o, " ");
		ob_addr(o, ev, a[i].t, a[i].dst);
	}
	const char *name = proto_name(pn);
	if (!name) {
		save_num(o, "-p", pn);
		return;
	}
	save_str(o, "-p", name);
	if (ports_proto(pn) || pn == IPPROTO_GRE) {
		int gre = pn == IPPROTO_GRE;
		if (orig->has & TH_SPORT)
			save_num(o, gre ? "--srckey" : "--sport", orig->sport);
		if (orig->has & TH_DPORT)
			save_num(o, gre ? "--dstkey" : "--dport", orig->dport);
		if (reply->has & TH_SPORT)
			save_num(o, gre ? "--reply-key-src" : "--reply-port-src", reply->sport);
		if (reply->has & TH_DPORT)
			save_num(o, gre ? "--reply-key-dst" : "--reply-port-dst", reply->dport);
	} else if (pn == IPPROTO_ICMP || pn == IPPROTO_ICMPV6) {
		int v6 = pn == IPPROTO_ICMPV6;
		if (orig->has & TH_TYPE)
			save_num(o, v6 ? "--icmpv6-type" : "--icmp-type", orig->type);
		if (orig->has & TH_CODE)
			save_num(o, v6 ? "--icmpv6-code" : "--icmp-code", orig->code);
		if (orig->has & TH_ICMPID)
			save_num(o, v6 ? "--icmpv6-id" : "--icmp-id", orig->icmpid);
	}
	if (pn == IPPROTO_TCP && (ev->has & CH_TCP))
		save_str(o, "--state", ev->tcp_state < TCP_STATES ? tcp_states[ev->tcp_state] : NULL);
	if (pn == IPPROTO_SCTP) {
		/* conntrack's own list of SCTP states stops at SHUTDOWN_ACK_SENT */
		if (ev->has & CH_SCTP)
			save_str(o, "--state", ev->sctp_state < 8 ? sctp_states[ev->sctp_state] : NULL);
		if (ev->has & CH_VTAG0)
			save_num(o, "--orig-vtag", ev->vtag[0]);
		if (ev->has & CH_VTAG1)
			save_num(o, "--reply-vtag", ev->vtag[1]);
	}
	if (pn == IPPROTO_DCCP) {
		static const char *const roles[] = { "client", "server" };
		if (ev->has & CH_DCCP)
			save_str(o, "--state", ev->dccp_state < NELEM(dccp_states) ? dccp_states[ev->dccp_state] : NULL);
		if (ev->has & CH_DCCPROLE)
			save_str(o, "--role", ev->dccp_role < 2 ? roles[ev->dccp_role] : NULL);
	}
}

/* -o xml ------------------------------------------------------------------------- */

static void x_num(struct obuf *o, const char *tag, uint64_t v)
{
	ob_lit(o, "<");
	ob_str(o, tag);
	ob_lit(o, ">");
	ob_u64(o, v);
	ob_lit(o, "</");
	ob_str(o, tag);
	ob_lit(o, ">");
}

static void x_str(struct obuf *o, const char *tag, const char *v, size_t n)
{
	ob_lit(o, "<");
	ob_str(o, tag);
	ob_lit(o, ">");
	ob_put(o, v, n);
	ob_lit(o, "</");
	ob_str(o, tag);
	ob_lit(o, ">");
}

static void x_addrs(struct obuf *o, const struct ctev *ev, const struct cttuple *t)
{
	static const struct cttuple z;
	for (int dst = 0; dst < 2; dst++) {
		ob_str(o, dst ? "<dst>" : "<src>");
		/* an address not sent is the library's zeroes */
		ob_addr(o, ev, t && (t->has & (dst ? TH_DST : TH_SRC)) ? t : &z, dst);
		ob_str(o, dst ? "</dst>" : "</src>");
	}
}

/* What __snprintf_proto_xml prints: ports or GRE keys, nothing for others. */
static void x_ports(struct obuf *o, const struct cttuple *t, unsigned pn)
{
	unsigned sp = t && (t->has & TH_SPORT) ? t->sport : 0;
	unsigned dp = t && (t->has & TH_DPORT) ? t->dport : 0;
	if (ports_proto(pn)) {
		x_num(o, "sport", sp);
		x_num(o, "dport", dp);
	} else if (pn == IPPROTO_GRE) {
		ob_lit(o, "<srckey>0x");
		ob_hex(o, sp);
		ob_lit(o, "</srckey><dstkey>0x");
		ob_hex(o, dp);
		ob_lit(o, "</dstkey>");
	}
}

static const char *x_proto(unsigned pn)
{
	const char *n = proto_name(pn);
	return n ? n : "unknown";
}

static void x_when(struct obuf *o, const struct ctev *ev)
{
	time_t t = (time_t)floor(ev->has & CH_TIME ? ev->time : 0);
	struct tm tm;
	char b[160];
	if (!localtime_r(&t, &tm))
		return;
	int n = snprintf(b, sizeof(b), "<when><hour>%d</hour><min>%02d</min><sec>%02d</sec><wday>%d</wday>"
			 "<day>%d</day><month>%d</month><year>%d</year></when>", tm.tm_hour, tm.tm_min,
			 tm.tm_sec, tm.tm_wday + 1, tm.tm_mday, tm.tm_mon + 1, 1900 + tm.tm_year);
	if (n > 0)
		ob_put(o, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

static void x_open_flow(struct obuf *o, const struct ctev *ev, int exp)
{
	static const char *const ct[] = { "new", "update", "destroy" }, *const ex[] = { "new", "destroy" };
	int k = ev->kind;
	const char *type = exp ? (k == EV_EXP_NEW || k == EV_EXP_DESTROY ? ex[k - EV_EXP_NEW] : NULL)
			       : (k >= EV_NEW && k <= EV_DESTROY ? ct[k] : NULL);
	if (!type) {
		ob_lit(o, "<flow>");
		return;
	}
	ob_lit(o, "<flow type=\"");
	ob_str(o, type);
	ob_lit(o, "\">");
}

static void put_xml_label(struct obuf *o, const char *name, int i)
{
	(void)i;
	x_str(o, "label", name, strlen(name));
}

/* A tuple's <meta direction=...>; the counters are shown for both directions
 * when the original ones were sent (the library tests those for both). */
static void x_tuple(struct obuf *o, const struct ctev *ev, const struct cttuple *t, unsigned pn, int reply)
{
	ob_lit(o, "<meta direction=\"");
	ob_str(o, reply ? "reply" : "original");
	ob_lit(o, "\"><layer3 protonum=\"");
	ob_u64(o, ev->family);
	ob_lit(o, "\" protoname=\"");
	ob_str(o, l3_name(ev->family));
	ob_lit(o, "\">");
	x_addrs(o, ev, t);
	ob_lit(o, "</layer3><layer4 protonum=\"");
	ob_u64(o, pn);
	ob_lit(o, "\" protoname=\"");
	ob_str(o, x_proto(pn));
	ob_lit(o, "\">");
	x_ports(o, t, pn);
	ob_lit(o, "</layer4>");
	if (t->has & TH_ZONE)
		x_num(o, "zone", t->zone);
	const struct cttuple *og = &ev->t[T_ORIG];
	if ((og->has & (TH_PACKETS | TH_BYTES)) == (TH_PACKETS | TH_BYTES)) {
		ob_lit(o, "<counters>");
		x_num(o, "packets", t->packets);
		x_num(o, "bytes", t->bytes);
		ob_lit(o, "</counters>");
	}
	ob_lit(o, "</meta>");
}

static uint64_t ns_of(double secs, uint64_t ns, int table)
{
	return table ? (uint64_t)llround(secs * 1e9) : ns;
}

static void xml_conntrack(struct obuf *o, const struct ctev *ev, int opts)
{
	const struct cttuple *orig = &ev->t[T_ORIG], *reply = &ev->t[T_REPLY];
	unsigned pn = orig->has & TH_PROTONUM ? orig->protonum : 0;
	unsigned rpn = reply->has & TH_PROTONUM ? reply->protonum : pn;
	int table = ev->protoname != NULL;       /* read from a table: times in seconds */
	x_open_flow(o, ev, 0);
	x_tuple(o, ev, orig, pn, 0);
	x_tuple(o, ev, reply, rpn, 1);
	uint32_t indep = CH_TCP | CH_SCTP | CH_DCCP | CH_TIMEOUT | CH_MARK | CH_SECMARK | CH_ZONE |
			 CH_USE | CH_STATUS | CH_ID | CH_LABELS | CH_START | CH_STOP;
	if (ev->has & indep)
		ob_lit(o, "<meta direction=\"independent\">");
	/* The library names every protocol's state from the TCP list. */
	unsigned state = ev->has & CH_TCP ? ev->tcp_state : ev->has & CH_SCTP ? ev->sctp_state :
			 ev->has & CH_DCCP ? ev->dccp_state : 0;
	if (ev->has & (CH_TCP | CH_SCTP | CH_DCCP)) {
		const char *sn = tcp_states[state < TCP_STATES ? state : 0];
		x_str(o, "state", sn, strlen(sn));
	}
	if (ev->has & CH_TIMEOUT)
		x_num(o, "timeout", ev->timeout);
	if (ev->has & CH_MARK)
		x_num(o, "mark", ev->mark);
	if ((opts & FMT_LABELS) && labels_shown(ev)) {
		ob_lit(o, "<labels>");
		each_label(ev, put_xml_label, o);
		ob_lit(o, "</labels>");
	}
	if (ev->has & CH_SECMARK)
		x_num(o, "secmark", ev->secmark);
	if (ev->has & CH_SECCTX)
		x_str(o, "secctx", ev->secctx, ev->secctx_len);
	if (ev->has & CH_ZONE)
		x_num(o, "zone", ev->zone);
	if (ev->has & CH_USE)
		x_num(o, "use", ev->use);
	if (ev->has & CH_ID)
		x_num(o, "id", ev->id);
	if ((ev->has & CH_STATUS) && (ev->status & (1u << 2)))
		ob_lit(o, "<assured/>");
	if ((ev->has & CH_STATUS) && !(ev->status & (1u << 1)))
		ob_lit(o, "<unreplied/>");
	uint64_t start = ns_of(ev->start_s, ev->start, table), stop = ns_of(ev->stop_s, ev->stop, table);
	if ((opts & FMT_KTIMESTAMP) && (ev->has & (CH_START | CH_STOP))) {
		ob_lit(o, "<timestamp>");
		if (ev->has & CH_START)
			x_num(o, "start", start);
		if (ev->has & CH_STOP)
			x_num(o, "stop", stop);
		ob_lit(o, "</timestamp>");
	}
	if ((ev->has & CH_START) && (ev->has & CH_STOP)) {
		x_num(o, "deltatime", (stop - start) / 1000000000u);
	} else if (ev->has & CH_START) {
		/* up to now: the time the event came (the library's time(NULL)) */
		double now = ev->has & CH_TIME ? ev->time : (double)time(NULL);
		x_num(o, "deltatime", (uint64_t)((int64_t)floor(now) - (int64_t)(start / 1000000000u)));
	}
	if (ev->has & indep)
		ob_lit(o, "</meta>");
	if (opts & FMT_TIMESTAMP)
		x_when(o, ev);
	if (ev->has & CH_HELPER)
		x_str(o, "helper", ev->helper, ev->helper_len);
	ob_lit(o, "</flow>");
}

static void xml_expect(struct obuf *o, const struct ctev *ev, int opts)
{
	const struct cttuple *t[3] = { &ev->t[T_EXPECTED], &ev->t[T_MASK], &ev->t[T_MASTER] };
	static const char *const part[3] = { "expected", "mask", "master" };
	int have[3];
	for (int i = 0; i < 3; i++)
		have[i] = (ev->has & (CH_TUPLE0 << i)) != 0;
	unsigned pn = have[0] && (t[0]->has & TH_PROTONUM) ? t[0]->protonum : 0;
	x_open_flow(o, ev, 1);
	ob_lit(o, "<layer3 protonum=\"");
	ob_u64(o, ev->family);
	ob_lit(o, "\" protoname=\"");
	ob_str(o, l3_name(ev->family));
	ob_lit(o, "\">");
	for (int i = 0; i < 3; i++) {
		ob_lit(o, "<");
		ob_str(o, part[i]);
		ob_lit(o, ">");
		x_addrs(o, ev, have[i] ? t[i] : NULL);
		ob_lit(o, "</");
		ob_str(o, part[i]);
		ob_lit(o, ">");
	}
	ob_lit(o, "</layer3><layer4 protonum=\"");
	ob_u64(o, pn);
	ob_lit(o, "\" protoname=\"");
	ob_str(o, x_proto(pn));
	ob_lit(o, "\">");
	for (int i = 0; i < 3; i++) {
		unsigned tpn = i == 2 && have[2] && (t[2]->has & TH_PROTONUM) ? t[2]->protonum : pn;
		ob_lit(o, "<");
		ob_str(o, part[i]);
		ob_lit(o, ">");
		x_ports(o, have[i] ? t[i] : NULL, tpn);
		ob_lit(o, "</");
		ob_str(o, part[i]);
		ob_lit(o, ">");
	}
	ob_lit(o, "</layer4><meta>");
	if (ev->has & CH_HELPER)
		x_str(o, "helper-name", ev->helper, ev->helper_len);
	if (ev->has & CH_TIMEOUT)
		x_num(o, "timeout", ev->timeout);
	if (ev->has & CH_CLASS)
		x_num(o, "class", ev->class_);
	if (ev->has & CH_ZONE)
		x_num(o, "zone", ev->zone);
	if (opts & FMT_TIMESTAMP)
		x_when(o, ev);
	if (ev->flags & 1)
		ob_lit(o, "<permanent/>");
	if (ev->flags & 2)
		ob_lit(o, "<inactive/>");
	if (ev->flags & 4)
		ob_lit(o, "<userspace/>");
	ob_lit(o, "</meta></flow>");
}

/* The line, without its newline. opts: FMT_* (conntrack's -o words, as it
 * combines them): timestamp is a prefix of events and of expectation lines (not
 * of -L entries); xml and save replace the line; [USERSPACE] follows every
 * conntrack form; expectations know only timestamp and xml. */
void format_text(struct obuf *o, const struct ctev *ev, int opts)
{
	int expform = ev->exp && (ev->has & ((CH_TUPLE0 << T_EXPECTED) | (CH_TUPLE0 << T_MASK) |
					     (CH_TUPLE0 << T_MASTER)));
	int pre = ev->kind >= 0 && ev->kind < EV_KINDS;
	if (opts & FMT_XML) {
		if (expform)
			xml_expect(o, ev, opts);
		else
			xml_conntrack(o, ev, opts);
	} else if ((opts & FMT_SAVE) && !expform) {
		text_save(o, ev);
	} else {
		if ((opts & FMT_TIMESTAMP) && (pre || ev->exp))
			text_time(o, ev);
		/* Every part is written with its leading space; the prefix ends where that
		 * space goes, and a table entry has none: its line starts with the first part. */
		if (pre)
			ob_str(o, prefix[ev->kind]);
		size_t body = o->n;
		if (expform)
			text_expect(o, ev);
		else
			text_conntrack(o, ev, opts);
		if (!pre && !o->oom && o->n > body) {
			memmove(o->b + body, o->b + body + 1, o->n - body - 1);
			o->n--;
		}
	}
	if (!expform)
		text_userspace(o, ev);
}

/* JSON --------------------------------------------------------------------------- */

struct jw { struct obuf *o; int first; };

static void jkey(struct jw *w, const char *k, size_t n)
{
	if (!w->first)
		ob_lit(w->o, ",");
	w->first = 0;
	ob_jstr(w->o, k, n);
	ob_lit(w->o, ":");
}
#define JKEY(w, lit) jkey((w), lit, sizeof(lit) - 1)

static void jint(struct obuf *o, int64_t v)
{
	if (v > -100000000000000LL && v < 100000000000000LL)
		ob_i64(o, v);
	else
		ob_num(o, (double)v);
}

/* A set: {"name":true,...}, names in json_keys order, then the others sorted. */
struct setname { int rank; const char *s; size_t n; char buf[12]; };

/* A name without a table entry ("bit5", a label number) is in its own buf. */
static const char *sname(const struct setname *e)
{
	return e->s ? e->s : e->buf;
}

static int sless(const struct setname *a, const struct setname *b)
{
	if (a->rank != b->rank)
		return a->rank < b->rank;
	int c = memcmp(sname(a), sname(b), a->n < b->n ? a->n : b->n);
	return c < 0 || (c == 0 && a->n < b->n);
}

static void jset_emit(struct obuf *o, struct setname *v, int n)
{
	for (int i = 1; i < n; i++) {
		struct setname x = v[i];
		int j = i - 1;
		while (j >= 0 && sless(&x, &v[j])) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = x;
	}
	ob_lit(o, "{");
	for (int i = 0; i < n; i++) {
		if (i)
			ob_lit(o, ",");
		/* A name pointing into its own slot moved with the sort. */
		ob_jstr(o, sname(&v[i]), v[i].n);
		ob_lit(o, ":true");
	}
	ob_lit(o, "}");
}

static void jbits(struct obuf *o, uint32_t bits, const char *const *names, unsigned nnames, const int *ranks)
{
	struct setname v[32];
	int n = 0;
	for (unsigned i = 0; i < 32; i++) {
		if (!(bits & (1u << i)))
			continue;
		struct setname *e = &v[n++];
		if (i < nnames) {
			e->s = names[i], e->n = strlen(names[i]), e->rank = ranks[i];
		} else {
			e->s = NULL;
			e->n = (size_t)snprintf(e->buf, sizeof(e->buf), "bit%u", i);
			e->rank = json_nkeys;
		}
	}
	jset_emit(o, v, n);
}

static int status_rank[STATUS_NAMES], expflag_rank[EXPFLAG_NAMES], ranks_ready;

static void init_ranks(void)
{
	for (int i = 0; i < STATUS_NAMES; i++)
		status_rank[i] = json_rank(status_bits[i], strlen(status_bits[i]));
	for (int i = 0; i < EXPFLAG_NAMES; i++)
		expflag_rank[i] = json_rank(exp_flag_bits[i], strlen(exp_flag_bits[i]));
	ranks_ready = 1;
}

static void jlabels(struct obuf *o, const struct ctev *ev)
{
	static struct setname v[CTEV_LABEL_NAMES];
	int n = 0;
	unsigned max = (unsigned)((ev->labels_len + 3) / 4) * 32;
	for (unsigned bit = 0; bit < max && n < CTEV_LABEL_NAMES; bit++) {
		if (!label_bit(ev, bit))
			continue;
		struct setname *e = &v[n++];
		const char *name = label_name(bit);
		if (name && *name) {
			e->s = name, e->n = strlen(name);
		} else {
			e->s = NULL;
			e->n = (size_t)snprintf(e->buf, sizeof(e->buf), "%u", bit);
		}
		e->rank = json_rank(e->s ? e->s : e->buf, e->n);
	}
	jset_emit(o, v, n);
}

static void jaddr(struct jw *w, const struct ctev *ev, const struct cttuple *t, int dst)
{
	char a[48];
	size_t n = addr_text(ev->family, dst ? t->dst : t->src, a);
	ob_lit(w->o, "\"");
	ob_put(w->o, a, n);          /* addresses need no escapes */
	ob_lit(w->o, "\"");
}

/* A tuple object. icmp: whether type/code/id replace the ports; reply: the reply
 * direction's ICMP fields come as a whole (as the converter reads them). */
static void jtuple(struct obuf *o, const struct ctev *ev, const struct cttuple *t, int icmp,
		   int reply, int master)
{
	struct jw w = { o, 1 };
	ob_lit(o, "{");
	if (master && (t->has & TH_PROTONUM)) {
		const char *pn = proto_name(t->protonum);
		JKEY(&w, "proto");
		if (pn) {
			ob_jstr(o, pn, strlen(pn));
		} else {
			ob_lit(o, "\"");
			ob_u64(o, t->protonum);
			ob_lit(o, "\"");
		}
		JKEY(&w, "protonum");
		ob_u64(o, t->protonum);
	}
	if (t->has & TH_SRC) {
		JKEY(&w, "src");
		jaddr(&w, ev, t, 0);
	}
	if (t->has & TH_DST) {
		JKEY(&w, "dst");
		jaddr(&w, ev, t, 1);
	}
	if (!icmp) {
		if (t->has & TH_SPORT) {
			JKEY(&w, "sport");
			ob_u64(o, t->sport);
		}
		if (t->has & TH_DPORT) {
			JKEY(&w, "dport");
			ob_u64(o, t->dport);
		}
	} else if (reply) {
		if (t->has & TH_TYPE) {
			JKEY(&w, "type");
			ob_u64(o, t->type);
			JKEY(&w, "code");
			ob_u64(o, t->has & TH_CODE ? t->code : 0);
			JKEY(&w, "id");
			ob_u64(o, t->has & TH_ICMPID ? t->icmpid : 0);
		}
	} else {
		if (t->has & TH_TYPE) {
			JKEY(&w, "type");
			ob_u64(o, t->type);
		}
		if (t->has & TH_CODE) {
			JKEY(&w, "code");
			ob_u64(o, t->code);
		}
		if (t->has & TH_ICMPID) {
			JKEY(&w, "id");
			ob_u64(o, t->icmpid);
		}
	}
	if (t->has & TH_PACKETS) {
		JKEY(&w, "packets");
		jint(o, (int64_t)t->packets);
	}
	if (t->has & TH_BYTES) {
		JKEY(&w, "bytes");
		jint(o, (int64_t)t->bytes);
	}
	if (t->has & TH_ZONE) {
		JKEY(&w, "zone");
		ob_u64(o, t->zone);
	}
	ob_lit(o, "}");
}

static void jproto(struct jw *w, unsigned p)
{
	const char *pn = proto_name(p);
	JKEY(w, "proto");
	if (pn) {
		ob_jstr(w->o, pn, strlen(pn));
	} else {
		ob_lit(w->o, "\"");
		ob_u64(w->o, p);
		ob_lit(w->o, "\"");
	}
	JKEY(w, "protonum");
	ob_u64(w->o, p);
}

static void jfamily(struct jw *w, unsigned f)
{
	JKEY(w, "family");
	if (f == AF_INET)
		ob_lit(w->o, "\"ipv4\"");
	else if (f == AF_INET6)
		ob_lit(w->o, "\"ipv6\"");
	else {
		ob_lit(w->o, "\"");
		ob_u64(w->o, f);
		ob_lit(w->o, "\"");
	}
}

#define JU32(w, bit, name, v) do { if (ev->has & (bit)) { JKEY(w, name); ob_u64((w)->o, (v)); } } while (0)
#define JSTR(w, bit, name, s, n) do { if (ev->has & (bit)) { JKEY(w, name); ob_jstr((w)->o, (s), (n)); } } while (0)

static void jcommon_tail(struct jw *w, const struct ctev *ev)
{
	if (ev->has & CH_TIME) {
		JKEY(w, "time");
		ob_num(w->o, ev->time);
	}
	if (ev->has & CH_PORTID) {
		JKEY(w, "portid");
		ob_u64(w->o, ev->portid);
		const char *pn = progname_of(ev->portid);
		if (pn) {
			JKEY(w, "progname");
			ob_jstr(w->o, pn, strlen(pn));
		}
		if (ev->self) {
			JKEY(w, "self");
			ob_lit(w->o, "true");
		}
	}
	if (ev->netns) {
		JKEY(w, "netns");
		ob_jstr(w->o, ev->netns, strlen(ev->netns));
	}
}

/* The JSON object of a decoded message: what ct.json gives for its event table. */
void format_json(struct obuf *o, const struct ctev *ev)
{
	if (!ranks_ready)
		init_ranks();
	struct jw w = { o, 1 };
	ob_lit(o, "{");
	if (ev->kind >= 0 && ev->kind < EV_KINDS) {
		JKEY(&w, "event");
		ob_jstr(o, ev_kind_name[ev->kind], strlen(ev_kind_name[ev->kind]));
	}
	if (!ev->exp) {
		const struct cttuple *orig = &ev->t[T_ORIG];
		jfamily(&w, ev->family);
		if (orig->has & TH_PROTONUM)
			jproto(&w, orig->protonum);
		const char *st = state_name(ev);
		if (st) {
			JKEY(&w, "state");
			ob_jstr(o, st, strlen(st));
		}
		JU32(&w, CH_TIMEOUT, "timeout", ev->timeout);
		int icmp = (orig->has & TH_PROTONUM) && (orig->protonum == 1 || orig->protonum == 58);
		JKEY(&w, "orig");
		jtuple(o, ev, orig, icmp, 0, 0);
		JKEY(&w, "reply");
		jtuple(o, ev, &ev->t[T_REPLY], icmp, 1, 0);
		JU32(&w, CH_ID, "id", ev->id);
		JU32(&w, CH_ZONE, "zone", ev->zone);
		if (ev->has & CH_STATUS) {
			JKEY(&w, "status");
			jbits(o, ev->status, status_bits, STATUS_NAMES, status_rank);
		}
		JU32(&w, CH_MARK, "mark", ev->mark);
		JU32(&w, CH_USE, "use", ev->use);
		JU32(&w, CH_SECMARK, "secmark", ev->secmark);
		JSTR(&w, CH_SECCTX, "secctx", ev->secctx, ev->secctx_len);
		JSTR(&w, CH_HELPER, "helper", ev->helper, ev->helper_len);
		if (ev->has & CH_LABELS) {
			JKEY(&w, "labels");
			jlabels(o, ev);
		}
		if (ev->has & CH_START) {
			JKEY(&w, "start");
			ob_num(o, ev->start_s);
		}
		if (ev->has & CH_STOP) {
			JKEY(&w, "stop");
			ob_num(o, ev->stop_s);
		}
	} else {
		const struct cttuple *tu = &ev->t[T_EXPECTED];
		int have_tu = ev->has & (CH_TUPLE0 << T_EXPECTED);
		if (have_tu)
			jfamily(&w, ev->family);
		if (have_tu && (tu->has & TH_PROTONUM))
			jproto(&w, tu->protonum);
		JU32(&w, CH_TIMEOUT, "timeout", ev->timeout);
		static const char *const names[] = { "tuple", "mask", "master", "nat" };
		for (int i = T_EXPECTED; i <= T_NAT; i++) {
			const struct cttuple *t = &ev->t[i];
			if (!(ev->has & (CH_TUPLE0 << i)))
				continue;
			jkey(&w, names[i], strlen(names[i]));
			int icmp = (t->has & TH_PROTONUM) && (t->protonum == 1 || t->protonum == 58);
			if (i == T_NAT && (ev->has & CH_NATDIR)) {
				/* "dir" sorts before the tuple fields. */
				ob_lit(o, "{\"dir\":");
				ob_lit(o, "\"");
				if (ev->nat_dir)
					ob_lit(o, "reply");
				else
					ob_lit(o, "orig");
				ob_lit(o, "\"");
				size_t at = o->n;
				jtuple(o, ev, t, icmp, 0, 0);
				/* jtuple wrote "{...}": splice its members after dir. */
				if (!o->oom) {
					if (o->n - at == 2) {            /* "{}" */
						o->n = at;
					} else {
						o->b[at] = ',';
						o->n--;
					}
				}
				ob_lit(o, "}");
			} else {
				jtuple(o, ev, t, icmp, 0, i == T_MASTER);
			}
		}
		JU32(&w, CH_ZONE, "zone", ev->zone);
		JKEY(&w, "flags");
		jbits(o, ev->flags, exp_flag_bits, EXPFLAG_NAMES, expflag_rank);
		if ((ev->has & CH_HELPER) && ev->helper_len)
			JSTR(&w, CH_HELPER, "helper", ev->helper, ev->helper_len);
		JU32(&w, CH_CLASS, "class", ev->class_);
		if ((ev->has & CH_FN) && ev->fn_len)
			JSTR(&w, CH_FN, "fn", ev->fn, ev->fn_len);
	}
	jcommon_tail(&w, ev);
	ob_lit(o, "}");
}
