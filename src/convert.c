/* convert.c — conntrack and expectation objects into Lua tables.
 *
 * Driven by the field lists of fields.h. Runs inside a protected call (event.c), so
 * raising on out-of-memory is safe. Key strings are C literals: Lua caches their
 * interned strings by address, so setting a field costs no hashing of the key. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/linux_nfnetlink_conntrack.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "fields.h"
#include "cmd.h"

enum kind {
	F_EVENT, F_FAMILY, F_PROTO, F_U8, F_U16, F_U32, F_STATE, F_TUPLE, F_STATUS, F_STR,
	F_LABELS, F_TSTAMP, F_TIME, F_PORTID, F_PROGNAME, F_SELF, F_NETNS,
	F_EXP_FAMILY, F_EXP_PROTO, F_EXP_PROTONUM, F_EXP_TUPLE, F_EXP_FLAGS, F_EXP_NAT,
	T_SRC, T_DST, T_PORT, T_ICMP, T_U64, T_U16,
};

struct field { const char *name; enum kind kind; int attr; const char *doc; };
struct tfield { const char *name; enum kind kind; int attr[2]; const char *doc; };

#define FIELD(n, k, a, d) { #n, k, a, d },
#define TFIELD(n, k, ao, ar, d) { #n, k, { ao, ar }, d },
static const struct field ct_fields[] = { CT_FIELDS(FIELD) };
static const struct field exp_fields[] = { EXP_FIELDS(FIELD) };
static const struct tfield tuple_fields[] = { TUPLE_FIELDS(TFIELD) };
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *const ev_kind_name[EV_KINDS] = {
	"new", "update", "destroy", "expect-new", "expect-destroy",
};

/* Names as libnetfilter_conntrack prints them, so ct.format() can reproduce conntrack. */
static const char *const tcp_states[] = {
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
/* Bit i of the status word; names follow the kernel's IPS_* bits. */
static const char *const status_bits[] = {
	"expected", "seen_reply", "assured", "confirmed", "src_nat", "dst_nat",
	"seq_adjust", "src_nat_done", "dst_nat_done", "dying", "fixed_timeout",
	"template", "nat_clash", "helper", "offload", "hw_offload",
};
static const char *const exp_flag_bits[] = { "permanent", "inactive", "userspace" };

static struct nfct_labelmap *labelmap;

/* Every field name as an interned Lua string in one array (registry), so setting a
 * field is an array read and a rawset: no strcmp in lua_setfield's string cache on
 * the hot path. K_* are the array positions of each group of names. Keyed by this
 * variable's address, so each Lua state (a reload makes a new one) has its own. */
static const char keys_key = 0;
#define K_CT 1
#define K_TUPLE (K_CT + (int)NELEM(ct_fields))
#define K_EXP (K_TUPLE + (int)NELEM(tuple_fields))
#define K_STATUS (K_EXP + (int)NELEM(exp_fields))
#define K_EXPFLAG (K_STATUS + (int)NELEM(status_bits))
#define K_PROTO (K_EXPFLAG + (int)NELEM(exp_flag_bits))
#define K_PROTONUM (K_PROTO + 1)
#define K_DIR (K_PROTO + 2)

static void add_keys(lua_State *L, int *n, const char *const *names, unsigned count, size_t stride)
{
	for (unsigned i = 0; i < count; i++) {
		lua_pushstring(L, *(const char *const *)((const char *)names + i * stride));
		lua_rawseti(L, -2, ++*n);
	}
}

/* Pushes the keys table; returns its absolute index. */
static int push_keys(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &keys_key) == LUA_TNIL) {
		lua_pop(L, 1);
		int n = 0;
		lua_createtable(L, K_DIR, 0);
		add_keys(L, &n, &ct_fields[0].name, NELEM(ct_fields), sizeof(ct_fields[0]));
		add_keys(L, &n, &tuple_fields[0].name, NELEM(tuple_fields), sizeof(tuple_fields[0]));
		add_keys(L, &n, &exp_fields[0].name, NELEM(exp_fields), sizeof(exp_fields[0]));
		add_keys(L, &n, status_bits, NELEM(status_bits), sizeof(status_bits[0]));
		add_keys(L, &n, exp_flag_bits, NELEM(exp_flag_bits), sizeof(exp_flag_bits[0]));
		static const char *const extra[] = { "proto", "protonum", "dir" };
		add_keys(L, &n, extra, 3, sizeof(extra[0]));
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &keys_key);
	}
	return lua_gettop(L);
}

/* t[keys[k]] = value on top; the table is just below the value. */
static inline void setk(lua_State *L, int kidx, int k)
{
	lua_rawgeti(L, kidx, k);
	lua_insert(L, -2);
	lua_rawset(L, -3);
}

void convert_init(void)
{
	/* Missing connlabel.conf is normal: labels then show as bit numbers. */
	labelmap = nfct_labelmap_new(NULL);
}

static const char *proto_name(unsigned p)
{
	switch (p) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_DCCP: return "dccp";
	case IPPROTO_GRE: return "gre";
	case IPPROTO_UDPLITE: return "udplite";
	}
	return NULL;
}

static void push_proto(lua_State *L, unsigned p)
{
	const char *n = proto_name(p);
	if (n)
		lua_pushstring(L, n);
	else
		lua_pushfstring(L, "%d", (int)p);
}

static void push_family(lua_State *L, unsigned f)
{
	if (f == AF_INET)
		lua_pushliteral(L, "ipv4");
	else if (f == AF_INET6)
		lua_pushliteral(L, "ipv6");
	else
		lua_pushfstring(L, "%d", (int)f);
}

static void push_set(lua_State *L, uint32_t bits, int kidx, int kbase, unsigned n)
{
	lua_createtable(L, 0, 4);
	for (unsigned i = 0; i < 32; i++) {
		if (!(bits & (1u << i)))
			continue;
		if (i < n)
			lua_rawgeti(L, kidx, kbase + (int)i);
		else
			lua_pushfstring(L, "bit%d", (int)i);
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
	}
}

/* Reply-direction ICMP type/code/id are kept by libnetfilter_conntrack but have no
 * getter, so they are read straight from the message. */
struct icmp_reply { int found; uint8_t type, code; uint16_t id; };

static int icmp_proto_cb(const struct nlattr *a, void *data)
{
	struct icmp_reply *r = data;
	switch (mnl_attr_get_type(a)) {
	case CTA_PROTO_ICMP_TYPE: case CTA_PROTO_ICMPV6_TYPE:
		if (mnl_attr_validate(a, MNL_TYPE_U8) == 0)
			r->type = mnl_attr_get_u8(a), r->found = 1;
		break;
	case CTA_PROTO_ICMP_CODE: case CTA_PROTO_ICMPV6_CODE:
		if (mnl_attr_validate(a, MNL_TYPE_U8) == 0)
			r->code = mnl_attr_get_u8(a);
		break;
	case CTA_PROTO_ICMP_ID: case CTA_PROTO_ICMPV6_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
			r->id = ntohs(mnl_attr_get_u16(a));
		break;
	}
	return MNL_CB_OK;
}

static int icmp_tuple_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_TUPLE_PROTO && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
		mnl_attr_parse_nested(a, icmp_proto_cb, data);
	return MNL_CB_OK;
}

static int icmp_top_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_TUPLE_REPLY && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
		mnl_attr_parse_nested(a, icmp_tuple_cb, data);
	return MNL_CB_OK;
}

static void icmp_reply(const struct nlmsghdr *nlh, struct icmp_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (nlh)
		mnl_attr_parse(nlh, sizeof(struct nfgenmsg), icmp_top_cb, r);
}

/* Dotted quad by hand: glibc's inet_ntop goes through sprintf, a visible share of
 * the cost of listing a large table. */
static size_t ipv4_text(const unsigned char *b, char *out)
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

static void push_addr(lua_State *L, int family, const void *a)
{
	char buf[INET6_ADDRSTRLEN];
	if (a && family == AF_INET)
		lua_pushlstring(L, buf, ipv4_text(a, buf));
	else if (a && inet_ntop(family, a, buf, sizeof(buf)))
		lua_pushstring(L, buf);
	else
		lua_pushliteral(L, "?");
}

/* Pushes one direction (0 orig, 1 reply) of ct as a tuple table. */
static void push_tuple(lua_State *L, const struct nf_conntrack *ct, int dir,
		       const struct nlmsghdr *nlh, int kidx)
{
	unsigned family = nfct_get_attr_u8(ct, ATTR_L3PROTO);
	unsigned proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	int icmp = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
	struct icmp_reply r = { 0 };
	if (icmp && dir == 1)
		icmp_reply(nlh, &r);

	lua_createtable(L, 0, 6);
	for (unsigned i = 0; i < NELEM(tuple_fields); i++) {
		const struct tfield *f = &tuple_fields[i];
		int attr = f->attr[dir];
		switch (f->kind) {
		case T_SRC: case T_DST: {
			int dst = f->kind == T_DST;
			int a = family == AF_INET6
				? (dir ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC) + dst
				: (dir ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC) + dst;
			if (!nfct_attr_is_set(ct, a))
				continue;
			push_addr(L, family == AF_INET6 ? AF_INET6 : AF_INET, nfct_get_attr(ct, a));
			break;
		}
		case T_PORT:
			if (icmp || !nfct_attr_is_set(ct, attr))
				continue;
			lua_pushinteger(L, ntohs(nfct_get_attr_u16(ct, attr)));
			break;
		case T_ICMP:
			if (!icmp)
				continue;
			if (dir == 0) {
				static const int a[] = { ATTR_ICMP_TYPE, ATTR_ICMP_CODE, ATTR_ICMP_ID };
				if (!nfct_attr_is_set(ct, a[attr]))
					continue;
				lua_pushinteger(L, attr == 2 ? ntohs(nfct_get_attr_u16(ct, a[attr]))
							     : nfct_get_attr_u8(ct, a[attr]));
			} else {
				if (!r.found)
					continue;
				lua_pushinteger(L, attr == 0 ? r.type : attr == 1 ? r.code : r.id);
			}
			break;
		case T_U64:
			if (!nfct_attr_is_set(ct, attr))
				continue;
			lua_pushinteger(L, (lua_Integer)nfct_get_attr_u64(ct, attr));
			break;
		case T_U16:
			if (!nfct_attr_is_set(ct, attr))
				continue;
			lua_pushinteger(L, nfct_get_attr_u16(ct, attr));
			break;
		default:
			continue;
		}
		setk(L, kidx, K_TUPLE + (int)i);
	}
}

/* The netlink socket of portid, as its inode (from /proc/net/netlink). */
static unsigned long portid_inode(uint32_t portid)
{
	FILE *f = fopen("/proc/net/netlink", "re");
	char line[256];
	unsigned long ino = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long sk, i;
		int eth;
		unsigned pid;
		if (sscanf(line, "%lx %d %u %*x %*d %*d %*d %*d %*d %lu", &sk, &eth, &pid, &i) == 4 &&
		    eth == NETLINK_NETFILTER && pid == portid) {
			ino = i;
			break;
		}
	}
	fclose(f);
	return ino;
}

/* The comm of the process holding socket inode ino, scanning /proc/PID/fd. */
static int inode_owner(unsigned long ino, char *name, size_t n)
{
	char want[64], path[600], link[64];
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	DIR *proc = opendir("/proc");
	struct dirent *p;
	int found = 0;
	while (proc && !found && (p = readdir(proc))) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		DIR *fds = opendir(path);
		struct dirent *fd;
		while (fds && !found && (fd = readdir(fds))) {
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, fd->d_name);
			ssize_t l = readlink(path, link, sizeof(link) - 1);
			if (l > 0 && (link[l] = 0, strcmp(link, want) == 0))
				found = 1;
		}
		if (fds)
			closedir(fds);
		if (found) {
			snprintf(path, sizeof(path), "/proc/%s/comm", p->d_name);
			FILE *f = fopen(path, "re");
			name[0] = 0;
			if (f) {
				if (fgets(name, (int)n, f))
					name[strcspn(name, "\n")] = 0;
				fclose(f);
			}
		}
	}
	if (proc)
		closedir(proc);
	return found && name[0];
}

/* The name of the process owning netlink portid (a process's later sockets get
 * random portids, so the pid is found through the socket inode). Cached for the
 * last portid: a sweep makes many events of one portid. */
static void push_progname(lua_State *L, uint32_t portid)
{
	static uint32_t last_pid;
	static char last_name[64];
	if (portid != last_pid) {
		last_name[0] = 0;
		unsigned long ino = portid_inode(portid);
		if (ino)
			inode_owner(ino, last_name, sizeof(last_name));
		last_pid = portid;
	}
	if (last_name[0])
		lua_pushstring(L, last_name);
	else
		lua_pushnil(L);
}

/* Fields common to both event kinds; returns 0 when the field was not pushed. */
static int push_common(lua_State *L, const struct field *f, const struct nlmsghdr *nlh,
		       enum ev_kind kind, double now)
{
	switch (f->kind) {
	case F_EVENT:
		if (kind == EV_ENTRY)
			return 0;
		lua_pushstring(L, ev_kind_name[kind]);
		return 1;
	case F_TIME:
		if (kind == EV_ENTRY)
			return 0;
		lua_pushnumber(L, now);
		return 1;
	case F_SELF:
		if (!nlh || nlh->nlmsg_pid == 0 || kind == EV_ENTRY || nlh->nlmsg_pid != cmd_portid_ns(event_ns))
			return 0;
		lua_pushboolean(L, 1);
		return 1;
	case F_PORTID:
		if (!nlh || nlh->nlmsg_pid == 0 || kind == EV_ENTRY)
			return 0;
		lua_pushinteger(L, nlh->nlmsg_pid);
		return 1;
	case F_NETNS:
		if (!netns_mode || !netns_name(event_ns))
			return 0;
		lua_pushstring(L, netns_name(event_ns));
		return 1;
	case F_PROGNAME:
		if (!nlh || nlh->nlmsg_pid == 0 || kind == EV_ENTRY)
			return 0;
		push_progname(L, nlh->nlmsg_pid);
		return !lua_isnil(L, -1) || (lua_pop(L, 1), 0);
	default:
		return 0;
	}
}

void convert_ct(lua_State *L, const struct nlmsghdr *nlh, const struct nf_conntrack *ct,
		enum ev_kind kind, double now)
{
	int kidx = push_keys(L);
	lua_createtable(L, 0, 16);
	for (unsigned i = 0; i < NELEM(ct_fields); i++) {
		const struct field *f = &ct_fields[i];
		int a = f->attr;
		switch (f->kind) {
		case F_FAMILY:
			push_family(L, nfct_get_attr_u8(ct, ATTR_L3PROTO));
			break;
		case F_PROTO:
			if (!nfct_attr_is_set(ct, a))
				continue;
			push_proto(L, nfct_get_attr_u8(ct, a));
			break;
		case F_U8:
			if (!nfct_attr_is_set(ct, a))
				continue;
			lua_pushinteger(L, nfct_get_attr_u8(ct, a));
			break;
		case F_U16:
			if (!nfct_attr_is_set(ct, a))
				continue;
			lua_pushinteger(L, nfct_get_attr_u16(ct, a));
			break;
		case F_U32:
			if (!nfct_attr_is_set(ct, a))
				continue;
			lua_pushinteger(L, nfct_get_attr_u32(ct, a));
			break;
		case F_STR:
			if (!nfct_attr_is_set(ct, a))
				continue;
			lua_pushstring(L, nfct_get_attr(ct, a));
			break;
		case F_STATE: {
			const char *s = NULL;
			unsigned v;
			if (nfct_attr_is_set(ct, ATTR_TCP_STATE)) {
				v = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
				s = v < NELEM(tcp_states) ? tcp_states[v] : "UNKNOWN";
			} else if (nfct_attr_is_set(ct, ATTR_SCTP_STATE)) {
				v = nfct_get_attr_u8(ct, ATTR_SCTP_STATE);
				s = v < NELEM(sctp_states) ? sctp_states[v] : "UNKNOWN";
			} else if (nfct_attr_is_set(ct, ATTR_DCCP_STATE)) {
				v = nfct_get_attr_u8(ct, ATTR_DCCP_STATE);
				s = v < NELEM(dccp_states) ? dccp_states[v] : "UNKNOWN";
			}
			if (!s)
				continue;
			lua_pushstring(L, s);
			break;
		}
		case F_TUPLE:
			push_tuple(L, ct, a, nlh, kidx);
			break;
		case F_STATUS:
			if (!nfct_attr_is_set(ct, a))
				continue;
			push_set(L, nfct_get_attr_u32(ct, a), kidx, K_STATUS, NELEM(status_bits));
			break;
		case F_LABELS: {
			const struct nfct_bitmask *b = nfct_get_attr(ct, a);
			if (!nfct_attr_is_set(ct, a) || !b)
				continue;
			lua_createtable(L, 0, 2);
			unsigned max = nfct_bitmask_maxbit(b);
			for (unsigned bit = 0; bit <= max; bit++) {
				if (!nfct_bitmask_test_bit(b, bit))
					continue;
				const char *n = labelmap ? nfct_labelmap_get_name(labelmap, bit) : NULL;
				if (n && *n)
					lua_pushstring(L, n);
				else
					lua_pushfstring(L, "%d", (int)bit);
				lua_pushboolean(L, 1);
				lua_rawset(L, -3);
			}
			break;
		}
		case F_TSTAMP:
			if (!nfct_attr_is_set(ct, a))
				continue;
			lua_pushnumber(L, (double)nfct_get_attr_u64(ct, a) / 1e9);
			break;
		default:
			if (!push_common(L, f, nlh, kind, now))
				continue;
		}
		setk(L, kidx, K_CT + (int)i);
	}
	lua_remove(L, kidx);
}

/* An expectation's tuples are conntrack objects holding their orig direction. */
void convert_exp(lua_State *L, const struct nlmsghdr *nlh, const struct nf_expect *exp,
		 enum ev_kind kind, double now)
{
	const struct nf_conntrack *expected = nfexp_attr_is_set(exp, ATTR_EXP_EXPECTED)
		? nfexp_get_attr(exp, ATTR_EXP_EXPECTED) : NULL;
	int kidx = push_keys(L);
	lua_createtable(L, 0, 14);
	for (unsigned i = 0; i < NELEM(exp_fields); i++) {
		const struct field *f = &exp_fields[i];
		int a = f->attr;
		switch (f->kind) {
		case F_EXP_FAMILY:
			if (!expected)
				continue;
			push_family(L, nfct_get_attr_u8(expected, ATTR_L3PROTO));
			break;
		case F_EXP_PROTO:
		case F_EXP_PROTONUM:
			if (!expected || !nfct_attr_is_set(expected, ATTR_L4PROTO))
				continue;
			if (f->kind == F_EXP_PROTO)
				push_proto(L, nfct_get_attr_u8(expected, ATTR_L4PROTO));
			else
				lua_pushinteger(L, nfct_get_attr_u8(expected, ATTR_L4PROTO));
			break;
		case F_U16:
			if (!nfexp_attr_is_set(exp, a))
				continue;
			lua_pushinteger(L, nfexp_get_attr_u16(exp, a));
			break;
		case F_U32:
			if (!nfexp_attr_is_set(exp, a))
				continue;
			lua_pushinteger(L, nfexp_get_attr_u32(exp, a));
			break;
		case F_STR: {
			const char *s = nfexp_attr_is_set(exp, a) ? nfexp_get_attr(exp, a) : NULL;
			if (!s || !*s)
				continue;
			lua_pushstring(L, s);
			break;
		}
		case F_EXP_TUPLE: {
			if (!nfexp_attr_is_set(exp, a))
				continue;
			const struct nf_conntrack *t = nfexp_get_attr(exp, a);
			push_tuple(L, t, 0, NULL, kidx);
			if (a == ATTR_EXP_MASTER && nfct_attr_is_set(t, ATTR_L4PROTO)) {
				push_proto(L, nfct_get_attr_u8(t, ATTR_L4PROTO));
				setk(L, kidx, K_PROTO);
				lua_pushinteger(L, nfct_get_attr_u8(t, ATTR_L4PROTO));
				setk(L, kidx, K_PROTONUM);
			}
			break;
		}
		case F_EXP_FLAGS:
			push_set(L, nfexp_attr_is_set(exp, a) ? nfexp_get_attr_u32(exp, a) : 0,
				 kidx, K_EXPFLAG, NELEM(exp_flag_bits));
			break;
		case F_EXP_NAT:
			if (!nfexp_attr_is_set(exp, a))
				continue;
			push_tuple(L, nfexp_get_attr(exp, a), 0, NULL, kidx);
			if (nfexp_attr_is_set(exp, ATTR_EXP_NAT_DIR)) {
				lua_pushstring(L, nfexp_get_attr_u32(exp, ATTR_EXP_NAT_DIR) ? "reply" : "orig");
				setk(L, kidx, K_DIR);
			}
			break;
		default:
			if (!push_common(L, f, nlh, kind, now))
				continue;
		}
		setk(L, kidx, K_EXP + (int)i);
	}
	lua_remove(L, kidx);
}

/* Parse targets, kept across calls so that an error raised mid-conversion (out of
 * memory) leaks nothing: the next call frees them. */
static struct nf_conntrack *msg_ct;
static struct nf_expect *msg_exp;

/* Parses a conntrack (exp = 0) or expectation (exp = 1) message and pushes its table.
 * Returns 1, or 0 with nothing pushed when the message does not parse. */
int convert_msg(lua_State *L, const struct nlmsghdr *nlh, int exp, enum ev_kind kind, double now)
{
	if (nlcheck_msg(nlh, exp) < 0)
		return 0;
	/* Only LUA_MINSTACK slots are sure to be there; reserve what a full event
	 * with its nested tables may use rather than count on slack. */
	luaL_checkstack(L, 48, "event conversion");
	if (exp) {
		if (msg_exp)
			nfexp_destroy(msg_exp);
		if (!(msg_exp = nfexp_new()))
			return luaL_error(L, "out of memory");
		if (nfexp_nlmsg_parse(nlh, msg_exp) < 0)
			return 0;
		convert_exp(L, nlh, msg_exp, kind, now);
		return 1;
	}
	/* Reuse the parse target (no malloc per event) unless the last message left
	 * heap-owned attributes in it; resetting copies a pristine object over it. */
	static struct nf_conntrack *blank;
	if (!blank && !(blank = nfct_new()))
		return luaL_error(L, "out of memory");
	if (msg_ct && (nfct_attr_is_set(msg_ct, ATTR_SECCTX) || nfct_attr_is_set(msg_ct, ATTR_CONNLABELS) ||
		       nfct_attr_is_set(msg_ct, ATTR_CONNLABELS_MASK) || nfct_attr_is_set(msg_ct, ATTR_HELPER_INFO))) {
		nfct_destroy(msg_ct);
		msg_ct = NULL;
	}
	if (msg_ct)
		nfct_copy(msg_ct, blank, NFCT_CP_OVERRIDE);
	else if (!(msg_ct = nfct_new()))
		return luaL_error(L, "out of memory");
	if (nfct_nlmsg_parse(nlh, msg_ct) < 0)
		return 0;
	convert_ct(L, nlh, msg_ct, kind, now);
	return 1;
}

void convert_free(void)
{
	if (msg_ct)
		nfct_destroy(msg_ct), msg_ct = NULL;
	if (msg_exp)
		nfexp_destroy(msg_exp), msg_exp = NULL;
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

/* core.fields() -> { conntrack = {names}, expect = {names}, tuple = {names} } */
void convert_push_fields(lua_State *L)
{
	lua_createtable(L, 0, 3);
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
