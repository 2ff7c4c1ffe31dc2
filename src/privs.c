/* privs.c — least privilege once the sockets are open (libcap-ng).
 *
 * What each mode keeps:
 *   default        CAP_NET_ADMIN only (in every set, ambient too): table
 *                  operations and dumps (the kernel checks the socket opener's
 *                  capability, and dumps open a socket each), resync, growing
 *                  the receive buffer past rmem_max, subscribing anew on reload,
 *                  and commands run by ct.spawn (nft, conntrack) keep it.
 *   --listen-only  nothing: events keep arriving on the subscribed socket, but
 *                  table operations fail with EPERM, the buffer grows only up
 *                  to rmem_max, and a reload cannot join groups it had not.
 *   --netns        CAP_SYS_ADMIN too, in the effective and permitted sets only:
 *                  sockets in other namespaces are made by setns() there, for
 *                  every dump, ct.watch and the namespaces --netns all follows.
 *                  Not in the bounding set, because a child of a uid-0 process
 *                  gets its bounding set as permitted at exec: so ct.spawn'd
 *                  commands cannot setns, unshare or mount.
 *   --user NAME    either of the above, as NAME (its uid, gid, and groups).
 * Commands run by ct.spawn get what ctlua kept, whatever their user. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cap-ng.h>
#include <linux/capability.h>
#include "ctlua.h"

static uid_t uid;
static gid_t gid;
static const char *user;

/* Resolves --user before anything else is done. 0, or -1 when there is no such user. */
int privs_user(const char *name)
{
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return -1;
	user = name, uid = pw->pw_uid, gid = pw->pw_gid;
	return 0;
}

/* Drops to the mode's capabilities (and user). 0 or -errno. A process that has
 * no capabilities to begin with (not root) has nothing to drop: 0. */
int privs_drop(int listen_only, int netns)
{
	if (!user && capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE)
		return 0;
	capng_clear(CAPNG_SELECT_ALL);
	if (!listen_only)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE |
			     CAPNG_BOUNDING_SET | CAPNG_AMBIENT, CAP_NET_ADMIN);
	/* Sockets in other namespaces (dumps, ct.watch, --netns all) need setns; setns
	 * checks the effective set, exec looks at the bounding set (kept without it). */
	if (!listen_only && netns)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_ADMIN);
	int rc;
	if (user)
		rc = capng_change_id((int)uid, (int)gid, CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	else
		rc = capng_apply(CAPNG_SELECT_ALL);
	if (rc < 0)
		return errno ? -errno : -EPERM;
	if (conf.verbose)
		fprintf(stderr, "ctlua: capabilities: %s%s%s\n", listen_only ? "none" : "cap_net_admin",
			user ? ", user " : "", user ? user : "");
	return 0;
}
