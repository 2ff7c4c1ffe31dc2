/* convert.c — decoded messages (struct ctev) into Lua event tables, and back.
 *
 * Driven by the field lists of fields.h. Runs inside a protected call (event.c), so
 * raising on out-of-memory is safe. Key strings are interned once per Lua state in
 * one array, so setting a field is an array read and a rawset; every table is
 * created with its final size. The reverse direction (an event table read into a
 * struct ctev) is what ct.format formats. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <lauxlib.h>
#include "convert.h"
#include "fields.h"
#include "decode.h"
#include "format.h"

enum kind {
	F_EVENT, F_FAMILY, F_PROTO, F_U8, F_U16, F_U32, F_STATE, F_TUPLE, F_STATUS, F_STR,
	F_LABELS, F_TSTAMP, F_TIME, F_PORTID, F_PROGNAME, F_SELF, F_NETNS,
	F_EXP_FAMILY, F_EXP_PROTO, F_EXP_PROTONUM, F_EXP_TUPLE, F_EXP_FLAGS, F_EXP_NAT,
	T_SRC, T_DST, T_PORT, T_ICMP, T_U64, T_U16,
};

/* The attribute column of fields.h names libnetfilter_conntrack attributes; here
 * only the field names, kinds and docs are used. */
struct field { const char *name; enum kind kind; int attr; const char *doc; };
struct tfield { const char *name; enum kind kind; int attr[2]; const char *doc; };

#define FIELD(n, k, a, d) { #n, k, a, d },
#define TFIELD(n, k, ao, ar, d) { #n, k, { ao, ar }, d },
static const struct field ct_fields[] = { CT_FIELDS(FIELD) };
static const struct field exp_fields[] = { EXP_FIELDS(FIELD) };
static const struct tfield tuple_fields[] = { TUPLE_FIELDS(TFIELD) };
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))


/* Every field name as an interned Lua string in one array (registry). K_* are the
 * array positions of each group of names. Keyed by this variable's address, so
 * each Lua state (a reload makes a new one) has its own. */
static const char keys_key = 0;
#define K_CT 1
#define K_TUPLE (K_CT + (int)NELEM(ct_fields))
#define K_EXP (K_TUPLE + (int)NELEM(tuple_fields))
#define K_STATUS (K_EXP + (int)NELEM(exp_fields))
#define K_EXPFLAG (K_STATUS + STATUS_NAMES)
#define K_PROTO (K_EXPFLAG + EXPFLAG_NAMES)
#define K_PROTONUM (K_PROTO + 1)
#define K_DIR (K_PROTO + 2)
#define K_IPV4 (K_PROTO + 3)
#define K_IPV6 (K_PROTO + 4)
#define K_KINDS (K_PROTO + 5)           /* the event names, EV_KINDS of them */
#define K_PROTONAMES (K_KINDS + EV_KINDS)   /* proto_name(p) for p in protos[] */
#define K_ACACHE (K_PROTONAMES + NPROTOS)   /* struct acache (userdata) */
#define ACACHE_N 256
#define K_ASTR (K_ACACHE + 1)           /* ACACHE_N address strings, slot order */
#define K_LAST (K_ASTR + ACACHE_N - 1)

/* Address text, cached: the last address seen in each of ACACHE_N slots, with its
 * Lua string at K_ASTR + slot, so a repeated address costs a compare and a read,
 * not a format, a hash and an allocation. The strings stay alive here. */
struct acache {
	uint16_t fam[ACACHE_N];     /* family + 1; 0 = empty */
	uint8_t a[ACACHE_N][16];
};

static void add_keys(lua_State *L, int *n, const char *const *names, unsigned count, size_t stride)
{
	for (unsigned i = 0; i < count; i++) {
		lua_pushstring(L, *(const char *const *)((const char *)names + i * stride));
		lua_rawseti(L, -2, ++*n);
	}
}

/* Pushes the keys table; returns its absolute index. */
int convert_keys(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &keys_key) == LUA_TNIL) {
		lua_pop(L, 1);
		int n = 0;
		lua_createtable(L, K_LAST, 0);
		add_keys(L, &n, &ct_fields[0].name, NELEM(ct_fields), sizeof(ct_fields[0]));
		add_keys(L, &n, &tuple_fields[0].name, NELEM(tuple_fields), sizeof(tuple_fields[0]));
		add_keys(L, &n, &exp_fields[0].name, NELEM(exp_fields), sizeof(exp_fields[0]));
		add_keys(L, &n, status_bits, STATUS_NAMES, sizeof(status_bits[0]));
		add_keys(L, &n, exp_flag_bits, EXPFLAG_NAMES, sizeof(exp_flag_bits[0]));
		static const char *const extra[] = { "proto", "protonum", "dir", "ipv4", "ipv6" };
		add_keys(L, &n, extra, NELEM(extra), sizeof(extra[0]));
		add_keys(L, &n, ev_kind_name, EV_KINDS, sizeof(ev_kind_name[0]));
		for (unsigned i = 0; i < NPROTOS; i++) {
			lua_pushstring(L, protos[i].name);
			lua_rawseti(L, -2, ++n);
		}
		struct acache *c = lua_newuserdatauv(L, sizeof(*c), 0);
		memset(c, 0, sizeof(*c));
		lua_rawseti(L, -2, K_ACACHE);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &keys_key);
	}
	return lua_gettop(L);
}

/* Every field is set as: its key pushed (key), its value pushed, lua_rawset(L, -3).
 * Key first: no stack rotation per field. */
static inline void key(lua_State *L, int kidx, int k)
{
	lua_rawgeti(L, kidx, k);
}

static void push_proto(lua_State *L, int kidx, unsigned p)
{
	for (unsigned i = 0; i < NPROTOS; i++) {
		if (protos[i].num == p) {
			lua_rawgeti(L, kidx, K_PROTONAMES + (int)i);
			return;
		}
	}
	lua_pushfstring(L, "%d", (int)p);
}

static void push_family(lua_State *L, int kidx, unsigned f)
{
	if (f == AF_INET)
		lua_rawgeti(L, kidx, K_IPV4);
	else if (f == AF_INET6)
		lua_rawgeti(L, kidx, K_IPV6);
	else
		lua_pushfstring(L, "%d", (int)f);
}

/* Without -mpopcnt __builtin_popcount is a libgcc call; this is inlined. */
static inline int popcount(uint32_t v)
{
	v = v - ((v >> 1) & 0x55555555u);
	v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
	return (int)((((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);
}

static void push_addr(lua_State *L, struct acache *c, int kidx, int family, const uint8_t *a)
{
	size_t n = family == AF_INET6 ? 16 : 4;
	uint32_t h;
	memcpy(&h, a, 4);
	if (n == 16) {
		uint32_t w[3];
		memcpy(w, a + 4, 12);
		h ^= w[0] ^ w[1] ^ w[2];
	}
	unsigned slot = (h * 2654435761u) >> 24;   /* ACACHE_N == 256 */
	if (c->fam[slot] == family + 1 && memcmp(c->a[slot], a, n) == 0) {
		lua_rawgeti(L, kidx, K_ASTR + (int)slot);
		return;
	}
	char buf[48];
	lua_pushlstring(L, buf, addr_text(family, a, buf));
	lua_pushvalue(L, -1);
	lua_rawseti(L, kidx, K_ASTR + (int)slot);
	c->fam[slot] = (uint16_t)(family + 1);
	memcpy(c->a[slot], a, n);
}

static void push_set(lua_State *L, uint32_t bits, int kidx, int kbase, unsigned n)
{
	lua_createtable(L, 0, popcount(bits));
	for (uint32_t b = bits; b; b &= b - 1) {
		unsigned i = (unsigned)__builtin_ctz(b);
		if (i < n)
			key(L, kidx, kbase + (int)i);
		else
			lua_pushfstring(L, "bit%d", (int)i);
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
	}
}

/* Pushes one tuple table. icmp: type/code/id instead of ports; reply: the reply
 * direction's ICMP fields come whole, as libnetfilter_conntrack keeps them. */
static void push_tuple(lua_State *L, const struct ctev *ev, const struct cttuple *t, int icmp,
		       int reply, int kidx, struct acache *ac, int extra)
{
	int n = popcount(t->has & (TH_SRC | TH_DST | TH_PACKETS | TH_BYTES | TH_ZONE)) +
		(icmp ? 3 : popcount(t->has & (TH_SPORT | TH_DPORT)));
	lua_createtable(L, 0, n + extra);
	for (unsigned i = 0; i < NELEM(tuple_fields); i++) {
		const struct tfield *f = &tuple_fields[i];
		int k = K_TUPLE + (int)i;
		switch (f->kind) {
		case T_SRC:
			if (!(t->has & TH_SRC))
				continue;
			key(L, kidx, k);
			push_addr(L, ac, kidx, ev->family, t->src);
			break;
		case T_DST:
			if (!(t->has & TH_DST))
				continue;
			key(L, kidx, k);
			push_addr(L, ac, kidx, ev->family, t->dst);
			break;
		case T_PORT: {
			int dst = f->attr[0] == ATTR_ORIG_PORT_DST;
			if (icmp || !(t->has & (dst ? TH_DPORT : TH_SPORT)))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, dst ? t->dport : t->sport);
			break;
		}
		case T_ICMP: {
			static const uint32_t bit[] = { TH_TYPE, TH_CODE, TH_ICMPID };
			int w = f->attr[0];
			if (!icmp || !(t->has & (reply ? TH_TYPE : bit[w])))
				continue;
			lua_Integer v = w == 0 ? t->type : w == 1 ? t->code : t->icmpid;
			if (reply && !(t->has & bit[w]))
				v = 0;
			key(L, kidx, k);
			lua_pushinteger(L, v);
			break;
		}
		case T_U64: {
			int bytes = f->attr[0] == ATTR_ORIG_COUNTER_BYTES;
			if (!(t->has & (bytes ? TH_BYTES : TH_PACKETS)))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, (lua_Integer)(bytes ? t->bytes : t->packets));
			break;
		}
		case T_U16:
			if (!(t->has & TH_ZONE))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, t->zone);
			break;
		default:
			continue;
		}
		lua_rawset(L, -3);
	}
}

/* Fields common to both event kinds: pushes key k and the value, or returns 0 with
 * nothing pushed when the field is absent. */
static int push_common(lua_State *L, const struct field *f, const struct ctev *ev, int kidx, int k)
{
	switch (f->kind) {
	case F_EVENT:
		if (ev->kind < 0 || ev->kind >= EV_KINDS)
			return 0;
		key(L, kidx, k);
		lua_rawgeti(L, kidx, K_KINDS + ev->kind);
		return 1;
	case F_TIME:
		if (!(ev->has & CH_TIME))
			return 0;
		key(L, kidx, k);
		lua_pushnumber(L, ev->time);
		return 1;
	case F_SELF:
		if (!(ev->has & CH_PORTID) || !ev->self)
			return 0;
		key(L, kidx, k);
		lua_pushboolean(L, 1);
		return 1;
	case F_PORTID:
		if (!(ev->has & CH_PORTID))
			return 0;
		key(L, kidx, k);
		lua_pushinteger(L, ev->portid);
		return 1;
	case F_NETNS:
		if (!ev->netns)
			return 0;
		key(L, kidx, k);
		lua_pushstring(L, ev->netns);
		return 1;
	case F_PROGNAME: {
		const char *n;
		if (!(ev->has & CH_PORTID) || !(n = progname_of(ev->portid)))
			return 0;
		key(L, kidx, k);
		lua_pushstring(L, n);
		return 1;
	}
	default:
		return 0;
	}
}

static void push_labels(lua_State *L, const struct ctev *ev)
{
	unsigned max = (unsigned)((ev->labels_len + 3) / 4) * 32;
	lua_createtable(L, 0, 2);
	for (unsigned bit = 0; bit < max; bit++) {
		uint32_t w = 0;
		size_t off = (bit / 32) * 4, n = ev->labels_len - off < 4 ? ev->labels_len - off : 4;
		memcpy(&w, ev->labels + off, n);
		if (!((w >> (bit % 32)) & 1))
			continue;
		const char *name = label_name(bit);
		if (name && *name)
			lua_pushstring(L, name);
		else
			lua_pushfstring(L, "%d", (int)bit);
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
	}
}

static void convert_ct(lua_State *L, const struct ctev *ev, int kidx, struct acache *ac)
{
	const struct cttuple *orig = &ev->t[T_ORIG];
	int icmp = (orig->has & TH_PROTONUM) && (orig->protonum == 1 || orig->protonum == 58);
	lua_createtable(L, 0, 8 + popcount(ev->has & 0x7ff) + 2 * !!(ev->has & CH_PORTID));
	for (unsigned i = 0; i < NELEM(ct_fields); i++) {
		const struct field *f = &ct_fields[i];
		int k = K_CT + (int)i;
		switch (f->kind) {
		case F_FAMILY:
			key(L, kidx, k);
			push_family(L, kidx, ev->family);
			break;
		case F_PROTO:
			if (!(orig->has & TH_PROTONUM))
				continue;
			key(L, kidx, k);
			push_proto(L, kidx, orig->protonum);
			break;
		case F_U8:                   /* protonum */
			if (!(orig->has & TH_PROTONUM))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, orig->protonum);
			break;
		case F_U16:                  /* zone */
			if (!(ev->has & CH_ZONE))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, ev->zone);
			break;
		case F_U32: {
			uint32_t bit, v;
			switch (f->attr) {
			case ATTR_TIMEOUT: bit = CH_TIMEOUT, v = ev->timeout; break;
			case ATTR_MARK: bit = CH_MARK, v = ev->mark; break;
			case ATTR_ID: bit = CH_ID, v = ev->id; break;
			case ATTR_USE: bit = CH_USE, v = ev->use; break;
			default: bit = CH_SECMARK, v = ev->secmark; break;
			}
			if (!(ev->has & bit))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, v);
			break;
		}
		case F_STR:
			if (f->attr == ATTR_SECCTX) {
				if (!(ev->has & CH_SECCTX))
					continue;
				key(L, kidx, k);
				lua_pushlstring(L, ev->secctx, ev->secctx_len);
			} else {
				if (!(ev->has & CH_HELPER))
					continue;
				key(L, kidx, k);
				lua_pushlstring(L, ev->helper, ev->helper_len);
			}
			break;
		case F_STATE: {
			const char *s = state_name(ev);
			if (!s)
				continue;
			key(L, kidx, k);
			lua_pushstring(L, s);
			break;
		}
		case F_TUPLE:
			key(L, kidx, k);
			push_tuple(L, ev, &ev->t[f->attr ? T_REPLY : T_ORIG], icmp, f->attr, kidx, ac, 0);
			break;
		case F_STATUS:
			if (!(ev->has & CH_STATUS))
				continue;
			key(L, kidx, k);
			push_set(L, ev->status, kidx, K_STATUS, STATUS_NAMES);
			break;
		case F_LABELS:
			if (!(ev->has & CH_LABELS))
				continue;
			key(L, kidx, k);
			push_labels(L, ev);
			break;
		case F_TSTAMP: {
			int stop = f->attr == ATTR_TIMESTAMP_STOP;
			if (!(ev->has & (stop ? CH_STOP : CH_START)))
				continue;
			key(L, kidx, k);
			lua_pushnumber(L, stop ? ev->stop_s : ev->start_s);
			break;
		}
		default:
			if (!push_common(L, f, ev, kidx, k))
				continue;
		}
		lua_rawset(L, -3);
	}
}

static void convert_exp(lua_State *L, const struct ctev *ev, int kidx, struct acache *ac)
{
	int have_tu = ev->has & (CH_TUPLE0 << T_EXPECTED);
	const struct cttuple *tu = &ev->t[T_EXPECTED];
	lua_createtable(L, 0, 14);
	for (unsigned i = 0; i < NELEM(exp_fields); i++) {
		const struct field *f = &exp_fields[i];
		int k = K_EXP + (int)i;
		switch (f->kind) {
		case F_EXP_FAMILY:
			if (!have_tu)
				continue;
			key(L, kidx, k);
			push_family(L, kidx, ev->family);
			break;
		case F_EXP_PROTO:
		case F_EXP_PROTONUM:
			if (!have_tu || !(tu->has & TH_PROTONUM))
				continue;
			key(L, kidx, k);
			if (f->kind == F_EXP_PROTO)
				push_proto(L, kidx, tu->protonum);
			else
				lua_pushinteger(L, tu->protonum);
			break;
		case F_U16:                  /* zone */
			if (!(ev->has & CH_ZONE))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, ev->zone);
			break;
		case F_U32:
			if (f->attr == ATTR_EXP_TIMEOUT ? !(ev->has & CH_TIMEOUT) : !(ev->has & CH_CLASS))
				continue;
			key(L, kidx, k);
			lua_pushinteger(L, f->attr == ATTR_EXP_TIMEOUT ? ev->timeout : ev->class_);
			break;
		case F_STR:
			if (f->attr == ATTR_EXP_FN) {
				if (!(ev->has & CH_FN))
					continue;
				key(L, kidx, k);
				lua_pushlstring(L, ev->fn, ev->fn_len);
			} else {
				if (!(ev->has & CH_HELPER))
					continue;
				key(L, kidx, k);
				lua_pushlstring(L, ev->helper, ev->helper_len);
			}
			break;
		case F_EXP_TUPLE:
		case F_EXP_NAT: {
			int ti = f->attr == ATTR_EXP_EXPECTED ? T_EXPECTED : f->attr == ATTR_EXP_MASK ? T_MASK
				 : f->attr == ATTR_EXP_MASTER ? T_MASTER : T_NAT;
			const struct cttuple *t = &ev->t[ti];
			if (!(ev->has & (CH_TUPLE0 << ti)))
				continue;
			int icmp = (t->has & TH_PROTONUM) && (t->protonum == 1 || t->protonum == 58);
			key(L, kidx, k);
			push_tuple(L, ev, t, icmp, 0, kidx, ac, 2);
			if (ti == T_MASTER && (t->has & TH_PROTONUM)) {
				key(L, kidx, K_PROTO);
				push_proto(L, kidx, t->protonum);
				lua_rawset(L, -3);
				key(L, kidx, K_PROTONUM);
				lua_pushinteger(L, t->protonum);
				lua_rawset(L, -3);
			}
			if (ti == T_NAT && (ev->has & CH_NATDIR)) {
				key(L, kidx, K_DIR);
				lua_pushstring(L, ev->nat_dir ? "reply" : "orig");
				lua_rawset(L, -3);
			}
			break;
		}
		case F_EXP_FLAGS:
			key(L, kidx, k);
			push_set(L, ev->flags, kidx, K_EXPFLAG, EXPFLAG_NAMES);
			break;
		default:
			if (!push_common(L, f, ev, kidx, k))
				continue;
		}
		lua_rawset(L, -3);
	}
}

/* Pushes the event table of a decoded message; kidx: where convert_keys() put the
 * keys table (the event path pushes it once per batch). */
void convert_ev_k(lua_State *L, const struct ctev *ev, int kidx)
{
	/* Only LUA_MINSTACK slots are sure to be there; reserve what a full event
	 * with its nested tables may use rather than count on slack. */
	luaL_checkstack(L, 16, "event conversion");
	lua_rawgeti(L, kidx, K_ACACHE);
	struct acache *ac = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (ev->exp)
		convert_exp(L, ev, kidx, ac);
	else
		convert_ct(L, ev, kidx, ac);
}

/* Pushes the event table of a decoded message. */
void convert_ev(lua_State *L, const struct ctev *ev)
{
	int kidx = convert_keys(L);
	convert_ev_k(L, ev, kidx);
	lua_remove(L, kidx);
}

/* Decodes a conntrack (exp = 0) or expectation (exp = 1) message and pushes its
 * table (netns: the namespace name to carry, or NULL; own_portid: the command
 * socket's port id there). Returns 1, or 0 with nothing pushed when the message
 * does not parse. */
int convert_msg(lua_State *L, const struct nlmsghdr *nlh, int exp, enum ev_kind kind, double now,
		const char *netns, uint32_t own_portid)
{
	struct ctev ev;
	if (decode_msg(nlh, exp, &ev) < 0)
		return 0;
	ctev_finish(&ev, kind, now, own_portid, netns);
	convert_ev(L, &ev);
	return 1;
}

static void push_list(lua_State *L, const char *key, const struct field *fs, unsigned n)
{
	lua_createtable(L, (int)n, 0);
	for (unsigned i = 0; i < n; i++) {
		lua_pushstring(L, fs[i].name);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, key);
}

/* name -> number for n names (value = index, from 0) */
static void push_index(lua_State *L, const char *key, const char *const *names, int n)
{
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++) {
		lua_pushinteger(L, i);
		lua_setfield(L, -2, names[i]);
	}
	lua_setfield(L, -2, key);
}

/* core.fields() -> { conntrack = {names}, expect = {names}, tuple = {names},
 *   protocols = {tcp = 6, ...}, tcp_states = {NONE = 0, ...},
 *   status_bits = {expected = 0, ...}, exp_flags = {permanent = 0, ...} }
 * The names the C formatter prints, so Lua's filters and parsers copy none. */
void convert_push_fields(lua_State *L)
{
	lua_createtable(L, 0, 7);
	lua_createtable(L, 0, NPROTOS);
	for (int i = 0; i < NPROTOS; i++) {
		lua_pushinteger(L, protos[i].num);
		lua_setfield(L, -2, protos[i].name);
	}
	lua_setfield(L, -2, "protocols");
	push_index(L, "tcp_states", tcp_states, TCP_STATES);
	push_index(L, "status_bits", status_bits, STATUS_NAMES);
	push_index(L, "exp_flags", exp_flag_bits, EXPFLAG_NAMES);
	push_list(L, "conntrack", ct_fields, NELEM(ct_fields));
	push_list(L, "expect", exp_fields, NELEM(exp_fields));
	lua_createtable(L, (int)NELEM(tuple_fields), 0);
	for (unsigned i = 0; i < NELEM(tuple_fields); i++) {
		lua_pushstring(L, tuple_fields[i].name);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "tuple");
}

/* `ctlua --fields`: the README's field reference, generated from the same lists. */
void convert_print_fields(void)
{
	printf("Conntrack events (`new`, `update`, `destroy`):\n\n| field | meaning |\n|---|---|\n");
	for (unsigned i = 0; i < NELEM(ct_fields); i++)
		printf("| `%s` | %s |\n", ct_fields[i].name, ct_fields[i].doc);
	printf("\nTuple fields (`orig`, `reply`, and the tuples of expectations):\n\n| field | meaning |\n|---|---|\n");
	for (unsigned i = 0; i < NELEM(tuple_fields); i++)
		printf("| `%s` | %s |\n", tuple_fields[i].name, tuple_fields[i].doc);
	printf("\nExpectation events (`expect-new`, `expect-destroy`):\n\n| field | meaning |\n|---|---|\n");
	for (unsigned i = 0; i < NELEM(exp_fields); i++)
		printf("| `%s` | %s |\n", exp_fields[i].name, exp_fields[i].doc);
}

/* Event tables back into struct ctev (ct.format) ---------------------------------- */

/* Reading a table leaves the strings it made on the stack until the line is
 * written; strings of the table itself stay alive with it. */
static int tget(lua_State *L, int t, const char *k)
{
	return lua_getfield(L, t, k);
}

static int get_int(lua_State *L, int t, const char *k, lua_Integer *v)
{
	int ty = tget(L, t, k);
	if (ty == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	int ok;
	*v = lua_tointegerx(L, -1, &ok);
	if (!ok)
		luaL_error(L, "bad argument #1 to 'format' (field '%s': integer expected, got %s)", k,
			   luaL_typename(L, -1));
	lua_pop(L, 1);
	return 1;
}

static int get_num(lua_State *L, int t, const char *k, double *v)
{
	if (tget(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	int ok;
	*v = lua_tonumberx(L, -1, &ok);
	if (!ok)
		luaL_error(L, "bad argument #1 to 'format' (field '%s': number expected, got %s)", k,
			   luaL_typename(L, -1));
	lua_pop(L, 1);
	return 1;
}

/* A text field: its string, kept on the stack (any value, as string.format's %s). */
static const char *get_text(lua_State *L, int t, const char *k, size_t *n)
{
	if (tget(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	const char *s = luaL_tolstring(L, -1, n);
	lua_remove(L, -2);
	return s;
}

static int truthy(lua_State *L, int t, const char *k)
{
	if (lua_type(L, t) != LUA_TTABLE)
		return 0;
	lua_getfield(L, t, k);
	int v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

static void read_tuple(lua_State *L, int ev, const char *k, struct cttuple *t)
{
	memset(t, 0, sizeof(*t));
	if (tget(L, ev, k) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	int ti = lua_gettop(L);
	lua_Integer v;
	if ((t->srctext = get_text(L, ti, "src", &t->srclen)))
		t->has |= TH_SRC;
	if ((t->dsttext = get_text(L, ti, "dst", &t->dstlen)))
		t->has |= TH_DST;
	if (get_int(L, ti, "sport", &v))
		t->sport = (uint16_t)v, t->has |= TH_SPORT;
	if (get_int(L, ti, "dport", &v))
		t->dport = (uint16_t)v, t->has |= TH_DPORT;
	if (get_int(L, ti, "type", &v))
		t->type = (uint8_t)v, t->has |= TH_TYPE;
	if (get_int(L, ti, "code", &v))
		t->code = (uint8_t)v, t->has |= TH_CODE;
	if (get_int(L, ti, "id", &v))
		t->icmpid = (uint16_t)v, t->has |= TH_ICMPID;
	if (get_int(L, ti, "zone", &v))
		t->zone = (uint16_t)v, t->has |= TH_ZONE;
	if (get_int(L, ti, "packets", &v))
		t->packets = (uint64_t)v, t->has |= TH_PACKETS;
	if (get_int(L, ti, "bytes", &v))
		t->bytes = (uint64_t)v, t->has |= TH_BYTES;
	if (get_int(L, ti, "protonum", &v))
		t->protonum = (uint8_t)v, t->has |= TH_PROTONUM;
	/* The tuple table stays on the stack: its strings are in use. */
}

/* Reads the event table at idx into ev, as ct.format sees it. */
static void ctev_from_table(lua_State *L, int idx, struct ctev *ev, struct ctev_names *names)
{
	memset(ev, 0, sizeof(*ev));
	lua_Integer v;
	double d;
	size_t n;
	ev->kind = -1;
	if (lua_getfield(L, idx, "event") == LUA_TSTRING) {
		const char *e = lua_tostring(L, -1);
		for (int k = 0; k < EV_KINDS; k++)
			if (strcmp(e, ev_kind_name[k]) == 0)
				ev->kind = k;
	}
	lua_pop(L, 1);
	lua_getfield(L, idx, "tuple");
	lua_getfield(L, idx, "master");
	lua_getfield(L, idx, "mask");
	ev->exp = lua_toboolean(L, -1) || lua_toboolean(L, -2) || lua_toboolean(L, -3);
	lua_pop(L, 3);
	if (get_int(L, idx, "timeout", &v))
		ev->timeout = (uint32_t)v, ev->has |= CH_TIMEOUT;
	if (get_int(L, idx, "zone", &v))
		ev->zone = (uint16_t)v, ev->has |= CH_ZONE;
	if ((ev->helper = get_text(L, idx, "helper", &ev->helper_len)))
		ev->has |= CH_HELPER;
	lua_Integer pn = 0;
	get_int(L, idx, "protonum", &pn);
	/* The family: as the table says, else from the first address. */
	if (lua_getfield(L, idx, "family") == LUA_TSTRING) {
		const char *f = lua_tostring(L, -1);
		ev->family = strcmp(f, "ipv6") == 0 ? AF_INET6 : strcmp(f, "ipv4") == 0 ? AF_INET : 0;
	}
	lua_pop(L, 1);
	if (ev->exp) {
		read_tuple(L, idx, "tuple", &ev->t[T_EXPECTED]);
		read_tuple(L, idx, "mask", &ev->t[T_MASK]);
		read_tuple(L, idx, "master", &ev->t[T_MASTER]);
		ev->t[T_EXPECTED].protonum = (uint8_t)pn, ev->t[T_EXPECTED].has |= TH_PROTONUM;
		ev->has |= (CH_TUPLE0 << T_EXPECTED) | (CH_TUPLE0 << T_MASK) | (CH_TUPLE0 << T_MASTER);
		if (get_int(L, idx, "class", &v))
			ev->class_ = (uint32_t)v, ev->has |= CH_CLASS;
		lua_getfield(L, idx, "flags");
		int f = lua_gettop(L);
		for (int i = 0; i < EXPFLAG_NAMES; i++)
			if (truthy(L, f, exp_flag_bits[i]))
				ev->flags |= 1u << i;
		lua_pop(L, 1);
	} else {
		ev->protoname = "unknown";
		if (lua_getfield(L, idx, "proto") == LUA_TSTRING) {
			int num = proto_number(lua_tostring(L, -1), 0);
			if (num >= 0)
				ev->protoname = proto_name((unsigned)num);
		}
		lua_pop(L, 1);
		ev->statetext = get_text(L, idx, "state", &n);
		/* -o xml and save print the state from its number */
		int sn = ev->statetext ? state_number((unsigned)pn, ev->statetext) : -1;
		if (sn >= 0) {
			ev->tcp_state = ev->sctp_state = ev->dccp_state = (uint8_t)sn;
			ev->has |= pn == IPPROTO_TCP ? CH_TCP : pn == IPPROTO_SCTP ? CH_SCTP : CH_DCCP;
		}
		read_tuple(L, idx, "orig", &ev->t[T_ORIG]);
		read_tuple(L, idx, "reply", &ev->t[T_REPLY]);
		ev->t[T_ORIG].protonum = (uint8_t)pn, ev->t[T_ORIG].has |= TH_PROTONUM;
		if (lua_getfield(L, idx, "status") != LUA_TNIL) {
			int st = lua_gettop(L);
			ev->has |= CH_STATUS;
			for (int i = 0; i < STATUS_NAMES; i++)
				if (truthy(L, st, status_bits[i]))
					ev->status |= 1u << i;
		}
		lua_pop(L, 1);
		if (get_int(L, idx, "mark", &v))
			ev->mark = (uint32_t)v, ev->has |= CH_MARK;
		if (get_int(L, idx, "secmark", &v))
			ev->secmark = (uint32_t)v, ev->has |= CH_SECMARK;
		if ((ev->secctx = get_text(L, idx, "secctx", &ev->secctx_len)))
			ev->has |= CH_SECCTX;
		if (get_num(L, idx, "start", &ev->start_s))
			ev->has |= CH_START;
		if (get_num(L, idx, "stop", &ev->stop_s))
			ev->has |= CH_STOP;
		if (get_int(L, idx, "use", &v))
			ev->use = (uint32_t)v, ev->has |= CH_USE;
		if (get_int(L, idx, "id", &v))
			ev->id = (uint32_t)v, ev->has |= CH_ID;
		if (lua_getfield(L, idx, "labels") == LUA_TTABLE) {
			int lt = lua_gettop(L);
			names->n = 0;
			lua_pushnil(L);
			while (lua_next(L, lt)) {
				lua_pop(L, 1);
				if (lua_type(L, -1) == LUA_TSTRING && names->n < CTEV_LABEL_NAMES)
					names->name[names->n++] = lua_tostring(L, -1);
			}
			ev->labelnames = names;
			ev->has |= CH_LABELS;
		}
		/* The labels table stays on the stack: its keys are in use. */
		if (get_int(L, idx, "portid", &v))
			ev->portid = (uint32_t)v, ev->has |= CH_PORTID;
		ev->progname = get_text(L, idx, "progname", &ev->progname_len);
		ev->has |= CH_PROGNAME;
	}
	if (get_num(L, idx, "time", &d))
		ev->time = d, ev->has |= CH_TIME;
	if (!ev->family) {
		const struct cttuple *t0 = &ev->t[0];
		ev->family = t0->srctext && memchr(t0->srctext, ':', t0->srclen) ? AF_INET6 : AF_INET;
	}
	(void)n;
}

static struct obuf out;

/* conntrack's -o words: "extended,id" (each word as conntrack takes it: any
 * prefix, any case, the first in its list that matches). -1 and *bad: the word
 * that is none of them. */
static int words_opts(const char *s, const char **bad, size_t *badlen)
{
	int opts = 0;
	while (1) {
		size_t n = strcspn(s, ",");
		int bit = -1;
		for (int i = 0; n && i < FMT_WORDS && bit < 0; i++)
			if (n <= strlen(fmt_words[i].name) && strncasecmp(s, fmt_words[i].name, n) == 0)
				bit = fmt_words[i].bit;
		if (bit < 0) {
			*bad = s, *badlen = n;
			return -1;
		}
		opts |= bit;
		if (!s[n])
			return opts;
		s += n + 1;
	}
}

/* The options at idx as FMT_* bits: nil (none), a table of -o words as booleans
 * ({extended = true, id = true}), or the words as conntrack -o takes them
 * ("extended,id"). Raises, naming function fname's argument arg, on a word that
 * is none of conntrack's and on save with another (conntrack refuses those). */
int convert_format_opts(lua_State *L, int idx, int arg, const char *fname)
{
	int opts = 0;
	if (lua_isnoneornil(L, idx))
		return 0;
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *bad;
		size_t bl;
		opts = words_opts(lua_tostring(L, idx), &bad, &bl);
		if (opts < 0) {
			lua_pushlstring(L, bad, bl);
			return luaL_error(L, "bad argument #%d to '%s' (unknown output word '%s')", arg, fname,
					  lua_tostring(L, -1));
		}
	} else if (lua_istable(L, idx)) {
		idx = lua_absindex(L, idx);
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			int bit = -1;
			if (lua_type(L, -2) == LUA_TSTRING)
				for (int i = 0; i < FMT_WORDS; i++)
					if (strcmp(lua_tostring(L, -2), fmt_words[i].name) == 0)
						bit = fmt_words[i].bit;
			if (bit < 0)
				return luaL_error(L, "bad argument #%d to '%s' (unknown output option '%s')", arg,
						  fname, lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
			if (lua_toboolean(L, -1))
				opts |= bit;
			lua_pop(L, 1);
		}
	} else {
		return luaL_error(L, "bad argument #%d to '%s' (table or string expected, got %s)", arg, fname,
				  luaL_typename(L, idx));
	}
	if ((opts & FMT_SAVE) && (opts & ~(FMT_SAVE | FMT_USERSPACE)))
		return luaL_error(L, "bad argument #%d to '%s' (save cannot be combined with another output word)",
				  arg, fname);
	return opts;
}

/* core.format_opts(opts) -> the FMT_* bits of opts (as core.format takes them),
 * for the sinks; raises as core.format does. */
static int convert_opts(lua_State *L)
{
	lua_pushinteger(L, convert_format_opts(L, 1, 1, "sink"));
	return 1;
}

/* core.format(ev [, opts]) -> the line conntrack prints for ev: -E (or -E expect)
 * for an event, -L for an entry (no `event`). opts: conntrack's -o words, as a
 * table of booleans {extended, timestamp, id, ktimestamp, labels, userspace,
 * xml, save} or as the text -o takes ("extended,id"). */
static int convert_format(lua_State *L)
{
	if (!lua_istable(L, 1))
		return luaL_error(L, "bad argument #1 to 'format' (event table expected, got %s)",
				  luaL_typename(L, 1));
	int opts = convert_format_opts(L, 2, 2, "format");
	lua_settop(L, 1);
	luaL_checkstack(L, 40, "format");
	struct ctev ev;
	static struct ctev_names names;
	ctev_from_table(L, 1, &ev, &names);
	out.n = 0, out.oom = 0;
	format_text(&out, &ev, opts);
	if (out.oom)
		return luaL_error(L, "not enough memory");
	lua_pushlstring(L, out.b, out.n);
	return 1;
}

/* JSON of any value, as lua-cjson wrote it (sparse arrays as objects, NaN and
 * infinities as null, 14 digits), but with object keys in one order: those of
 * json_keys first, in its order, then the others sorted. So an event table and
 * its message (format_json) give the same bytes. */
struct jkey { int rank; size_t n; const char *s; double num; char buf[32]; };
static struct jkey *jk;
static size_t jk_cap;
static size_t jk_top;
static const char rank_key = 0;

static int jkey_cmp(const void *a, const void *b)
{
	const struct jkey *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->s ? x->s : x->buf, y->s ? y->s : y->buf, n);
	return c ? c : x->n < y->n ? -1 : x->n > y->n;
}

static void jvalue(lua_State *L, int idx, int depth, int ranks);

/* [t[1],...,t[n]]: a list (ct.array), or a table whose keys are 1..n with few holes */
static void jarray(lua_State *L, int idx, lua_Integer n, int depth, int ranks)
{
	ob_lit(&out, "[");
	for (lua_Integer i = 1; i <= n; i++) {
		if (i > 1)
			ob_lit(&out, ",");
		lua_rawgeti(L, idx, i);
		jvalue(L, lua_gettop(L), depth + 1, ranks);
		lua_pop(L, 1);
	}
	ob_lit(&out, "]");
}

static void jtable(lua_State *L, int idx, int depth, int ranks)
{
	if (depth > 1000)
		luaL_error(L, "bad argument #1 to 'json' (Cannot serialise, excessive nesting (%d))", depth);
	luaL_checkstack(L, 6, "json");
	/* A table whose metatable says __jsontype = "array" (ct.array) is a list,
	 * [] when empty: one JSON type per field (lua-cjson's array_mt). */
	if (lua_getmetatable(L, idx)) {
		int list = lua_getfield(L, -1, "__jsontype") == LUA_TSTRING &&
			strcmp(lua_tostring(L, -1), "array") == 0;
		lua_pop(L, 2);
		if (list) {
			jarray(L, idx, (lua_Integer)lua_rawlen(L, idx), depth, ranks);
			return;
		}
	}
	/* The keys of enclosing tables sit below this one's. */
	size_t base = jk_top;
	int array = 1;
	double max = 0, items = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (jk_top == jk_cap) {
			size_t cap = jk_cap ? jk_cap * 2 : 64;
			struct jkey *p = realloc(jk, cap * sizeof(*p));
			if (!p) {
				jk_top = base;
				luaL_error(L, "not enough memory");
			}
			jk = p, jk_cap = cap;
		}
		struct jkey *k = &jk[jk_top];
		int t = lua_type(L, -1);
		if (t == LUA_TSTRING) {
			array = 0;
			k->s = lua_tolstring(L, -1, &k->n);
			lua_pushvalue(L, -1);
			k->rank = lua_rawget(L, ranks) == LUA_TNUMBER ? (int)lua_tointeger(L, -1) : json_nkeys;
			lua_pop(L, 1);
		} else if (t == LUA_TNUMBER) {
			double x = lua_tonumber(L, -1);
			if (x >= 1 && floor(x) == x) {
				if (x > max)
					max = x;
				items++;
			} else {
				array = 0;
			}
			k->s = NULL, k->num = x, k->rank = json_nkeys;
			struct obuf kb = { k->buf, 0, sizeof(k->buf), 0 };
			ob_num(&kb, x);
			k->n = kb.n;
		} else {
			jk_top = base;
			luaL_error(L, "bad argument #1 to 'json' (table key must be a number or string)");
		}
		jk_top++;
	}
	if (array && max > 0 && !(max > items * 2 && max > 10)) {
		jk_top = base;
		jarray(L, idx, (lua_Integer)max, depth, ranks);
		return;
	}
	size_t n = jk_top - base;
	qsort(jk + base, n, sizeof(*jk), jkey_cmp);
	ob_lit(&out, "{");
	for (size_t i = 0; i < n; i++) {
		struct jkey *k = &jk[base + i];
		if (i)
			ob_lit(&out, ",");
		if (k->s) {
			ob_jstr(&out, k->s, k->n);
			lua_pushlstring(L, k->s, k->n);
		} else {
			ob_lit(&out, "\"");
			ob_put(&out, k->buf, k->n);
			ob_lit(&out, "\"");
			lua_pushnumber(L, k->num);
			if (floor(k->num) == k->num && fabs(k->num) < 9.2e18) {
				lua_pop(L, 1);
				lua_pushinteger(L, (lua_Integer)k->num);
			}
		}
		ob_lit(&out, ":");
		lua_rawget(L, idx);
		jvalue(L, lua_gettop(L), depth + 1, ranks);
		lua_pop(L, 1);
		k = NULL;                /* jk may have moved */
	}
	ob_lit(&out, "}");
	jk_top = base;
}

static void jvalue(lua_State *L, int idx, int depth, int ranks)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		ob_lit(&out, "null");
		break;
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			ob_lit(&out, "true");
		else
			ob_lit(&out, "false");
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			lua_Integer v = lua_tointeger(L, idx);
			if (v > -100000000000000LL && v < 100000000000000LL)
				ob_i64(&out, v);
			else
				ob_num(&out, (double)v);
		} else {
			ob_num(&out, lua_tonumber(L, idx));
		}
		break;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		ob_jstr(&out, s, n);
		break;
	}
	case LUA_TTABLE:
		jtable(L, idx, depth, ranks);
		break;
	case LUA_TLIGHTUSERDATA:
		if (!lua_touserdata(L, idx)) {
			ob_lit(&out, "null");
			break;
		}
		/* fall through */
	default:
		luaL_error(L, "bad argument #1 to 'json' (Cannot serialise %s: type not supported)",
			   luaL_typename(L, idx));
	}
}

/* core.json(value) -> one-line JSON text */
static int convert_json(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_settop(L, 1);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &rank_key) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_createtable(L, 0, json_nkeys);
		for (int i = 0; i < json_nkeys; i++) {
			lua_pushinteger(L, i);
			lua_setfield(L, -2, json_keys[i]);
		}
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &rank_key);
	}
	out.n = 0, out.oom = 0, jk_top = 0;
	jvalue(L, 1, 1, 2);
	if (out.oom)
		return luaL_error(L, "not enough memory");
	lua_pushlstring(L, out.b, out.n);
	return 1;
}

static const luaL_Reg convert_funcs[] = {
	{ "format", convert_format },
	{ "format_opts", convert_opts },
	{ "json", convert_json },
	{ NULL, NULL },
};

void convert_register(lua_State *L)
{
	luaL_setfuncs(L, convert_funcs, 0);
}
