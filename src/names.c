/* names.c — the names behind numbers an event carries: connlabel.conf's label
 * names and the process owning a netlink port id (format.c prints both, convert.c
 * puts them in tables). Reads files, keeps nothing of Lua. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "names.h"

static struct nfct_labelmap *labelmap;

void names_init(void)
{
	/* Missing connlabel.conf is normal: labels then show as bit numbers. */
	labelmap = nfct_labelmap_new(NULL);
}

const char *label_name(unsigned bit)
{
	return labelmap ? nfct_labelmap_get_name(labelmap, bit) : NULL;
}

/* conntrack -o labels prints nothing at all without a connlabel.conf. */
int labels_mapped(void)
{
	return labelmap != NULL;
}

/* The netlink socket of portid, as its inode (from /proc/net/netlink). */
static unsigned long portid_inode(uint32_t portid)
{
	FILE *f = fopen("/proc/net/netlink", "re");
	char line[256];
	unsigned long ino = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long sk, i;
		int eth;
		unsigned pid;
		if (sscanf(line, "%lx %d %u %*x %*d %*d %*d %*d %*d %lu", &sk, &eth, &pid, &i) == 4 &&
		    eth == NETLINK_NETFILTER && pid == portid) {
			ino = i;
			break;
		}
	}
	fclose(f);
	return ino;
}

/* Whether process pid holds socket inode ino (one of its /proc/PID/fd links). */
static int holds_inode(const char *pid, const char *want)
{
	char path[600], link[64];
	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	DIR *fds = opendir(path);
	struct dirent *fd;
	int found = 0;
	while (fds && !found && (fd = readdir(fds))) {
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, fd->d_name);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l > 0 && (link[l] = 0, strcmp(link, want) == 0))
			found = 1;
	}
	if (fds)
		closedir(fds);
	return found;
}

/* The name conntrack prints for pid: /proc/PID/stat's "(comm)" up to the first
 * ')', so a comm holding ')' is cut there, as conntrack -E cuts it. */
static int stat_name(const char *pid, char *name, size_t n)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	FILE *f = fopen(path, "re");
	size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[got] = 0;
	const char *open = strchr(buf, '(');
	size_t len = open ? strcspn(open + 1, ")") : 0;
	if (!len || len >= n)
		return 0;
	memcpy(name, open + 1, len);
	name[len] = 0;
	return 1;
}

/* The name of the process holding socket inode ino. As conntrack, the process
 * whose pid is the portid first (most take their pid as the first port id),
 * then every other but init. */
static int inode_owner(uint32_t portid, unsigned long ino, char *name, size_t n)
{
	char want[64], first[16];
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	snprintf(first, sizeof(first), "%u", portid);
	if (holds_inode(first, want) && stat_name(first, name, n))
		return 1;
	DIR *proc = opendir("/proc");
	struct dirent *p;
	int found = 0;
	while (proc && !found && (p = readdir(proc))) {
		/* pid 1 is never searched, as in conntrack */
		if (p->d_name[0] < '1' || p->d_name[0] > '9' || strcmp(p->d_name, "1") == 0 ||
		    strcmp(p->d_name, first) == 0)
			continue;
		if (holds_inode(p->d_name, want))
			found = stat_name(p->d_name, name, n);
	}
	if (proc)
		closedir(proc);
	return found;
}

/* The name of the process owning netlink portid (a process's later sockets get
 * random portids, so the pid is found through the socket inode), or NULL. Cached
 * for the last portid: a sweep makes many events of one portid. */
const char *progname_of(uint32_t portid)
{
	static uint32_t last_pid;
	static char last_name[64];
	if (portid != last_pid) {
		last_name[0] = 0;
		unsigned long ino = portid_inode(portid);
		if (ino)
			inode_owner(portid, ino, last_name, sizeof(last_name));
		last_pid = portid;
	}
	return last_name[0] ? last_name : NULL;
}
