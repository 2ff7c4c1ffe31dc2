/* build.c — Lua tables into conntrack and expectation objects, for commands.
 *
 * The reverse of convert.c, accepting the same shapes it produces, so any event or
 * list table can be passed straight back. Misuse raises "bad argument #N to 'fn'
 * (field: problem)", naming the field; nothing a script passes reaches the kernel
 * unchecked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <lauxlib.h>
#include "base.h"
#include "build.h"
#include "format.h"

struct ctx { lua_State *L; int arg; const char *fn; };

#define TCP_STATE_LISTEN 9      /* conntrack's "LISTEN" is the kernel's SYN_SENT2 */

/* luaL_checktype would name the C function; callers may be Lua wrappers. */
static void check_table(lua_State *L, int idx, int arg, const char *fn)
{
	if (!lua_istable(L, idx))
		luaL_error(L, "bad argument #%d to '%s' (table expected, got %s)", arg, fn,
			   luaL_typename(L, idx));
}

static int bad(struct ctx *c, const char *path, const char *fmt, const char *detail)
{
	char msg[200];
	snprintf(msg, sizeof(msg), fmt, detail ? detail : "");
	return luaL_error(c->L, "bad argument #%d to '%s' (%s: %s)", c->arg, c->fn, path, msg);
}

/* Pushes t[name]; returns its type (LUA_TNIL when absent). */
static int field(lua_State *L, int t, const char *name)
{
	return lua_getfield(L, t, name);
}

/* Reads an optional integer field in [min, max]; 1 when present. Pops. */
static int opt_int(struct ctx *c, int t, const char *name, const char *path,
		   lua_Integer min, lua_Integer max, lua_Integer *out)
{
	lua_State *L = c->L;
	int ty = field(L, t, name);
	if (ty == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	int isnum;
	lua_Integer v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || ty != LUA_TNUMBER)
		bad(c, path, "integer expected, got %s", luaL_typename(L, -1));
	if (v < min || v > max) {
		char b[64];
		snprintf(b, sizeof(b), "%lld", (long long)v);
		bad(c, path, "out of range (%s)", b);
	}
	lua_pop(L, 1);
	*out = v;
	return 1;
}

static const char *opt_str(struct ctx *c, int t, const char *name, const char *path)
{
	lua_State *L = c->L;
	int ty = field(L, t, name);
	if (ty == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	if (ty != LUA_TSTRING)
		bad(c, path, "string expected, got %s", luaL_typename(L, -1));
	const char *s = lua_tostring(L, -1);
	lua_pop(L, 1);       /* still referenced by the table, so the pointer stays valid */
	return s;
}

/* A protocol name or number as conntrack -p takes it: ctlua's names, then
 * /etc/protocols (getprotobyname, so "igmp" works), then 0..255 in decimal.
 * -1 when it is none of them. */
int proto_lookup(const char *s)
{
	int p = proto_number(s, 1);
	if (p >= 0)
		return p;
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end)
		return v >= 0 && v <= 255 ? (int)v : -1;
	struct protoent *pe = getprotobyname(s);
	return pe && pe->p_proto >= 0 && pe->p_proto <= 255 ? pe->p_proto : -1;
}

/* proto = "tcp" | 6 | "6", or protonum; required. */
static int get_proto(struct ctx *c, int t, const char *path, int required)
{
	lua_State *L = c->L;
	int ty = field(L, t, "proto");
	int p = -1;
	if (ty == LUA_TSTRING) {
		const char *s = lua_tostring(L, -1);
		p = proto_lookup(s);
		if (p < 0)
			bad(c, path, "unknown protocol '%s'", s);
	} else if (ty == LUA_TNUMBER) {
		lua_Integer v = lua_tointeger(L, -1);
		if (!lua_isinteger(L, -1) || v < 0 || v > 255)
			bad(c, path, "protocol number out of range%s", NULL);
		p = (int)v;
	} else if (ty != LUA_TNIL) {
		bad(c, path, "string or integer expected, got %s", luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	if (p < 0) {
		lua_Integer v;
		if (opt_int(c, t, "protonum", "protonum", 0, 255, &v))
			p = (int)v;
	}
	if (p < 0 && required)
		bad(c, path, "missing (a protocol name or number)%s", NULL);
	return p;
}

/* family = "ipv4" | "ipv6"; 0 when absent. */
static int get_family(struct ctx *c, int t)
{
	const char *s = opt_str(c, t, "family", "family");
	int f = family_parse(s);
	return f >= 0 ? f : bad(c, "family", "\"ipv4\" or \"ipv6\" expected, got '%s'", s);
}

/* Reads an address field; sets *family when it was 0; raises on mismatch. */
static int get_addr(struct ctx *c, int t, const char *name, const char *path, int *family,
		    void *out, int required)
{
	const char *s = opt_str(c, t, name, path);
	if (!s) {
		if (required)
			bad(c, path, "missing (an address)%s", NULL);
		return 0;
	}
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, s, out) != 1)
		bad(c, path, "bad address '%s'", s);
	if (*family && *family != fam)
		bad(c, path, "address '%s' is not of the entry's family", s);
	*family = fam;
	return 1;
}

struct tuple_attrs { int src, dst, sport, dport, zone; };
static const struct tuple_attrs orig_attrs[2] = {
	{ ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST, ATTR_ORIG_PORT_SRC, ATTR_ORIG_PORT_DST, ATTR_ORIG_ZONE },
	{ ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST, ATTR_ORIG_PORT_SRC, ATTR_ORIG_PORT_DST, ATTR_ORIG_ZONE },
};
static const struct tuple_attrs repl_attrs[2] = {
	{ ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV4_DST, ATTR_REPL_PORT_SRC, ATTR_REPL_PORT_DST, ATTR_REPL_ZONE },
	{ ATTR_REPL_IPV6_SRC, ATTR_REPL_IPV6_DST, ATTR_REPL_PORT_SRC, ATTR_REPL_PORT_DST, ATTR_REPL_ZONE },
};

/* Fills one direction of ct from the tuple table at t (dir 0 orig, 1 reply).
 * Addresses required when need_addr; ports required for port protocols. flat: t is
 * the entry's own table (its zone is the entry's, set by the caller). */
static void put_tuple(struct ctx *c, int t, const char *name, struct nf_conntrack *ct, int dir,
		      int *family, int proto, int need_addr, int flat)
{
	char path[32];
	unsigned char a[16];
	int fam = *family;
	snprintf(path, sizeof(path), "%s.src", name);
	int has_src = get_addr(c, t, "src", path, &fam, a, need_addr);
	*family = fam;
	const struct tuple_attrs *ta = dir ? &repl_attrs[fam == AF_INET6] : &orig_attrs[fam == AF_INET6];
	if (has_src)
		nfct_set_attr(ct, ta->src, a);
	snprintf(path, sizeof(path), "%s.dst", name);
	if (get_addr(c, t, "dst", path, &fam, a, need_addr))
		nfct_set_attr(ct, ta->dst, a);
	*family = fam;
	lua_Integer v;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (dir == 0) {
			/* libnetfilter_conntrack derives the reply type from the orig one,
			 * by family: the family must be set first. */
			nfct_set_attr_u8(ct, ATTR_L3PROTO, (uint8_t)fam);
			snprintf(path, sizeof(path), "%s.type", name);
			if (opt_int(c, t, "type", path, 0, 255, &v))
				nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, (uint8_t)v);
			else if (need_addr)
				bad(c, path, "missing (ICMP type)%s", NULL);
			snprintf(path, sizeof(path), "%s.code", name);
			nfct_set_attr_u8(ct, ATTR_ICMP_CODE,
					 opt_int(c, t, "code", path, 0, 255, &v) ? (uint8_t)v : 0);
			snprintf(path, sizeof(path), "%s.id", name);
			nfct_set_attr_u16(ct, ATTR_ICMP_ID,
					  htons(opt_int(c, t, "id", path, 0, 65535, &v) ? (uint16_t)v : 0));
		}
	} else if (proto >= 0) {
		/* TCP and UDP always have ports in the kernel. The others have them only
		 * when the kernel tracks the protocol (DCCP is generic since Linux 6.16,
		 * SCTP, UDP-Lite and GRE can be built out): a listed entry then has none,
		 * and must still be usable as a key. Half a pair is always a mistake. */
		int always = proto == IPPROTO_TCP || proto == IPPROTO_UDP;
		int maybe = proto == IPPROTO_UDPLITE || proto == IPPROTO_SCTP ||
			    proto == IPPROTO_DCCP || proto == IPPROTO_GRE;
		char dpath[32];
		snprintf(path, sizeof(path), "%s.sport", name);
		snprintf(dpath, sizeof(dpath), "%s.dport", name);
		int has_s = opt_int(c, t, "sport", path, 0, 65535, &v);
		if (has_s)
			nfct_set_attr_u16(ct, ta->sport, htons((uint16_t)v));
		int has_d = opt_int(c, t, "dport", dpath, 0, 65535, &v);
		if (has_d)
			nfct_set_attr_u16(ct, ta->dport, htons((uint16_t)v));
		if (need_addr && (always || (maybe && (has_s || has_d))) && !(has_s && has_d))
			bad(c, has_s ? dpath : path, "missing (a port)%s", NULL);
	}
	/* A flat table's zone is the entry's (conntrack -w), not the direction's
	 * (--orig-zone): the kernel refuses both set apart from zone 0. */
	snprintf(path, sizeof(path), "%s.zone", name);
	if (!flat && opt_int(c, t, "zone", path, 0, 65535, &v))
		nfct_set_attr_u16(ct, ta->zone, (uint16_t)v);
}

/* Copies orig into reply, inverted (what the kernel's reply tuple is without NAT). */
static void invert_into_reply(struct nf_conntrack *ct, int family)
{
	int v6 = family == AF_INET6;
	const struct tuple_attrs *o = &orig_attrs[v6], *r = &repl_attrs[v6];
	nfct_set_attr(ct, r->src, nfct_get_attr(ct, o->dst));
	nfct_set_attr(ct, r->dst, nfct_get_attr(ct, o->src));
	if (nfct_attr_is_set(ct, o->sport))
		nfct_set_attr_u16(ct, r->dport, nfct_get_attr_u16(ct, o->sport));
	if (nfct_attr_is_set(ct, o->dport))
		nfct_set_attr_u16(ct, r->sport, nfct_get_attr_u16(ct, o->dport));
}

static const char *const status_names[] = {
	"expected", "seen_reply", "assured", "confirmed", "src_nat", "dst_nat",
	"seq_adjust", "src_nat_done", "dst_nat_done", "dying", "fixed_timeout",
	"template", "nat_clash", "helper", "offload", "hw_offload",
};

/* status = set {assured = true, ...} | list {"assured", ...} | integer bits */
static uint32_t get_bits(struct ctx *c, int t, const char *name, const char *const *names,
			 unsigned n, int *present)
{
	lua_State *L = c->L;
	int ty = field(L, t, name);
	uint32_t bits = 0;
	*present = ty != LUA_TNIL;
	if (ty == LUA_TNUMBER && lua_isinteger(L, -1)) {
		bits = (uint32_t)lua_tointeger(L, -1);
	} else if (ty == LUA_TTABLE) {
		int tt = lua_gettop(L);
		lua_pushnil(L);
		while (lua_next(L, tt)) {
			const char *flag = NULL;
			if (lua_type(L, -2) == LUA_TSTRING && lua_toboolean(L, -1))
				flag = lua_tostring(L, -2);
			else if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TSTRING)
				flag = lua_tostring(L, -1);
			if (flag) {
				unsigned i;
				for (i = 0; i < n && strcmp(flag, names[i]); i++)
					;
				if (i == n)
					bad(c, name, "unknown flag '%s'", flag);
				bits |= 1u << i;
			}
			lua_pop(L, 1);
		}
	} else if (ty != LUA_TNIL) {
		bad(c, name, "set of flag names expected, got %s", luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return bits;
}

/* src_nat / dst_nat = "ADDR" | {addr = "ADDR", port = N} (conntrack -I --src-nat /
 * --dst-nat): the kernel sets the binding up and rewrites the reply tuple. */
static void put_nat(struct ctx *c, int t, const char *name, struct nf_conntrack *ct, int family,
		    int a4, int a6, int aport)
{
	lua_State *L = c->L;
	int ty = field(L, t, name);
	unsigned char a[16];
	int fam = family;
	char path[32];
	if (ty == LUA_TSTRING) {
		lua_pop(L, 1);
		get_addr(c, t, name, name, &fam, a, 1);
	} else if (ty == LUA_TTABLE) {
		int nt = lua_gettop(L);
		lua_Integer v;
		snprintf(path, sizeof(path), "%s.addr", name);
		get_addr(c, nt, "addr", path, &fam, a, 1);
		snprintf(path, sizeof(path), "%s.port", name);
		if (opt_int(c, nt, "port", path, 0, 65535, &v))
			nfct_set_attr_u16(ct, aport, htons((uint16_t)v));
		lua_pop(L, 1);
	} else {
		if (ty != LUA_TNIL)
			bad(c, name, "address or {addr, port} expected, got %s", luaL_typename(L, -1));
		lua_pop(L, 1);
		return;
	}
	nfct_set_attr(ct, fam == AF_INET6 ? a6 : a4, a);
}

/* Fills ct from the table at idx. Tuple: t.orig or t itself ({proto, src, dst, sport,
 * dport} or ICMP {type, code, id}). BUILD_KEY: orig tuple, zone, id (get/delete/update).
 * BUILD_CREATE: also reply (inverted from orig when absent), timeout (required),
 * mark, status, helper, state, labels. Returns the family. */
int build_ct(lua_State *L, int idx, struct nf_conntrack *ct, int what, int arg, const char *fn)
{
	struct ctx c = { L, arg, fn };
	idx = lua_absindex(L, idx);
	check_table(L, idx, arg, fn);
	int family = get_family(&c, idx);
	int proto = get_proto(&c, idx, "proto", 1);
	nfct_set_attr_u8(ct, ATTR_L4PROTO, (uint8_t)proto);
	int ty = field(L, idx, "orig");
	int t = ty == LUA_TTABLE ? lua_gettop(L) : idx;
	if (ty != LUA_TTABLE && ty != LUA_TNIL)
		bad(&c, "orig", "table expected, got %s", luaL_typename(L, -1));
	put_tuple(&c, t, ty == LUA_TTABLE ? "orig" : "tuple", ct, 0, &family, proto, 1, ty != LUA_TTABLE);
	lua_pop(L, 1);
	nfct_set_attr_u8(ct, ATTR_L3PROTO, (uint8_t)family);

	lua_Integer v;
	if (opt_int(&c, idx, "zone", "zone", 0, 65535, &v))
		nfct_set_attr_u16(ct, ATTR_ZONE, (uint16_t)v);
	if (what == BUILD_KEY) {
		if (opt_int(&c, idx, "id", "id", 0, UINT32_MAX, &v))
			nfct_set_attr_u32(ct, ATTR_ID, (uint32_t)v);
		return family;
	}

	ty = field(L, idx, "reply");
	if (ty == LUA_TTABLE) {
		put_tuple(&c, lua_gettop(L), "reply", ct, 1, &family, proto, 1, 0);
	} else if (ty == LUA_TNIL) {
		invert_into_reply(ct, family);
	} else {
		bad(&c, "reply", "table expected, got %s", luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, (uint8_t)family);
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, (uint8_t)proto);
	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)family);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, (uint8_t)proto);

	if (!opt_int(&c, idx, "timeout", "timeout", 0, UINT32_MAX, &v))
		bad(&c, "timeout", "missing (seconds)%s", NULL);
	nfct_set_attr_u32(ct, ATTR_TIMEOUT, (uint32_t)v);
	build_changes(L, idx, ct, arg, fn, NULL);
	const char *st = opt_str(&c, idx, "state", "state");
	if (st) {
		unsigned i;
		if (proto != IPPROTO_TCP)
			bad(&c, "state", "only TCP states can be set, not '%s'", st);
		for (i = 0; i < TCP_STATES && strcasecmp(st, tcp_states[i]); i++)
			;
		if (i == TCP_STATES && strcasecmp(st, "LISTEN") == 0)
			i = TCP_STATE_LISTEN;   /* conntrack's name for it */
		if (i == TCP_STATES)
			bad(&c, "state", "unknown TCP state '%s'", st);
		nfct_set_attr_u8(ct, ATTR_TCP_STATE, (uint8_t)i);
	}
	const char *helper = opt_str(&c, idx, "helper", "helper");
	if (helper)
		nfct_set_attr(ct, ATTR_HELPER_NAME, helper);
	put_nat(&c, idx, "src_nat", ct, family, ATTR_SNAT_IPV4, ATTR_SNAT_IPV6, ATTR_SNAT_PORT);
	put_nat(&c, idx, "dst_nat", ct, family, ATTR_DNAT_IPV4, ATTR_DNAT_IPV6, ATTR_DNAT_PORT);
	return family;
}

static struct nfct_labelmap *labelmap;
static int labelmap_tried;

/* labels = set {name = true} | list of names or bit numbers -> bitmask (owned by ct) */
static void put_labels(struct ctx *c, int t, struct nf_conntrack *ct, int attr, const char *name)
{
	lua_State *L = c->L;
	int ty = field(L, t, name);
	if (ty == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (ty != LUA_TTABLE)
		bad(c, name, "set of label names expected, got %s", luaL_typename(L, -1));
	if (!labelmap_tried)
		labelmap = nfct_labelmap_new(NULL), labelmap_tried = 1;
	struct nfct_bitmask *b = nfct_bitmask_new(127);
	int tt = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, tt)) {
		int isnum = lua_type(L, -2) == LUA_TNUMBER;
		const char *lname = NULL;
		lua_Integer bit = -1;
		if (!isnum && lua_type(L, -2) == LUA_TSTRING && lua_toboolean(L, -1))
			lname = lua_tostring(L, -2);
		else if (isnum && lua_type(L, -1) == LUA_TSTRING)
			lname = lua_tostring(L, -1);
		else if (isnum && lua_type(L, -1) == LUA_TNUMBER)
			bit = lua_tointeger(L, -1);
		if (lname) {
			char *end;
			long v = strtol(lname, &end, 10);
			if (*lname && !*end)
				bit = v;
			else if (labelmap)
				bit = nfct_labelmap_get_bit(labelmap, lname);
			if (bit < 0) {
				nfct_bitmask_destroy(b);
				bad(c, name, "unknown label '%s' (not in connlabel.conf)", lname);
			}
		}
		if (bit > 127) {
			nfct_bitmask_destroy(b);
			bad(c, name, "label bit out of range%s", NULL);
		}
		if (bit >= 0)
			nfct_bitmask_set_bit(b, (unsigned)bit);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	nfct_set_attr(ct, attr, b);
}

/* Changes for create/update: mark, status, timeout (update only when asked), labels.
 * mask: when non-NULL, changes.mask is read into it (0 = none). */
void build_changes(lua_State *L, int idx, struct nf_conntrack *ct, int arg, const char *fn,
		   uint32_t *mask)
{
	struct ctx c = { L, arg, fn };
	idx = lua_absindex(L, idx);
	check_table(L, idx, arg, fn);
	lua_Integer v;
	if (opt_int(&c, idx, "mark", "mark", 0, UINT32_MAX, &v))
		nfct_set_attr_u32(ct, ATTR_MARK, (uint32_t)v);
	if (mask) {
		*mask = 0;
		if (opt_int(&c, idx, "mask", "mask", 0, UINT32_MAX, &v))
			*mask = (uint32_t)v;
		if (opt_int(&c, idx, "timeout", "timeout", 0, UINT32_MAX, &v))
			nfct_set_attr_u32(ct, ATTR_TIMEOUT, (uint32_t)v);
	}
	int present;
	uint32_t bits = get_bits(&c, idx, "status", status_names,
				 sizeof(status_names) / sizeof(status_names[0]), &present);
	if (present)
		nfct_set_attr_u32(ct, ATTR_STATUS, bits);
	put_labels(&c, idx, ct, ATTR_CONNLABELS, "labels");
	if (mask)
		put_labels(&c, idx, ct, ATTR_CONNLABELS_MASK, "labels_mask");
}

static const char *const exp_flag_names[] = { "permanent", "inactive", "userspace" };

/* A tuple-only conntrack object for an expectation part (expected, mask, master). */
static struct nf_conntrack *exp_tuple(struct ctx *c, int t, const char *name, int *family,
				      int proto, int need)
{
	lua_State *L = c->L;
	int ty = field(L, t, name);
	if (ty == LUA_TNIL) {
		lua_pop(L, 1);
		if (need)
			bad(c, name, "missing (a tuple table)%s", NULL);
		return NULL;
	}
	if (ty != LUA_TTABLE)
		bad(c, name, "table expected, got %s", luaL_typename(L, -1));
	int tt = lua_gettop(L);
	struct nf_conntrack *ct = nfct_new();
	if (!ct)
		luaL_error(L, "out of memory");
	/* The tuple's own proto (master) overrides the expectation's. */
	int p = get_proto(c, tt, name, 0);
	if (p < 0)
		p = proto;
	nfct_set_attr_u8(ct, ATTR_L4PROTO, (uint8_t)p);
	put_tuple(c, tt, name, ct, 0, family, p, 1, 0);
	nfct_set_attr_u8(ct, ATTR_L3PROTO, (uint8_t)*family);
	lua_pop(L, 1);
	return ct;
}

/* Fills exp from the table at idx (an expect event/list table or the same shape).
 * BUILD_KEY needs tuple (get/delete); BUILD_CREATE needs master, tuple, mask, timeout,
 * and x, which receives class, fn and nat (zeroed here) for build_exp_put. */
void build_exp(lua_State *L, int idx, struct nf_expect *exp, struct nf_conntrack **parts,
	       int what, int arg, const char *fn, struct exp_extra *x)
{
	struct ctx c = { L, arg, fn };
	idx = lua_absindex(L, idx);
	check_table(L, idx, arg, fn);
	int family = get_family(&c, idx);
	int proto = get_proto(&c, idx, "proto", 1);
	parts[0] = exp_tuple(&c, idx, "tuple", &family, proto, 1);
	nfexp_set_attr(exp, ATTR_EXP_EXPECTED, parts[0]);
	lua_Integer v;
	if (opt_int(&c, idx, "zone", "zone", 0, 65535, &v))
		nfexp_set_attr_u16(exp, ATTR_EXP_ZONE, (uint16_t)v);
	if (what == BUILD_KEY)
		return;
	memset(x, 0, sizeof(*x));
	parts[1] = exp_tuple(&c, idx, "mask", &family, proto, 1);
	parts[2] = exp_tuple(&c, idx, "master", &family, proto, 1);
	nfexp_set_attr(exp, ATTR_EXP_MASK, parts[1]);
	nfexp_set_attr(exp, ATTR_EXP_MASTER, parts[2]);
	if (!opt_int(&c, idx, "timeout", "timeout", 0, UINT32_MAX, &v))
		bad(&c, "timeout", "missing (seconds)%s", NULL);
	nfexp_set_attr_u32(exp, ATTR_EXP_TIMEOUT, (uint32_t)v);
	/* class, fn and nat are not encoded by libnetfilter_conntrack's builder:
	 * they are kept in x and put by build_exp_put. */
	const char *helper = opt_str(&c, idx, "helper", "helper");
	if (helper)
		nfexp_set_attr(exp, ATTR_EXP_HELPER_NAME, helper);
	if (opt_int(&c, idx, "class", "class", 0, UINT32_MAX, &v)) {
		/* The kernel reads a class only with a helper named: refuse, not drop. */
		if (v && !helper)
			bad(&c, "class", "needs helper (the kernel ignores a class without one)%s", NULL);
		x->has_class = 1, x->class = (uint32_t)v;
	}
	x->fn = opt_str(&c, idx, "fn", "fn");
	int present;
	uint32_t bits = get_bits(&c, idx, "flags", exp_flag_names, 3, &present);
	if (present)
		nfexp_set_attr_u32(exp, ATTR_EXP_FLAGS, bits);
	int ty = field(L, idx, "nat");
	if (ty == LUA_TTABLE) {
		int nt = lua_gettop(L);
		const char *dir = opt_str(&c, nt, "dir", "nat.dir");
		if (dir && strcmp(dir, "reply") && strcmp(dir, "orig"))
			bad(&c, "nat.dir", "\"orig\" or \"reply\" expected, got '%s'", dir);
		parts[3] = exp_tuple(&c, idx, "nat", &family, proto, 1);
		x->nat = parts[3];
		x->nat_dir = dir && strcmp(dir, "reply") == 0 ? 1 : 0;
	} else if (ty != LUA_TNIL) {
		bad(&c, "nat", "table expected, got %s", luaL_typename(L, -1));
	}
	lua_pop(L, 1);
}

/* A CTA_TUPLE_* nest from the orig tuple of ct (addresses, protocol, ports). */
static void put_tuple_nest(struct nlmsghdr *nlh, uint16_t type, const struct nf_conntrack *ct)
{
	struct nlattr *tn = mnl_attr_nest_start(nlh, type);
	struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	if (nfct_get_attr_u8(ct, ATTR_L3PROTO) == AF_INET6) {
		if (nfct_attr_is_set(ct, ATTR_ORIG_IPV6_SRC))
			mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC));
		if (nfct_attr_is_set(ct, ATTR_ORIG_IPV6_DST))
			mnl_attr_put(nlh, CTA_IP_V6_DST, 16, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST));
	} else {
		if (nfct_attr_is_set(ct, ATTR_ORIG_IPV4_SRC))
			mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
		if (nfct_attr_is_set(ct, ATTR_ORIG_IPV4_DST))
			mnl_attr_put_u32(nlh, CTA_IP_V4_DST, nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
	}
	mnl_attr_nest_end(nlh, ip);
	struct nlattr *pn = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, nfct_get_attr_u8(ct, ATTR_L4PROTO));
	if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC))   /* already in network order */
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
	if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_DST))
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	mnl_attr_nest_end(nlh, pn);
	mnl_attr_nest_end(nlh, tn);
}

/* Appends what build_exp kept in x (CTA_EXPECT_CLASS, _FN, _NAT) to a built request. */
void build_exp_put(struct nlmsghdr *nlh, const struct exp_extra *x)
{
	if (x->has_class)
		mnl_attr_put_u32(nlh, CTA_EXPECT_CLASS, htonl(x->class));
	if (x->fn)
		mnl_attr_put_strz(nlh, CTA_EXPECT_FN, x->fn);
	if (x->nat) {
		struct nlattr *n = mnl_attr_nest_start(nlh, CTA_EXPECT_NAT);
		mnl_attr_put_u32(nlh, CTA_EXPECT_NAT_DIR, htonl(x->nat_dir));
		put_tuple_nest(nlh, CTA_EXPECT_NAT_TUPLE, x->nat);
		mnl_attr_nest_end(nlh, n);
	}
}
