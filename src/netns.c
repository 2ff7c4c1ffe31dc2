/* netns.c — the network namespaces ctlua watches and acts in.
 *
 * Slot 0 is ctlua's own namespace ("self"). Others come from --netns NAME (a file
 * under /run/netns, as `ip netns` makes them), --netns PATH, ct.watch(), or --netns
 * all, which follows /run/netns as namespaces appear and disappear. A netlink
 * socket belongs to the namespace it was created in, so creating one elsewhere
 * is setns() there and back (CAP_SYS_ADMIN); sockets then stay where they are. */
#define _GNU_SOURCE             /* setns */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <libmnl/libmnl.h>
#include "netns.h"

struct netns {
	char name[64];
	int fd;
	int used;
};

static struct netns nss[NETNS_MAX];
int netns_mode;

void netns_init(void)
{
	snprintf(nss[0].name, sizeof(nss[0].name), "self");
	nss[0].fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	nss[0].used = 1;
}

const char *netns_name(int i)
{
	return i >= 0 && i < NETNS_MAX && nss[i].used ? nss[i].name : NULL;
}

int netns_find(const char *name)
{
	for (int i = 0; i < NETNS_MAX; i++)
		if (nss[i].used && strcmp(nss[i].name, name) == 0)
			return i;
	return -1;
}

/* Adds spec ("self", a name under /run/netns, or a path) and returns its slot, or
 * -errno (ENOENT no such namespace, EINVAL not a namespace, ENOSPC too many). */
int netns_add(const char *spec)
{
	char path[512];
	const char *name = spec;
	if (strcmp(spec, "self") == 0)
		return 0;
	char pidname[32];
	int pid;
	if (strchr(spec, '/')) {
		snprintf(path, sizeof(path), "%s", spec);
		name = strrchr(spec, '/') + 1;
		if (sscanf(spec, "/proc/%d/ns/net", &pid) == 1) {  /* a process's: "pid-N" */
			snprintf(pidname, sizeof(pidname), "pid-%d", pid);
			name = pidname;
		}
	} else {
		snprintf(path, sizeof(path), "/run/netns/%s", spec);
	}
	if (!*name || strlen(name) >= sizeof(nss[0].name))
		return -EINVAL;
	int have = netns_find(name);
	if (have >= 0)
		return have;
	int slot = -1;
	for (int i = 1; i < NETNS_MAX && slot < 0; i++)
		if (!nss[i].used)
			slot = i;
	if (slot < 0)
		return -ENOSPC;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A file under /run/netns that is not (yet) bind-mounted is no namespace. */
	struct stat a, b;
	if (fstat(fd, &a) < 0 || fstat(nss[0].fd, &b) < 0 || a.st_dev != b.st_dev) {
		close(fd);
		return -EINVAL;
	}
	snprintf(nss[slot].name, sizeof(nss[slot].name), "%s", name);
	nss[slot].fd = fd;
	nss[slot].used = 1;
	return slot;
}

void netns_remove(int i)
{
	if (i <= 0 || i >= NETNS_MAX || !nss[i].used)
		return;
	close(nss[i].fd);
	nss[i].used = 0;
}

/* A NETLINK_NETFILTER socket bound to an automatic port id, or NULL (errno). */
static struct mnl_socket *nl_socket(int flags)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | flags);
	if (s && mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(s);
		errno = e;
		return NULL;
	}
	return s;
}

/* Enters namespace i from ctlua's own (slot 0: nothing to do). 0 or -errno;
 * after 0, netns_leave(i) must follow before anything else runs. */
int netns_enter(int i)
{
	if (i == 0)
		return 0;
	if (i < 0 || i >= NETNS_MAX || !nss[i].used)
		return -ENOENT;
	return setns(nss[i].fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

/* Back to ctlua's own namespace from netns_enter(i); errno is kept. */
void netns_leave(int i)
{
	if (i == 0)
		return;
	int e = errno;
	if (setns(nss[0].fd, CLONE_NEWNET) < 0) {
		/* Stuck in another namespace: nothing ctlua does would be right. */
		fprintf(stderr, "ctlua: cannot return to its own network namespace: %s\n", strerror(errno));
		abort();
	}
	errno = e;
}

/* A NETLINK_NETFILTER socket created in namespace i, or NULL (errno). */
struct mnl_socket *netns_socket(int i, int flags)
{
	if (i == 0)
		return nl_socket(flags);
	int rc = netns_enter(i);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	struct mnl_socket *s = nl_socket(flags);
	netns_leave(i);
	return s;
}

/* Calls fn(name) for each namespace file under /run/netns. */
void netns_scan(void (*fn)(const char *name))
{
	DIR *d = opendir("/run/netns");
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			fn(e->d_name);
	closedir(d);
}

/* Whether /run/netns still has a file for slot i (self always exists). */
int netns_exists(int i)
{
	if (i == 0)
		return 1;
	char path[600];
	snprintf(path, sizeof(path), "/run/netns/%s", nss[i].name);
	return access(path, F_OK) == 0;
}
