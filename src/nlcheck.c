/* nlcheck.c — check a conntrack or expectation message before it is parsed.
 *
 * libnetfilter_conntrack ends the process ("ABI breakage") when an attribute it
 * knows has the wrong size. The kernel never sends one, but canned input
 * (--netlink-file) can say anything, and so would a kernel whose ABI changed: such a
 * message must be a counted parse error, not an exit. The schema below lists the
 * attributes the library checks (or asserts on) and what each must hold;
 * unknown ones are skipped, as the library skips them. */
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include "ctlua.h"

enum kind { SKIP, U8, U16, U32, U64, STR, FNAME, V6ADDR, TCPFLAGS, NEST };

struct rule {
	enum kind kind;
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
       [CTA_IP_V4_SRC] = { U32, NULL }, [CTA_IP_V4_DST] = { U32, NULL },
       [CTA_IP_V6_SRC] = { V6ADDR, NULL }, [CTA_IP_V6_DST] = { V6ADDR, NULL });

SCHEMA(proto, CTA_PROTO_MAX,
       [CTA_PROTO_NUM] = { U8, NULL },
       [CTA_PROTO_SRC_PORT] = { U16, NULL }, [CTA_PROTO_DST_PORT] = { U16, NULL },
       [CTA_PROTO_ICMP_ID] = { U16, NULL }, [CTA_PROTO_ICMP_TYPE] = { U8, NULL },
       [CTA_PROTO_ICMP_CODE] = { U8, NULL }, [CTA_PROTO_ICMPV6_ID] = { U16, NULL },
       [CTA_PROTO_ICMPV6_TYPE] = { U8, NULL }, [CTA_PROTO_ICMPV6_CODE] = { U8, NULL });

SCHEMA(tuple, CTA_TUPLE_MAX,
       [CTA_TUPLE_IP] = { NEST, &ip }, [CTA_TUPLE_PROTO] = { NEST, &proto },
       [CTA_TUPLE_ZONE] = { U16, NULL });

SCHEMA(tcp, CTA_PROTOINFO_TCP_MAX,
       [CTA_PROTOINFO_TCP_STATE] = { U8, NULL },
       [CTA_PROTOINFO_TCP_WSCALE_ORIGINAL] = { U8, NULL },
       [CTA_PROTOINFO_TCP_WSCALE_REPLY] = { U8, NULL },
       [CTA_PROTOINFO_TCP_FLAGS_ORIGINAL] = { TCPFLAGS, NULL },
       [CTA_PROTOINFO_TCP_FLAGS_REPLY] = { TCPFLAGS, NULL });

SCHEMA(sctp, CTA_PROTOINFO_SCTP_MAX,
       [CTA_PROTOINFO_SCTP_STATE] = { U8, NULL },
       [CTA_PROTOINFO_SCTP_VTAG_ORIGINAL] = { U32, NULL },
       [CTA_PROTOINFO_SCTP_VTAG_REPLY] = { U32, NULL });

SCHEMA(dccp, CTA_PROTOINFO_DCCP_MAX,
       [CTA_PROTOINFO_DCCP_STATE] = { U8, NULL }, [CTA_PROTOINFO_DCCP_ROLE] = { U8, NULL },
       [CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ] = { U64, NULL });

SCHEMA(protoinfo, CTA_PROTOINFO_MAX,
       [CTA_PROTOINFO_TCP] = { NEST, &tcp }, [CTA_PROTOINFO_SCTP] = { NEST, &sctp },
       [CTA_PROTOINFO_DCCP] = { NEST, &dccp });

SCHEMA(counters, CTA_COUNTERS_MAX,
       [CTA_COUNTERS_PACKETS] = { U64, NULL }, [CTA_COUNTERS_BYTES] = { U64, NULL },
       [CTA_COUNTERS32_PACKETS] = { U32, NULL }, [CTA_COUNTERS32_BYTES] = { U32, NULL });

SCHEMA(natseq, CTA_NAT_SEQ_MAX,
       [CTA_NAT_SEQ_CORRECTION_POS] = { U32, NULL },
       [CTA_NAT_SEQ_OFFSET_BEFORE] = { U32, NULL },
       [CTA_NAT_SEQ_OFFSET_AFTER] = { U32, NULL });

SCHEMA(help, CTA_HELP_MAX, [CTA_HELP_NAME] = { STR, NULL });
SCHEMA(secctx, CTA_SECCTX_MAX, [CTA_SECCTX_NAME] = { STR, NULL });

SCHEMA(timestamp, CTA_TIMESTAMP_MAX,
       [CTA_TIMESTAMP_START] = { U64, NULL }, [CTA_TIMESTAMP_STOP] = { U64, NULL });

SCHEMA(synproxy, CTA_SYNPROXY_MAX,
       [CTA_SYNPROXY_ISN] = { U32, NULL }, [CTA_SYNPROXY_ITS] = { U32, NULL },
       [CTA_SYNPROXY_TSOFF] = { U32, NULL });

SCHEMA(conntrack, CTA_MAX,
       [CTA_TUPLE_ORIG] = { NEST, &tuple }, [CTA_TUPLE_REPLY] = { NEST, &tuple },
       [CTA_TUPLE_MASTER] = { NEST, &tuple },
       [CTA_NAT_SEQ_ADJ_ORIG] = { NEST, &natseq }, [CTA_NAT_SEQ_ADJ_REPLY] = { NEST, &natseq },
       [CTA_PROTOINFO] = { NEST, &protoinfo },
       [CTA_COUNTERS_ORIG] = { NEST, &counters }, [CTA_COUNTERS_REPLY] = { NEST, &counters },
       [CTA_HELP] = { NEST, &help }, [CTA_SECCTX] = { NEST, &secctx },
       [CTA_TIMESTAMP] = { NEST, &timestamp }, [CTA_SYNPROXY] = { NEST, &synproxy },
       [CTA_STATUS] = { U32, NULL }, [CTA_TIMEOUT] = { U32, NULL }, [CTA_MARK] = { U32, NULL },
       [CTA_SECMARK] = { U32, NULL }, [CTA_USE] = { U32, NULL }, [CTA_ID] = { U32, NULL },
       [CTA_ZONE] = { U16, NULL });

/* libnetfilter_conntrack (1.0.9 to 1.1.x) checks the types in this nest against
 * CTA_MAX but stores them in an array of CTA_EXPECT_NAT_MAX + 1: any type in
 * between is written past the array, on its stack (a fuzzing find). */
STRICT_SCHEMA(expnat, CTA_EXPECT_NAT_MAX,
       [CTA_EXPECT_NAT_DIR] = { U32, NULL }, [CTA_EXPECT_NAT_TUPLE] = { NEST, &tuple });

SCHEMA(expect, CTA_EXPECT_MAX,
       [CTA_EXPECT_MASTER] = { NEST, &tuple }, [CTA_EXPECT_TUPLE] = { NEST, &tuple },
       [CTA_EXPECT_MASK] = { NEST, &tuple }, [CTA_EXPECT_NAT] = { NEST, &expnat },
       [CTA_EXPECT_TIMEOUT] = { U32, NULL }, [CTA_EXPECT_FLAGS] = { U32, NULL },
       [CTA_EXPECT_ID] = { U32, NULL }, [CTA_EXPECT_CLASS] = { U32, NULL },
       [CTA_EXPECT_HELP_NAME] = { STR, NULL }, [CTA_EXPECT_FN] = { FNAME, NULL },
       [CTA_EXPECT_ZONE] = { U16, NULL });

static int check(const void *payload, size_t len, const struct schema *s, int depth)
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
		int bad = 0;
		switch (r->kind) {
		case SKIP: break;
		case U8: case U16: case U32: case U64: case V6ADDR: case TCPFLAGS:
			bad = plen != size[r->kind];
			break;
		case STR: bad = plen == 0; break;
		case FNAME: bad = plen == 0 || plen > 24; break;   /* the library asserts <= 24 */
		case NEST:
			bad = (plen != 0 && plen < sizeof(struct nlattr)) ||
			      (r->nest && check(a + 1, plen, r->nest, depth + 1) < 0);
			break;
		}
		if (bad)
			return -1;
	}
	return 0;
}

/* 0 when the message can be handed to libnetfilter_conntrack, -1 otherwise. */
int nlcheck_msg(const struct nlmsghdr *nlh, int exp)
{
	/* libmnl walks attributes up to the *aligned* end of the message, which for an
	 * unaligned length lies past the bytes received. The kernel pads every
	 * attribute, so its messages are always aligned. */
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg) || nlh->nlmsg_len % 4)
		return -1;
	return check(mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg)),
		     nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(struct nfgenmsg)),
		     exp ? &expect : &conntrack, 0);
}
