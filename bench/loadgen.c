/* loadgen — conntrack events at a chosen or maximum rate, with real packets.
 *
 *   loadgen COUNT [RATE]    (RATE datagrams/s; 0 or absent = as fast as possible)
 *
 * Sends COUNT UDP datagrams over loopback, each with a tuple of its own (one of 100
 * source addresses 127.1.0.1-100 in turns of 64 datagrams, so each source sends 1 %
 * of them; destination ports 1..60000), so each makes a NEW event when
 * conntrack confirms it; the bench's nft input rule then drops it, and the bench's
 * short UDP timeout turns every entry into a DESTROY a second later. Uses sendmmsg
 * in batches of 64. Prints the count sent and the seconds it took. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PORTS 60000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: loadgen COUNT [RATE]\n");
		return 2;
	}
	long count = atol(argv[1]);
	double rate = argc > 2 ? atof(argv[2]) : 0;
	enum { NSRC = 100 };
	int fds[NSRC];
	for (int s = 0; s < NSRC; s++) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | (unsigned)(s + 1));
		fds[s] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[s] < 0 || bind(fds[s], (struct sockaddr *)&src, sizeof(src)) < 0) {
			perror("loadgen: socket");
			return 1;
		}
	}
	if (count > (long)NSRC * PORTS) {
		fprintf(stderr, "loadgen: at most %ld distinct tuples\n", (long)NSRC * PORTS);
		return 2;
	}
	struct sockaddr_in dst[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	double t0 = now();
	long sent = 0, refused = 0;
	/* Block b (BATCH datagrams) goes from source b % NSRC; within a source, the
	 * destination ports run on, so every tuple is new. */
	for (long b = 0; sent < count; b++) {
		int s = (int)(b % NSRC);
		long base = (b / NSRC) * BATCH;
		int n = 0;
		while (n < BATCH && sent + n < count) {
			memset(&dst[n], 0, sizeof(dst[n]));
			dst[n].sin_family = AF_INET;
			dst[n].sin_addr.s_addr = htonl(0x7f000001);
			dst[n].sin_port = htons((uint16_t)(1 + (base + n) % PORTS));
			memset(&msgs[n], 0, sizeof(msgs[n]));
			msgs[n].msg_hdr.msg_name = &dst[n];
			msgs[n].msg_hdr.msg_namelen = sizeof(dst[n]);
			msgs[n].msg_hdr.msg_iov = &iov;
			msgs[n].msg_hdr.msg_iovlen = 1;
			n++;
		}
		int done = 0;
		while (done < n) {
			int r = sendmmsg(fds[s], msgs + done, (unsigned)(n - done), 0);
			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
					continue;
				if (errno == EPERM) {
					/* netfilter dropped it: a full table at the top rates
					 * (entries live 1 s). No entry, no event: the bench counts
					 * what the kernel confirmed, not what was sent. */
					done++;
					refused++;
					continue;
				}
				perror("loadgen: sendmmsg");
				return 1;
			}
			done += r;
		}
		sent += n;
		if (rate > 0) {   /* pace: never ahead of the schedule */
			double ahead = (double)sent / rate - (now() - t0);
			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
	if (refused)
		fprintf(stderr, "loadgen: %ld datagrams dropped by netfilter (table full)\n", refused);
	printf("%ld %.3f\n", sent, now() - t0);
	return 0;
}
