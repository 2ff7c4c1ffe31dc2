/* netns.h — the registry of network namespaces, and sockets made in them (netns.c).
 * Slot 0 is ctlua's own. Which of them are watched is watch.c's business. */
#ifndef CTLUA_NETNS_H
#define CTLUA_NETNS_H
#include "base.h"
#define NETNS_MAX 64
extern int netns_mode;            /* --netns or ct.watch used: events carry ev.netns */
void netns_init(void);
const char *netns_name(int i);    /* NULL for a free slot */
int netns_find(const char *name);
int netns_add(const char *spec);  /* its slot, or -errno */
void netns_remove(int i);
int netns_exists(int i);          /* whether /run/netns still has it */
void netns_scan(void (*fn)(const char *name));
int netns_enter(int i);          /* setns there: 0 or -errno; netns_leave(i) follows */
void netns_leave(int i);
struct mnl_socket;
struct mnl_socket *netns_socket(int i, int flags);   /* NETLINK_NETFILTER, or NULL (errno) */
#endif
