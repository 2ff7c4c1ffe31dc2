/* tgen — deterministic traffic for the privileged tests (run inside a netns).
 *
 * One process plays both ends, so there is nothing to coordinate. Every wait is
 * bounded (5 s); any failure exits 1 with a message. Prints one line per operation
 * naming the tuple it made, so tests know what to expect:
 *   tgen [-n COUNT] tcp ADDR PORT [SPORT]      -> "tcp ADDR SPORT PORT"
 *   tgen [-n COUNT] udp ADDR PORT [SPORT]      -> "udp ADDR SPORT PORT" (ping, pong)
 *   tgen [-n COUNT] udp-oneway ADDR PORT [SPORT] -> "udp ADDR SPORT PORT" (no reply)
 *   tgen icmp ADDR [ID]                        -> "icmp ADDR ID" (echo, reply)
 *   tgen [-n COUNT] connect ADDR PORT          -> "connect ADDR PORT" (a SYN; refused or
 *                                                 not, it makes a NEW; -n: ports PORT...)
 *   tgen ftp ADDR PORT [--data]                -> "ftp ADDR SPORT PORT DATAPORT [data]"
 * ftp: an ftp-style control dialogue (PASV for IPv4, EPSV for IPv6) so that the
 * kernel's ftp helper, assigned by the test's nft rule, creates an expectation;
 * --data then opens the expected data connection. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tgen: ");
	vfprintf(stderr, fmt, ap);
	if (errno)
		fprintf(stderr, ": %s", strerror(errno));
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

struct addr { int family; socklen_t len; struct sockaddr_storage ss; };

static struct addr mkaddr(const char *host, int port)
{
	struct addr a;
	memset(&a, 0, sizeof(a));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		a.family = s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a.len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		a.family = s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a.len = sizeof(*s6);
	} else {
		errno = 0;
		die("bad address '%s'", host);
	}
	return a;
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		die("getsockname");
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void wait_fd(int fd, short ev, const char *what)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r = poll(&p, 1, WAIT_MS);
	if (r <= 0) {
		if (r == 0)
			errno = ETIMEDOUT;
		die("waiting for %s", what);
	}
}

static int sock(int family, int type, int sport, const char *host)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sport > 0) {
		struct addr b = mkaddr(host, sport);
		if (bind(fd, (struct sockaddr *)&b.ss, b.len) < 0)
			die("bind source port %d", sport);
	}
	return fd;
}

static int listener(struct addr *a)
{
	int fd = sock(a->family, SOCK_STREAM, 0, NULL);
	if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 4) < 0)
		die("listen");
	return fd;
}

static int accept_one(int lfd)
{
	wait_fd(lfd, POLLIN, "a connection");
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		die("accept");
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);
	if (send(fd, s, n, MSG_NOSIGNAL) != (ssize_t)n)
		die("send");
}

/* Reads one line (up to and including '\n') into buf. */
static void read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		wait_fd(fd, POLLIN, "a line");
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			die("reading a line");
		}
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
}

static void read_eof(int fd)
{
	char b[256];
	for (;;) {
		wait_fd(fd, POLLIN, "end of stream");
		ssize_t r = recv(fd, b, sizeof(b), 0);
		if (r == 0)
			return;
		if (r < 0)
			die("recv");
	}
}

static void op_tcp(const char *host, int port, int sport)
{
	struct addr a = mkaddr(host, port);
	int l = listener(&a);
	int c = sock(a.family, SOCK_STREAM, sport, host);
	if (connect(c, (struct sockaddr *)&a.ss, a.len) < 0)
		die("connect");
	int s = accept_one(l);
	char buf[64];
	send_all(c, "hello\n");
	read_line(s, buf, sizeof(buf));
	send_all(s, "world\n");
	read_line(c, buf, sizeof(buf));
	int cport = port_of(c);
	close(c);          /* client closes first: FIN from the original direction */
	read_eof(s);
	close(s);
	close(l);
	printf("tcp %s %d %d\n", host, cport, port);
}

static void op_udp(const char *host, int port, int sport, int reply)
{
	struct addr a = mkaddr(host, port);
	int s = -1;
	if (reply) {
		s = sock(a.family, SOCK_DGRAM, 0, NULL);
		if (bind(s, (struct sockaddr *)&a.ss, a.len) < 0)
			die("bind udp server");
	}
	int c = sock(a.family, SOCK_DGRAM, sport, host);
	if (sendto(c, "ping", 4, 0, (struct sockaddr *)&a.ss, a.len) != 4)
		die("sendto");
	if (reply) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		char b[16];
		wait_fd(s, POLLIN, "the udp datagram");
		if (recvfrom(s, b, sizeof(b), 0, (struct sockaddr *)&from, &fl) < 0)
			die("recvfrom");
		if (sendto(s, "pong", 4, 0, (struct sockaddr *)&from, fl) != 4)
			die("sendto reply");
		wait_fd(c, POLLIN, "the udp reply");
		if (recv(c, b, sizeof(b), 0) < 0)
			die("recv reply");
		close(s);
	}
	printf("udp %s %d %d\n", host, port_of(c), port);
	close(c);
}

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static void op_icmp(const char *host, int id)
{
	struct addr a = mkaddr(host, 0);
	int v6 = a.family == AF_INET6;
	int fd = socket(a.family, SOCK_RAW | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	if (fd < 0)
		die("raw socket (needs root)");
	unsigned char pkt[16] = { 0 };
	pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = (unsigned char)(id >> 8), pkt[5] = (unsigned char)id;
	pkt[7] = 1;                               /* sequence 1 */
	memcpy(pkt + 8, "tgenping", 8);
	if (!v6) {                                /* the kernel sums ICMPv6 for us */
		uint16_t c = csum(pkt, sizeof(pkt));
		memcpy(pkt + 2, &c, 2);
	}
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&a.ss, a.len) < 0)
		die("send echo");
	for (;;) {
		unsigned char b[1500];
		wait_fd(fd, POLLIN, "the echo reply");
		ssize_t r = recv(fd, b, sizeof(b), 0);
		if (r < 0)
			die("recv echo");
		unsigned char *icmp = b;
		if (!v6) {                        /* raw IPv4 sockets include the IP header */
			size_t hl = (size_t)(b[0] & 0x0f) * 4;
			if ((size_t)r < hl + 8)
				continue;
			icmp = b + hl, r -= (ssize_t)hl;
		}
		if (r >= 8 && icmp[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) &&
		    (icmp[4] << 8 | icmp[5]) == id)
			break;
	}
	close(fd);
	printf("icmp %s %d\n", host, id);
}

static void op_ftp(const char *host, int port, int data)
{
	struct addr a = mkaddr(host, port);
	int v6 = a.family == AF_INET6;
	int l = listener(&a);
	int c = sock(a.family, SOCK_STREAM, 0, NULL);
	if (connect(c, (struct sockaddr *)&a.ss, a.len) < 0)
		die("connect");
	int s = accept_one(l);
	char line[256];
	/* Lockstep: the helper parses a command only right after a line end seen in the
	 * same direction, so every line is its own segment and is read before the next. */
	send_all(s, "220 tgen ready\r\n");
	read_line(c, line, sizeof(line));
	send_all(c, "USER anonymous\r\n");
	read_line(s, line, sizeof(line));
	send_all(s, "230 ok\r\n");
	read_line(c, line, sizeof(line));
	send_all(c, v6 ? "EPSV\r\n" : "PASV\r\n");
	read_line(s, line, sizeof(line));
	struct addr da = mkaddr(host, 0);
	int dl = listener(&da);
	int dport = port_of(dl);
	da = mkaddr(host, dport);
	if (v6) {
		snprintf(line, sizeof(line), "229 Entering Extended Passive Mode (|||%d|)\r\n", dport);
	} else {
		unsigned char b[4];
		inet_pton(AF_INET, host, b);
		snprintf(line, sizeof(line), "227 Entering Passive Mode (%d,%d,%d,%d,%d,%d)\r\n",
			 b[0], b[1], b[2], b[3], dport >> 8, dport & 255);
	}
	send_all(s, line);
	read_line(c, line, sizeof(line));
	if (data) {
		int dc = sock(a.family, SOCK_STREAM, 0, NULL);
		if (connect(dc, (struct sockaddr *)&da.ss, da.len) < 0)
			die("connect data");
		int ds = accept_one(dl);
		send_all(ds, "data\n");
		close(ds);
		read_eof(dc);
		close(dc);
	}
	close(dl);
	send_all(c, "QUIT\r\n");
	read_line(s, line, sizeof(line));
	send_all(s, "221 bye\r\n");
	read_line(c, line, sizeof(line));
	int cport = port_of(c);
	close(c);
	read_eof(s);
	close(s);
	close(l);
	printf("ftp %s %d %d %d%s\n", host, cport, port, dport, data ? " data" : "");
}

/* One connection attempt, as a scanner makes: whatever the answer, close. */
static void op_connect(const char *host, int port)
{
	struct addr a = mkaddr(host, port);
	int c = sock(a.family, SOCK_STREAM, 0, NULL);
	if (connect(c, (struct sockaddr *)&a.ss, a.len) < 0 && errno != ECONNREFUSED)
		die("connect");
	close(c);
	printf("connect %s %d\n", host, port);
}

static void usage(void)
{
	fprintf(stderr, "usage: tgen [-n COUNT] tcp|udp|udp-oneway ADDR PORT [SPORT]\n"
			"       tgen [-n COUNT] connect ADDR PORT\n"
			"       tgen icmp ADDR [ID]\n       tgen ftp ADDR PORT [--data]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int count = 1, i = 1;
	if (argc > 2 && strcmp(argv[1], "-n") == 0)
		count = atoi(argv[2]), i = 3;
	if (argc - i < 2 || count < 1)
		usage();
	const char *op = argv[i], *host = argv[i + 1];
	int port = argc - i > 2 ? atoi(argv[i + 2]) : 0;
	int extra = argc - i > 3 ? atoi(argv[i + 3]) : 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int n = 0; n < count; n++) {
		int sport = extra ? extra + n : 0;
		if (strcmp(op, "tcp") == 0 && port > 0)
			op_tcp(host, port, sport);
		else if (strcmp(op, "udp") == 0 && port > 0)
			op_udp(host, port, sport, 1);
		else if (strcmp(op, "udp-oneway") == 0 && port > 0)
			op_udp(host, port, sport, 0);
		else if (strcmp(op, "connect") == 0 && port > 0)
			op_connect(host, port + n);
		else if (strcmp(op, "icmp") == 0)
			op_icmp(host, argc - i > 2 ? atoi(argv[i + 2]) : (getpid() & 0xffff));
		else if (strcmp(op, "ftp") == 0 && port > 0)
			op_ftp(host, port, argc - i > 3 && strcmp(argv[i + 3], "--data") == 0);
		else
			usage();
	}
	return 0;
}
