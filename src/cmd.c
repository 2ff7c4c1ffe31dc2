/* cmd.c — the command socket: requests to the kernel table, each acknowledged.
 *
 * Never the event socket (conntrack-tools does the same): a request blocks only
 * until its ACK, while events keep queueing in the event socket's own buffer.
 * Dumps get a socket each (see table.c), so an abandoned iteration cannot leave
 * stale messages in front of the next request. Replies are copied out here and
 * converted after the libmnl callbacks return: no Lua runs inside them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include "ctlua.h"
#include "cmd.h"

/* One command socket per namespace slot (netns.c), opened on first use; requests
 * go to the one cmd_select() chose (the runtime picks it from t.netns). */
static struct mnl_socket *socks[NETNS_MAX];
static uint32_t portids[NETNS_MAX];
static int cur;
static uint32_t seq;
static char buf[32768];     /* ACKs and single replies; larger than any of them */

/* The port id of namespace slot ns's command socket (0 when not open). */
uint32_t cmd_portid_ns(int ns)
{
	return ns >= 0 && ns < NETNS_MAX ? portids[ns] : 0;
}

/* Directs the next requests to namespace slot ns. */
void cmd_select(int ns)
{
	cur = ns;
}

int cmd_current(void)
{
	return cur;
}

/* Opens the command socket on first use. 0 or -errno. */
static int cmd_open(void)
{
	if (socks[cur])
		return 0;
	struct mnl_socket *nl = netns_socket(cur, 0);
	if (!nl)
		return -errno;
	socks[cur] = nl;
	portids[cur] = mnl_socket_get_portid(nl);
	if (!seq)
		seq = (uint32_t)time(NULL);
	/* A batch gets thousands of ACKs back at once: keep them small (no copy of
	 * the request) and give them room. */
	int one = 1, size = 4 << 20;
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	int fd = mnl_socket_get_fd(nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return 0;
}

/* Opens namespace slot ns's command socket now (before privileges are dropped). */
int cmd_open_ns(int ns)
{
	int was = cur;
	cmd_select(ns);
	int rc = cmd_open();
	cmd_select(was);
	return rc;
}

void cmd_close(void)
{
	for (int i = 0; i < NETNS_MAX; i++)
		if (socks[i])
			mnl_socket_close(socks[i]), socks[i] = NULL, portids[i] = 0;
	cur = 0;
}

/* Closes namespace slot ns's command socket (the namespace went away). */
void cmd_close_ns(int ns)
{
	if (socks[ns])
		mnl_socket_close(socks[ns]), socks[ns] = NULL, portids[ns] = 0;
	if (cur == ns)
		cmd_select(0);
}

/* Starts a request in the shared buffer: nfnetlink header for subsystem message
 * type `type`, family, flags (NLM_F_REQUEST|NLM_F_ACK are added). */
struct nlmsghdr *cmd_msg(char *at, uint16_t type, uint8_t family, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at ? at : buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++seq;
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

struct reply { char *copy; size_t cap, len; };

static int copy_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply *r = data;
	if (r && r->copy && nlh->nlmsg_len <= r->cap) {
		memcpy(r->copy, nlh, nlh->nlmsg_len);
		r->len = nlh->nlmsg_len;
	}
	return MNL_CB_OK;
}

/* Sends one request and waits for its ACK. A data reply (GET) is copied into
 * out (cap bytes) and its length stored in *outlen. 0 or -errno from the kernel. */
int cmd_request(struct nlmsghdr *nlh, void *out, size_t cap, size_t *outlen)
{
	int rc = cmd_open();
	if (rc < 0)
		return rc;
	stats.commands++;
	struct mnl_socket *nl = socks[cur];
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		stats.command_errors++;
		return -errno;
	}
	struct reply r = { out, cap, 0 };
	uint32_t want = nlh->nlmsg_seq;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			stats.command_errors++;
			return -errno;
		}
		rc = mnl_cb_run(buf, (size_t)n, want, portids[cur], copy_cb, &r);
		if (rc == MNL_CB_ERROR) {
			int e = errno;
			if (e != ENOENT && e != EEXIST)
				stats.command_errors++;
			return -e;
		}
		if (rc == MNL_CB_STOP)   /* the ACK (error 0) */
			break;
	}
	if (outlen)
		*outlen = r.len;
	return 0;
}

/* Sends `count` requests laid out back to back in `msgs` (total `len` bytes) with
 * one sendmsg, then reads every ACK. Per-request errno goes to errs[i] (0 = ok).
 * Returns 0, or -errno when the socket itself failed. */
int cmd_batch(const char *msgs, size_t len, int count, int *errs)
{
	int rc = cmd_open();
	if (rc < 0)
		return rc;
	stats.commands += (uint64_t)count;
	struct mnl_socket *nl = socks[cur];
	if (mnl_socket_sendto(nl, msgs, len) < 0)
		return -errno;
	uint32_t first = ((const struct nlmsghdr *)msgs)->nlmsg_seq;
	int got = 0;
	while (got < count) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		int left = (int)n;
		for (const struct nlmsghdr *h = (const void *)buf; nl_msg_ok(h, left);
		     h = mnl_nlmsg_next(h, &left)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			uint32_t i = h->nlmsg_seq - first;
			if (i < (uint32_t)count) {
				errs[i] = -e->error;
				if (e->error && e->error != -ENOENT)
					stats.command_errors++;
			}
			got++;
		}
	}
	return 0;
}

/* Next sequence number for callers that lay out batches themselves. */
uint32_t cmd_next_seq(void)
{
	return ++seq;
}
