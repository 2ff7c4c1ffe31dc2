/* floor — the least any event consumer can do: receive and count conntrack events
 * (no parsing), to measure the kernel's share of the cost. Subscribes to the groups
 * named on the command line (new, update, destroy), prints the count on SIGTERM.
 *   floor BUFSIZE GROUP... */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

static volatile sig_atomic_t done;
static void on_term(int s) { (void)s; done = 1; }

int main(int argc, char **argv)
{
	int bufsize = argc > 1 ? atoi(argv[1]) : 16 << 20;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("floor");
		return 1;
	}
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize));
	for (int i = 2; i < argc; i++) {
		unsigned g = strcmp(argv[i], "new") == 0 ? NFNLGRP_CONNTRACK_NEW
			: strcmp(argv[i], "update") == 0 ? NFNLGRP_CONNTRACK_UPDATE : NFNLGRP_CONNTRACK_DESTROY;
		mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g));
	}
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	static char buf[65536];
	unsigned long events = 0, overruns = 0;
	while (!done) {
		ssize_t n = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == ENOBUFS)
				overruns++;
			continue;
		}
		int left = (int)n;
		for (const struct nlmsghdr *h = (void *)buf; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left))
			events++;
	}
	printf("%lu %lu\n", events, overruns);
	return 0;
}
