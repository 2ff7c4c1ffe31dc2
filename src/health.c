/* health.c — table health: ct.cpu_stats, ct.expect.cpu_stats, ct.max.
 *
 * The kernel's per-CPU conntrack counters (IPCTNL_MSG_CT_GET_STATS_CPU) and
 * expectation counters (IPCTNL_MSG_EXP_GET_STATS_CPU), named as `conntrack -S`
 * names them, with whatever this kernel sends (older kernels send searched, new,
 * ignore, delete, delete_list too; newer ones clash_resolve, chaintoolong). Each
 * per-CPU read is a dump on a socket of its own in the namespace asked for (as
 * table.c's dumps), so nothing can be left in front of the command socket's next
 * reply; the messages are collected first and turned into Lua tables after the
 * socket is closed, so no Lua error can leak it. ct.max asks the command socket
 * for the global stats (CTA_STATS_GLOBAL_MAX_ENTRIES).
 * Operational failures: nil, message, code; an unknown namespace raises. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "cmd.h"

/* conntrack-tools' names for the counters, by attribute. */
static const char *const ct_names[CTA_STATS_MAX + 1] = {
	[CTA_STATS_SEARCHED] = "searched",
	[CTA_STATS_FOUND] = "found",
	[CTA_STATS_NEW] = "new",
	[CTA_STATS_INVALID] = "invalid",
	[CTA_STATS_IGNORE] = "ignore",
	[CTA_STATS_DELETE] = "delete",
	[CTA_STATS_DELETE_LIST] = "delete_list",
	[CTA_STATS_INSERT] = "insert",
	[CTA_STATS_INSERT_FAILED] = "insert_failed",
	[CTA_STATS_DROP] = "drop",
	[CTA_STATS_EARLY_DROP] = "early_drop",
	[CTA_STATS_ERROR] = "error",
	[CTA_STATS_SEARCH_RESTART] = "search_restart",
	[CTA_STATS_CLASH_RESOLVE] = "clash_resolve",
	[CTA_STATS_CHAIN_TOOLONG] = "chaintoolong",
};

static const char *const exp_names[CTA_STATS_EXP_MAX + 1] = {
	[CTA_STATS_EXP_NEW] = "expect_new",
	[CTA_STATS_EXP_CREATE] = "expect_create",
	[CTA_STATS_EXP_DELETE] = "expect_delete",
};

#define NAMES_MAX (CTA_STATS_MAX > CTA_STATS_EXP_MAX ? CTA_STATS_MAX : CTA_STATS_EXP_MAX)

/* One CPU's counters as the kernel sent them. */
struct cpu_row {
	unsigned cpu;
	uint32_t present;              /* bit a: attribute a was sent */
	uint32_t v[NAMES_MAX + 1];
};

struct collect {
	struct cpu_row *rows;
	size_t n, cap;
	int max;                       /* highest attribute known */
	int nomem;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct collect *c = data;
	int type = mnl_attr_get_type(a);
	if (type > c->max || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	struct cpu_row *r = &c->rows[c->n - 1];
	r->v[type] = ntohl(mnl_attr_get_u32(a));
	r->present |= 1u << type;
	return MNL_CB_OK;
}

static int row_cb(const struct nlmsghdr *nlh, void *data)
{
	struct collect *c = data;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct cpu_row *rows = realloc(c->rows, cap * sizeof(*rows));
		if (!rows) {
			c->nomem = 1;
			return MNL_CB_ERROR;
		}
		c->rows = rows, c->cap = cap;
	}
	struct cpu_row *r = &c->rows[c->n++];
	memset(r, 0, sizeof(*r));
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	r->cpu = ntohs(nfg->res_id);   /* the kernel puts the CPU number there */
	mnl_attr_parse(nlh, sizeof(*nfg), attr_cb, c);
	return MNL_CB_OK;
}

/* Dumps message `type` in namespace slot ns into c. 0 or -errno. */
static int dump_rows(int ns, uint16_t type, struct collect *c)
{
	struct mnl_socket *nl = netns_socket(ns, 0);
	if (!nl)
		return -errno;
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	int rc = buf ? 0 : -ENOMEM;
	char req[CMD_MSG_SIZE];
	struct nlmsghdr *nlh = cmd_msg(req, type, AF_UNSPEC, NLM_F_DUMP);
	nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	uint32_t portid = mnl_socket_get_portid(nl);
	stats.commands++;
	if (rc == 0 && mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		rc = -errno;
	while (rc == 0) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, row_cb, c);
		if (r == MNL_CB_ERROR)
			rc = c->nomem ? -ENOMEM : -errno;
		else if (r == MNL_CB_STOP)
			break;
	}
	if (rc < 0)
		stats.command_errors++;
	free(buf);
	mnl_socket_close(nl);
	return rc;
}

/* The namespace slot named by argument arg (nil: ctlua's own); raises on one not
 * watched, as the table operations do. */
static int ns_arg(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return 0;
	const char *name = luaL_checkstring(L, arg);
	int ns = netns_find(name);
	if (ns < 0)
		return luaL_argerror(L, arg, lua_pushfstring(L, "network namespace '%s' is not watched", name));
	return ns;
}

/* { {cpu = 0, found = n, ...}, ... } from a dump of `type`, or nil, msg, code. */
static int push_rows(lua_State *L, int exp)
{
	int ns = ns_arg(L, 1);
	struct collect c = { NULL, 0, 0, exp ? CTA_STATS_EXP_MAX : CTA_STATS_MAX, 0 };
	uint16_t type = exp ? (uint16_t)((NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_GET_STATS_CPU)
			    : (uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU);
	int rc = dump_rows(ns, type, &c);
	if (rc < 0) {
		free(c.rows);
		return err_push(L, -rc);
	}
	/* Lua may raise (memory) from here on: the rows live in a userdata. */
	struct cpu_row *rows = lua_newuserdatauv(L, c.n ? c.n * sizeof(*rows) : 1, 0);
	if (c.n)
		memcpy(rows, c.rows, c.n * sizeof(*rows));
	free(c.rows);
	const char *const *names = exp ? exp_names : ct_names;
	lua_createtable(L, (int)c.n, 0);
	for (size_t i = 0; i < c.n; i++) {
		lua_createtable(L, 0, 12);
		lua_pushinteger(L, (lua_Integer)rows[i].cpu);
		lua_setfield(L, -2, "cpu");
		for (int a = 1; a <= c.max; a++) {
			if (!(rows[i].present & (1u << a)) || !names[a])
				continue;
			lua_pushinteger(L, (lua_Integer)rows[i].v[a]);
			lua_setfield(L, -2, names[a]);
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* core.cpu_stats([netns]) -> { {cpu=, found=, invalid=, insert=, insert_failed=,
 * drop=, early_drop=, error=, search_restart=, clash_resolve=, chaintoolong=}, ... }
 * (the counters this kernel sends; conntrack -S) | nil, message, code */
static int health_cpu_stats(lua_State *L)
{
	return push_rows(L, 0);
}

/* core.exp_cpu_stats([netns]) -> { {cpu=, expect_new=, expect_create=,
 * expect_delete=}, ... } (conntrack -S exp) | nil, message, code */
static int health_exp_cpu_stats(lua_State *L)
{
	return push_rows(L, 1);
}

static int global_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_MAX_ENTRIES &&
	    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		*(int64_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

/* core.ct_max([netns]) -> the table's maximum (nf_conntrack_max) | nil, message, code
 * Older kernels do not send it: then the sysctl, which on those kernels is
 * one value for every namespace (read-only outside the first), so ours is theirs. */
static int health_max(lua_State *L)
{
	int ns = ns_arg(L, 1);
	static char reply[CMD_MSG_SIZE];
	int was = cmd_current();
	cmd_select(ns);
	struct nlmsghdr *nlh = cmd_msg(NULL, (uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS),
				       AF_UNSPEC, 0);
	size_t len = 0;
	int rc = cmd_request(nlh, reply, sizeof(reply), &len);
	cmd_select(was);
	if (rc < 0)
		return err_push(L, -rc);
	int64_t max = -1;
	if (len)
		mnl_attr_parse((struct nlmsghdr *)reply, sizeof(struct nfgenmsg), global_cb, &max);
	if (max < 0) {
		FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_max", "re");
		long long v;
		int got = f && fscanf(f, "%lld", &v) == 1;
		int e = f ? EINVAL : errno;
		if (f)
			fclose(f);
		if (!got)
			return err_push(L, e);
		max = v;
	}
	lua_pushinteger(L, (lua_Integer)max);
	return 1;
}

static const luaL_Reg health_funcs[] = {
	{ "cpu_stats", health_cpu_stats },
	{ "exp_cpu_stats", health_exp_cpu_stats },
	{ "ct_max", health_max },
	{ NULL, NULL },
};

void health_register(lua_State *L)
{
	luaL_setfuncs(L, health_funcs, 0);
}
