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

/* The comm of the process holding socket inode ino, scanning /proc/PID/fd. */
static int inode_owner(unsigned long ino, char *name, size_t n)
{
	char want[64], path[600], link[64];
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	DIR *proc = opendir("/proc");
	struct dirent *p;
	int found = 0;
	while (proc && !found && (p = readdir(proc))) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		DIR *fds = opendir(path);
		struct dirent *fd;
		while (fds && !found && (fd = readdir(fds))) {
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, fd->d_name);
			ssize_t l = readlink(path, link, sizeof(link) - 1);
			if (l > 0 && (link[l] = 0, strcmp(link, want) == 0))
				found = 1;
		}
		if (fds)
			closedir(fds);
		if (found) {
			snprintf(path, sizeof(path), "/proc/%s/comm", p->d_name);
			FILE *f = fopen(path, "re");
			name[0] = 0;
			if (f) {
				if (fgets(name, (int)n, f))
					name[strcspn(name, "\n")] = 0;
				fclose(f);
			}
		}
	}
	if (proc)
		closedir(proc);
	return found && name[0];
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
			inode_owner(ino, last_name, sizeof(last_name));
		last_pid = portid;
	}
	return last_name[0] ? last_name : NULL;
}
