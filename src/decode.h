/* decode.h — one conntrack or expectation message, decoded into a fixed-size form.
 *
 * decode_msg() walks the message's attributes once, checking each against the
 * schema libnetfilter_conntrack would enforce (see decode.c) and keeping what the
 * event table, the text line and the JSON line are made of. Strings point into
 * the message, which must outlive the struct. */
#ifndef CTLUA_DECODE_H
#define CTLUA_DECODE_H

#include <stddef.h>
#include <stdint.h>

struct ctev_names;

/* What a tuple holds (struct cttuple.has). */
enum {
	TH_SRC = 1 << 0, TH_DST = 1 << 1, TH_PROTONUM = 1 << 2, TH_SPORT = 1 << 3,
	TH_DPORT = 1 << 4, TH_TYPE = 1 << 5, TH_CODE = 1 << 6, TH_ICMPID = 1 << 7,
	TH_ZONE = 1 << 8, TH_PACKETS = 1 << 9, TH_BYTES = 1 << 10,
};

struct cttuple {
	uint32_t has;
	uint8_t protonum, type, code;
	uint16_t sport, dport, icmpid, zone;
	uint64_t packets, bytes;
	uint8_t src[16], dst[16];      /* IPv4: the first 4 bytes */
	/* Set only for tables built by a script (ct.format of a table): the text
	 * stands for itself, whatever it says. */
	const char *srctext, *dsttext;
	size_t srclen, dstlen;
};

/* What an event holds (struct ctev.has). */
enum {
	CH_STATUS = 1 << 0, CH_TIMEOUT = 1 << 1, CH_MARK = 1 << 2, CH_ID = 1 << 3,
	CH_USE = 1 << 4, CH_SECMARK = 1 << 5, CH_ZONE = 1 << 6, CH_START = 1 << 7,
	CH_STOP = 1 << 8, CH_HELPER = 1 << 9, CH_SECCTX = 1 << 10, CH_LABELS = 1 << 11,
	CH_TCP = 1 << 12, CH_SCTP = 1 << 13, CH_DCCP = 1 << 14,
	CH_FLAGS = 1 << 15, CH_CLASS = 1 << 16, CH_FN = 1 << 17, CH_NATDIR = 1 << 18,
	CH_TUPLE0 = 1 << 19,           /* t[i] was sent: CH_TUPLE0 << i (four tuples) */
	CH_PORTID = 1 << 23, CH_TIME = 1 << 24,
	CH_PROGNAME = 1 << 25,         /* progname given (a table), not looked up from portid */
	CH_VTAG0 = 1 << 26, CH_VTAG1 = 1 << 27, CH_DCCPROLE = 1 << 28,   /* for -o save */
	CH_FAMILY = 1 << 29,           /* a table said its family */
};

/* Tuples of a conntrack event and of an expectation. */
enum { T_ORIG = 0, T_REPLY = 1, T_CTMASTER = 2 };
enum { T_EXPECTED = 0, T_MASK = 1, T_MASTER = 2, T_NAT = 3 };
#define CTEV_TUPLES 4

struct ctev {
	uint32_t has;
	int kind;                      /* enum ev_kind; EV_ENTRY for dumps */
	uint8_t exp, family;           /* expectation?; nfgen_family */
	uint8_t tcp_state, sctp_state, dccp_state, dccp_role;
	uint32_t status, timeout, mark, id, use, secmark;
	uint32_t flags, class_, nat_dir;
	uint32_t vtag[2];              /* SCTP verification tags, orig and reply */
	uint16_t zone;
	uint64_t start, stop;          /* nanoseconds */
	const char *helper, *secctx, *fn;
	size_t helper_len, secctx_len, fn_len;
	const uint8_t *labels;         /* host-order 32-bit words, labels_len bytes */
	size_t labels_len;
	struct cttuple t[CTEV_TUPLES];
	/* Not from the attributes: where and when it was received. */
	double time;
	uint32_t portid;               /* nlmsg_pid: the process that caused it, 0 = kernel */
	int self;                      /* caused by ctlua's own command socket */
	const char *netns;             /* namespace name, NULL when not watching several */
	double start_s, stop_s;        /* start, stop in seconds, as the table has them */
	/* Only for tables formatted by ct.format: what the table said instead. */
	const char *protoname;         /* NULL: from the protocol number */
	const char *statetext;         /* NULL: from the protocol state */
	const char *progname;
	size_t progname_len;
	const struct ctev_names *labelnames;
};

struct nlmsghdr;
/* 0 and *ev filled, or -1: the message would not parse (a counted parse error). */
int decode_msg(const struct nlmsghdr *nlh, int exp, struct ctev *ev);
int decode_kind(const struct nlmsghdr *nlh);    /* enum ev_kind, or -1: not an event */

#endif
