/* decode.c — check and decode a conntrack or expectation message in one walk.
 *
 * libnetfilter_conntrack ends the process ("ABI breakage") when an attribute it
 * knows has the wrong size. The kernel never sends one, but canned input
 * (--netlink-file) can say anything, and so would a kernel whose ABI changed: such a
 * message must be a counted parse error, not an exit. The schema below lists the
 * attributes the library checks (or asserts on), what each must hold, and where
 * its value goes in struct ctev; unknown ones are skipped, as the library skips
 * them. The values are what the library would have returned for the message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <endian.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include "base.h"
#include "decode.h"

enum kind { SKIP, U8, U16, U32, U64, STR, FNAME, V6ADDR, TCPFLAGS, NEST };

/* Where a value goes. For a nest: which tuple it fills (W_TUPLE + index), or
 * W_SAME (the tuple of the enclosing nest), or W_NONE. */
enum what {
	W_NONE, W_SAME,
	W_V4SRC, W_V4DST, W_V6SRC, W_V6DST, W_PROTONUM, W_SPORT, W_DPORT,
	W_ICMPID, W_ICMPTYPE, W_ICMPCODE, W_TZONE, W_PACKETS, W_BYTES, W_PACKETS32, W_BYTES32,
	W_TCPSTATE, W_SCTPSTATE, W_DCCPSTATE, W_VTAG0, W_VTAG1, W_DCCPROLE, W_HELPER, W_SECCTX, W_START, W_STOP,
	W_STATUS, W_TIMEOUT, W_MARK, W_SECMARK, W_USE, W_ID, W_ZONE, W_LABELS,
	W_FLAGS, W_CLASS, W_FN, W_NATDIR, W_COUNTERS0, W_COUNTERS1,
	W_TUPLE,                       /* + tuple index */
};

struct rule {
	uint8_t kind, what;
	const struct schema *nest;     /* for NEST: what it holds (NULL: not looked into) */
};

struct schema {
	int max;
	const struct rule *rules;      /* indexed by attribute type, 0..max */
	int strict;                    /* a type past max is refused, not skipped */
};

#define SCHEMA_AS(strict, name, max, ...) \
	static const struct rule name##_rules[(max) + 1] = { __VA_ARGS__ }; \
	static const struct schema name = { (max), name##_rules, (strict) }
#define SCHEMA(name, max, ...) SCHEMA_AS(0, name, max, __VA_ARGS__)
#define STRICT_SCHEMA(name, max, ...) SCHEMA_AS(1, name, max, __VA_ARGS__)

SCHEMA(ip, CTA_IP_MAX,
       [CTA_IP_V4_SRC] = { U32, W_V4SRC, NULL }, [CTA_IP_V4_DST] = { U32, W_V4DST, NULL },
       [CTA_IP_V6_SRC] = { V6ADDR, W_V6SRC, NULL }, [CTA_IP_V6_DST] = { V6ADDR, W_V6DST, NULL });

SCHEMA(proto, CTA_PROTO_MAX,
       [CTA_PROTO_NUM] = { U8, W_PROTONUM, NULL },
       [CTA_PROTO_SRC_PORT] = { U16, W_SPORT, NULL }, [CTA_PROTO_DST_PORT] = { U16, W_DPORT, NULL },
       [CTA_PROTO_ICMP_ID] = { U16, W_ICMPID, NULL }, [CTA_PROTO_ICMP_TYPE] = { U8, W_ICMPTYPE, NULL },
       [CTA_PROTO_ICMP_CODE] = { U8, W_ICMPCODE, NULL }, [CTA_PROTO_ICMPV6_ID] = { U16, W_ICMPID, NULL },
       [CTA_PROTO_ICMPV6_TYPE] = { U8, W_ICMPTYPE, NULL },
       [CTA_PROTO_ICMPV6_CODE] = { U8, W_ICMPCODE, NULL });

SCHEMA(tuple, CTA_TUPLE_MAX,
       [CTA_TUPLE_IP] = { NEST, W_SAME, &ip }, [CTA_TUPLE_PROTO] = { NEST, W_SAME, &proto },
       [CTA_TUPLE_ZONE] = { U16, W_TZONE, NULL });

SCHEMA(tcp, CTA_PROTOINFO_TCP_MAX,
       [CTA_PROTOINFO_TCP_STATE] = { U8, W_TCPSTATE, NULL },
       [CTA_PROTOINFO_TCP_WSCALE_ORIGINAL] = { U8, W_NONE, NULL },
       [CTA_PROTOINFO_TCP_WSCALE_REPLY] = { U8, W_NONE, NULL },
       [CTA_PROTOINFO_TCP_FLAGS_ORIGINAL] = { TCPFLAGS, W_NONE, NULL },
       [CTA_PROTOINFO_TCP_FLAGS_REPLY] = { TCPFLAGS, W_NONE, NULL });

SCHEMA(sctp, CTA_PROTOINFO_SCTP_MAX,
       [CTA_PROTOINFO_SCTP_STATE] = { U8, W_SCTPSTATE, NULL },
       [CTA_PROTOINFO_SCTP_VTAG_ORIGINAL] = { U32, W_VTAG0, NULL },
       [CTA_PROTOINFO_SCTP_VTAG_REPLY] = { U32, W_VTAG1, NULL });

SCHEMA(dccp, CTA_PROTOINFO_DCCP_MAX,
       [CTA_PROTOINFO_DCCP_STATE] = { U8, W_DCCPSTATE, NULL },
       [CTA_PROTOINFO_DCCP_ROLE] = { U8, W_DCCPROLE, NULL },
       [CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ] = { U64, W_NONE, NULL });

SCHEMA(protoinfo, CTA_PROTOINFO_MAX,
       [CTA_PROTOINFO_TCP] = { NEST, W_NONE, &tcp }, [CTA_PROTOINFO_SCTP] = { NEST, W_NONE, &sctp },
       [CTA_PROTOINFO_DCCP] = { NEST, W_NONE, &dccp });

SCHEMA(counters, CTA_COUNTERS_MAX,
       [CTA_COUNTERS_PACKETS] = { U64, W_PACKETS, NULL }, [CTA_COUNTERS_BYTES] = { U64, W_BYTES, NULL },
       [CTA_COUNTERS32_PACKETS] = { U32, W_PACKETS32, NULL },
       [CTA_COUNTERS32_BYTES] = { U32, W_BYTES32, NULL });

SCHEMA(natseq, CTA_NAT_SEQ_MAX,
       [CTA_NAT_SEQ_CORRECTION_POS] = { U32, W_NONE, NULL },
       [CTA_NAT_SEQ_OFFSET_BEFORE] = { U32, W_NONE, NULL },
       [CTA_NAT_SEQ_OFFSET_AFTER] = { U32, W_NONE, NULL });

SCHEMA(help, CTA_HELP_MAX, [CTA_HELP_NAME] = { STR, W_HELPER, NULL });
SCHEMA(secctx, CTA_SECCTX_MAX, [CTA_SECCTX_NAME] = { STR, W_SECCTX, NULL });

SCHEMA(timestamp, CTA_TIMESTAMP_MAX,
       [CTA_TIMESTAMP_START] = { U64, W_START, NULL }, [CTA_TIMESTAMP_STOP] = { U64, W_STOP, NULL });

SCHEMA(synproxy, CTA_SYNPROXY_MAX,
       [CTA_SYNPROXY_ISN] = { U32, W_NONE, NULL }, [CTA_SYNPROXY_ITS] = { U32, W_NONE, NULL },
       [CTA_SYNPROXY_TSOFF] = { U32, W_NONE, NULL });

SCHEMA(conntrack, CTA_MAX,
       [CTA_TUPLE_ORIG] = { NEST, W_TUPLE + T_ORIG, &tuple },
       [CTA_TUPLE_REPLY] = { NEST, W_TUPLE + T_REPLY, &tuple },
       [CTA_TUPLE_MASTER] = { NEST, W_TUPLE + T_CTMASTER, &tuple },
       [CTA_NAT_SEQ_ADJ_ORIG] = { NEST, W_NONE, &natseq }, [CTA_NAT_SEQ_ADJ_REPLY] = { NEST, W_NONE, &natseq },
       [CTA_PROTOINFO] = { NEST, W_NONE, &protoinfo },
       [CTA_COUNTERS_ORIG] = { NEST, W_COUNTERS0, &counters },
       [CTA_COUNTERS_REPLY] = { NEST, W_COUNTERS1, &counters },
       [CTA_HELP] = { NEST, W_NONE, &help }, [CTA_SECCTX] = { NEST, W_NONE, &secctx },
       [CTA_TIMESTAMP] = { NEST, W_NONE, &timestamp }, [CTA_SYNPROXY] = { NEST, W_NONE, &synproxy },
       [CTA_STATUS] = { U32, W_STATUS, NULL }, [CTA_TIMEOUT] = { U32, W_TIMEOUT, NULL },
       [CTA_MARK] = { U32, W_MARK, NULL }, [CTA_SECMARK] = { U32, W_SECMARK, NULL },
       [CTA_USE] = { U32, W_USE, NULL }, [CTA_ID] = { U32, W_ID, NULL },
       [CTA_ZONE] = { U16, W_ZONE, NULL }, [CTA_LABELS] = { SKIP, W_LABELS, NULL });

/* libnetfilter_conntrack (1.0.9 to 1.1.x) checks the types in this nest against
 * CTA_MAX but stores them in an array of CTA_EXPECT_NAT_MAX + 1: any type in
 * between is written past the array, on its stack (a fuzzing find). */
STRICT_SCHEMA(expnat, CTA_EXPECT_NAT_MAX,
       [CTA_EXPECT_NAT_DIR] = { U32, W_NATDIR, NULL },
       [CTA_EXPECT_NAT_TUPLE] = { NEST, W_TUPLE + T_NAT, &tuple });

SCHEMA(expect, CTA_EXPECT_MAX,
       [CTA_EXPECT_MASTER] = { NEST, W_TUPLE + T_MASTER, &tuple },
       [CTA_EXPECT_TUPLE] = { NEST, W_TUPLE + T_EXPECTED, &tuple },
       [CTA_EXPECT_MASK] = { NEST, W_TUPLE + T_MASK, &tuple },
       [CTA_EXPECT_NAT] = { NEST, W_NONE, &expnat },
       [CTA_EXPECT_TIMEOUT] = { U32, W_TIMEOUT, NULL }, [CTA_EXPECT_FLAGS] = { U32, W_FLAGS, NULL },
       [CTA_EXPECT_ID] = { U32, W_NONE, NULL }, [CTA_EXPECT_CLASS] = { U32, W_CLASS, NULL },
       [CTA_EXPECT_HELP_NAME] = { STR, W_HELPER, NULL }, [CTA_EXPECT_FN] = { FNAME, W_FN, NULL },
       [CTA_EXPECT_ZONE] = { U16, W_ZONE, NULL });

static inline uint16_t get16(const void *p) { uint16_t v; memcpy(&v, p, 2); return ntohs(v); }
static inline uint32_t get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return ntohl(v); }
static inline uint64_t get64(const void *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

/* A string attribute as the library copies it: up to its first NUL. */
static void get_str(const char *p, uint16_t len, const char **s, size_t *n, size_t max)
{
	size_t l = strnlen(p, len);
	*s = p, *n = l < max ? l : max;
}

/* Keeps one valid attribute's value. */
static void store(struct ctev *ev, struct cttuple *t, int what, const char *p, uint16_t len)
{
	switch (what) {
	/* The family of the message says which addresses count, as in the library. */
	case W_V4SRC: if (ev->family != AF_INET6) memcpy(t->src, p, 4), t->has |= TH_SRC; break;
	case W_V4DST: if (ev->family != AF_INET6) memcpy(t->dst, p, 4), t->has |= TH_DST; break;
	case W_V6SRC: if (ev->family == AF_INET6) memcpy(t->src, p, 16), t->has |= TH_SRC; break;
	case W_V6DST: if (ev->family == AF_INET6) memcpy(t->dst, p, 16), t->has |= TH_DST; break;
	case W_PROTONUM: t->protonum = (uint8_t)*p; t->has |= TH_PROTONUM; break;
	case W_SPORT: t->sport = get16(p); t->has |= TH_SPORT; break;
	case W_DPORT: t->dport = get16(p); t->has |= TH_DPORT; break;
	case W_ICMPID: t->icmpid = get16(p); t->has |= TH_ICMPID; break;
	case W_ICMPTYPE: t->type = (uint8_t)*p; t->has |= TH_TYPE; break;
	case W_ICMPCODE: t->code = (uint8_t)*p; t->has |= TH_CODE; break;
	case W_TZONE: t->zone = get16(p); t->has |= TH_ZONE; break;
	/* The 64-bit counter wins over the 32-bit one, whatever the order. */
	case W_PACKETS: t->packets = get64(p); t->has |= TH_PACKETS; t->has &= ~(uint32_t)(1u << 31); break;
	case W_BYTES: t->bytes = get64(p); t->has |= TH_BYTES; t->has &= ~(uint32_t)(1u << 30); break;
	case W_PACKETS32:
		if (!(t->has & TH_PACKETS) || (t->has & (1u << 31)))
			t->packets = get32(p), t->has |= TH_PACKETS | (1u << 31);
		break;
	case W_BYTES32:
		if (!(t->has & TH_BYTES) || (t->has & (1u << 30)))
			t->bytes = get32(p), t->has |= TH_BYTES | (1u << 30);
		break;
	case W_TCPSTATE: ev->tcp_state = (uint8_t)*p; ev->has |= CH_TCP; break;
	case W_SCTPSTATE: ev->sctp_state = (uint8_t)*p; ev->has |= CH_SCTP; break;
	case W_DCCPSTATE: ev->dccp_state = (uint8_t)*p; ev->has |= CH_DCCP; break;
	case W_VTAG0: ev->vtag[0] = get32(p); ev->has |= CH_VTAG0; break;
	case W_VTAG1: ev->vtag[1] = get32(p); ev->has |= CH_VTAG1; break;
	case W_DCCPROLE: ev->dccp_role = (uint8_t)*p; ev->has |= CH_DCCPROLE; break;
	/* The library keeps a helper name in 16 bytes with its NUL. */
	case W_HELPER: get_str(p, len, &ev->helper, &ev->helper_len, 15); ev->has |= CH_HELPER; break;
	case W_SECCTX: get_str(p, len, &ev->secctx, &ev->secctx_len, len); ev->has |= CH_SECCTX; break;
	case W_FN: get_str(p, len, &ev->fn, &ev->fn_len, len); ev->has |= CH_FN; break;
	case W_START: ev->start = get64(p); ev->has |= CH_START; break;
	case W_STOP: ev->stop = get64(p); ev->has |= CH_STOP; break;
	case W_STATUS: ev->status = get32(p); ev->has |= CH_STATUS; break;
	case W_TIMEOUT: ev->timeout = get32(p); ev->has |= CH_TIMEOUT; break;
	case W_MARK: ev->mark = get32(p); ev->has |= CH_MARK; break;
	case W_SECMARK: ev->secmark = get32(p); ev->has |= CH_SECMARK; break;
	case W_USE: ev->use = get32(p); ev->has |= CH_USE; break;
	case W_ID: ev->id = get32(p); ev->has |= CH_ID; break;
	case W_ZONE: ev->zone = get16(p); ev->has |= CH_ZONE; break;
	case W_FLAGS: ev->flags = get32(p); ev->has |= CH_FLAGS; break;
	case W_CLASS: ev->class_ = get32(p); ev->has |= CH_CLASS; break;
	case W_NATDIR: ev->nat_dir = get32(p); ev->has |= CH_NATDIR; break;
	case W_LABELS:
		/* An empty bitmap is no labels to the library. */
		if (len)
			ev->labels = (const uint8_t *)p, ev->labels_len = len, ev->has |= CH_LABELS;
		else
			ev->has &= ~(uint32_t)CH_LABELS;
		break;
	}
}

static int walk(struct ctev *ev, struct cttuple *t, const void *payload, size_t len,
		const struct schema *s, int depth)
{
	/* What mnl_attr_validate checks, inline, as is the walk: through libmnl's
	 * calls this was a tenth of the cost of an event. Fixed sizes exactly,
	 * strings not empty, nests empty or whole. The walk stops where libmnl's
	 * would (an attribute that does not fit). */
	static const uint8_t size[] = { [U8] = 1, [U16] = 2, [U32] = 4, [U64] = 8,
					[V6ADDR] = 16, [TCPFLAGS] = 2 };
	if (depth > 8)
		return -1;
	const char *p = payload, *end = p + len;
	while (end - p >= (ptrdiff_t)sizeof(struct nlattr)) {
		const struct nlattr *a = (const void *)p;
		uint16_t alen = a->nla_len;
		if (alen < sizeof(struct nlattr) || alen > end - p)
			break;
		uint16_t type = a->nla_type & NLA_TYPE_MASK;
		p += MNL_ALIGN(alen);
		if (type > s->max) {
			if (s->strict)
				return -1;
			continue;
		}
		const struct rule *r = &s->rules[type];
		uint16_t plen = alen - sizeof(struct nlattr);
		const char *data = (const char *)(a + 1);
		switch (r->kind) {
		case SKIP:
			break;
		case U8: case U16: case U32: case U64: case V6ADDR: case TCPFLAGS:
			if (plen != size[r->kind])
				return -1;
			break;
		case STR:
			if (plen == 0)
				return -1;
			break;
		case FNAME:                    /* the library asserts <= 24 */
			if (plen == 0 || plen > 24)
				return -1;
			break;
		case NEST: {
			if (plen != 0 && plen < sizeof(struct nlattr))
				return -1;
			if (!r->nest)
				continue;
			struct cttuple *nt = t;
			if (r->what >= W_TUPLE) {
				/* The library parses the last of repeated nests. */
				int i = r->what - W_TUPLE;
				nt = &ev->t[i];
				memset(nt, 0, sizeof(*nt));
				ev->has |= CH_TUPLE0 << i;
			} else if (r->what == W_COUNTERS0 || r->what == W_COUNTERS1) {
				nt = &ev->t[r->what == W_COUNTERS1];
				nt->has &= ~(uint32_t)(TH_PACKETS | TH_BYTES | 3u << 30);
			}
			if (walk(ev, nt, data, plen, r->nest, depth + 1) < 0)
				return -1;
			continue;
		}
		}
		if (r->what != W_NONE && t)
			store(ev, t, r->what, data, plen);
	}
	return 0;
}

int decode_msg(const struct nlmsghdr *nlh, int exp, struct ctev *ev)
{
	/* libmnl walks attributes up to the *aligned* end of the message, which for an
	 * unaligned length lies past the bytes received. The kernel pads every
	 * attribute, so its messages are always aligned. */
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg) || nlh->nlmsg_len % 4)
		return -1;
	memset(ev, 0, offsetof(struct ctev, t));
	for (int i = 0; i < CTEV_TUPLES; i++)
		ev->t[i].has = 0;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	ev->exp = (uint8_t)exp;
	ev->family = nfg->nfgen_family;
	ev->portid = nlh->nlmsg_pid;
	if (walk(ev, &ev->t[T_CTMASTER], mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg)),
		 nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(struct nfgenmsg)),
		 exp ? &expect : &conntrack, 0) < 0)
		return -1;
	/* An expectation's empty helper or function name is none. */
	if (exp && !ev->helper_len)
		ev->has &= ~(uint32_t)CH_HELPER;
	if (exp && !ev->fn_len)
		ev->has &= ~(uint32_t)CH_FN;
	/* The marks of 32-bit counters were for the walk only. */
	for (int i = 0; i < CTEV_TUPLES; i++)
		ev->t[i].has &= ~(uint32_t)(3u << 30);
	return 0;
}

/* Which event a message is (enum ev_kind), or -1 for none (errors, dumps' ends). */
int decode_kind(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
		return -1;
	int subsys = NFNL_SUBSYS_ID(nlh->nlmsg_type), type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	if (subsys == NFNL_SUBSYS_CTNETLINK) {
		if (type == IPCTNL_MSG_CT_NEW)
			return nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL) ? EV_NEW : EV_UPDATE;
		if (type == IPCTNL_MSG_CT_DELETE)
			return EV_DESTROY;
	} else if (subsys == NFNL_SUBSYS_CTNETLINK_EXP) {
		if (type == IPCTNL_MSG_EXP_NEW)
			return EV_EXP_NEW;
		if (type == IPCTNL_MSG_EXP_DELETE)
			return EV_EXP_DESTROY;
	}
	return -1;
}
