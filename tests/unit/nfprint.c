/* nfprint — libnetfilter_conntrack's own printer over canned messages: the oracle
 * of tests/unit/oforms.t for what the kernel here cannot make (offloaded flows).
 * Each conntrack message of FILE is parsed by nfct_nlmsg_parse and printed by
 * nfct_snprintf_labels as conntrack -E prints it (event type from the message,
 * conntrack's [USERSPACE] suffix after it).
 * Usage: nfprint FILE [xml] [extended] [id] [ktimestamp] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nfprint FILE [xml] [extended] [id] [ktimestamp]\n");
		return 2;
	}
	unsigned out = NFCT_O_DEFAULT, flags = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "xml")) out = NFCT_O_XML;
		else if (!strcmp(argv[i], "extended")) flags |= NFCT_OF_SHOW_LAYER3;
		else if (!strcmp(argv[i], "id")) flags |= NFCT_OF_ID;
		else if (!strcmp(argv[i], "ktimestamp")) flags |= NFCT_OF_TIMESTAMP;
	}
	FILE *f = fopen(argv[1], "rb");
	static char buf[1 << 20];
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (!f)
		return 1;
	fclose(f);
	for (size_t off = 0; off + sizeof(struct nlmsghdr) <= n;) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(buf + off);
		if (nlh->nlmsg_len < sizeof(*nlh) || off + nlh->nlmsg_len > n)
			break;
		off += MNL_ALIGN(nlh->nlmsg_len);
		if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
			continue;
		int t = NFNL_MSG_TYPE(nlh->nlmsg_type);
		unsigned type = t == IPCTNL_MSG_CT_DELETE ? NFCT_T_DESTROY :
				nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL) ? NFCT_T_NEW : NFCT_T_UPDATE;
		struct nf_conntrack *ct = nfct_new();
		char line[4096];
		if (ct && nfct_nlmsg_parse(nlh, ct) >= 0) {
			nfct_snprintf_labels(line, sizeof(line), ct, type, out, flags, NULL);
			/* conntrack's suffix; the process is long gone: no progname */
			if (nlh->nlmsg_pid)
				printf("%s [USERSPACE] portid=%u\n", line, nlh->nlmsg_pid);
			else
				puts(line);
		}
		nfct_destroy(ct);
	}
	return 0;
}
