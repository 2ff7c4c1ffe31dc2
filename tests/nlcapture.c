/* nlcapture — records raw conntrack/expectation event datagrams to a file.
 *
 * Used once, as root, to make the canned messages in tests/data/ that the
 * unprivileged tests replay through `ctlua --netlink-file`. Joins every event group,
 * appends each datagram as received, stops on SIGTERM/SIGINT or after COUNT messages.
 * Prints "ready" on stdout once subscribed, so callers need not sleep.
 * Usage: nlcapture FILE [COUNT] */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

static volatile sig_atomic_t done;
static void on_sig(int s) { (void)s; done = 1; }

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nlcapture FILE [COUNT]\n");
		return 2;
	}
	long want = argc > 2 ? atol(argv[2]) : -1, got = 0;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("nlcapture: netlink");
		return 1;
	}
	for (unsigned g = NFNLGRP_CONNTRACK_NEW; g <= NFNLGRP_CONNTRACK_EXP_DESTROY; g++)
		if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0) {
			perror("nlcapture: subscribe");
			return 1;
		}
	FILE *out = fopen(argv[1], "wb");
	if (!out) {
		perror(argv[1]);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_sig };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	static char buf[32768];
	struct pollfd p = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
	while (!done && (want < 0 || got < want)) {
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t r = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (r < 0) {
			if (errno == ENOBUFS || errno == EINTR)
				continue;
			perror("nlcapture: recv");
			break;
		}
		fwrite(buf, 1, (size_t)r, out);
		fflush(out);
		got++;
	}
	fclose(out);
	mnl_socket_close(nl);
	return 0;
}
