/* table.c — ct.get/create/update/delete/flush/count and dumps (ct.entries).
 *
 * Operational failures return nil, message, errno-name (ENOENT on delete means
 * "already gone"); misuse raises (build.c). The nf_conntrack scratch objects are
 * static and freed at the start of the next call, so an error raised half-way
 * leaks nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "build.h"
#include "cmd.h"

#define DUMP_MT "ctlua.dump"
#define DUMP_BUF_SIZE 65536      /* the kernel fills up to this much per dump read */

static struct nf_conntrack *scratch;

static struct nf_conntrack *fresh(lua_State *L)
{
	if (scratch)
		nfct_destroy(scratch);
	if (!(scratch = nfct_new()))
		luaL_error(L, "out of memory");
	return scratch;
}

static uint16_t ct_type(int msg)
{
	return (uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | msg);
}

/* core.ct_get(t) -> entry | nil, message, code */
static int table_get(lua_State *L)
{
	struct nf_conntrack *ct = fresh(L);
	int family = build_ct(L, 1, ct, BUILD_KEY, 1, "get");
	static char reply[CMD_MSG_SIZE];
	struct nlmsghdr *nlh = cmd_msg(NULL, ct_type(IPCTNL_MSG_CT_GET), (uint8_t)family, 0);
	nfct_nlmsg_build(nlh, ct);
	size_t len = 0;
	int rc = cmd_request(nlh, reply, sizeof(reply), &len);
	if (rc < 0)
		return err_push(L, -rc);
	if (len == 0)
		return err_push(L, ENOENT);
	if (!convert_msg(L, (struct nlmsghdr *)reply, 0, EV_ENTRY, rt_now(),
			 netns_mode ? netns_name(cmd_current()) : NULL, 0))
		return err_push(L, EINVAL);
	return 1;
}

/* core.ct_create(t) -> true | nil, message, code */
static int table_create(lua_State *L)
{
	struct nf_conntrack *ct = fresh(L);
	int family = build_ct(L, 1, ct, BUILD_CREATE, 1, "create");
	struct nlmsghdr *nlh = cmd_msg(NULL, ct_type(IPCTNL_MSG_CT_NEW), (uint8_t)family,
				       NLM_F_CREATE | NLM_F_EXCL);
	nfct_nlmsg_build(nlh, ct);
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

/* core.ct_update(t, changes) -> true | nil, message, code
 * changes: mark [+ mask: only the bits in mask change], timeout, status, labels
 * [+ labels_mask]. */
static int table_update(lua_State *L)
{
	struct nf_conntrack *ct = fresh(L);
	int family = build_ct(L, 1, ct, BUILD_KEY, 1, "update");
	uint32_t mask = 0;
	build_changes(L, 2, ct, 2, "update", &mask);
	struct nlmsghdr *nlh = cmd_msg(NULL, ct_type(IPCTNL_MSG_CT_NEW), (uint8_t)family, 0);
	if (mask && nfct_attr_is_set(ct, ATTR_MARK))   /* kernel: mark = (mark & ~mask) ^ new */
		nfct_set_attr_u32(ct, ATTR_MARK, nfct_get_attr_u32(ct, ATTR_MARK) & mask);
	nfct_nlmsg_build(nlh, ct);
	if (mask && nfct_attr_is_set(ct, ATTR_MARK))
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

/* core.ct_delete(t) -> true | nil, message, code ("ENOENT": already gone) */
static int table_delete(lua_State *L)
{
	struct nf_conntrack *ct = fresh(L);
	int family = build_ct(L, 1, ct, BUILD_KEY, 1, "delete");
	struct nlmsghdr *nlh = cmd_msg(NULL, ct_type(IPCTNL_MSG_CT_DELETE), (uint8_t)family, 0);
	nfct_nlmsg_build(nlh, ct);
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

/* core.ct_delete_many(list) -> deleted, gone, failed, first_error_message|nil
 * Packs the delete requests into large sendmsg batches and collects their ACKs:
 * one round trip per batch instead of per entry. */
static int table_delete_many(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 1);
	static char batch[160 * 1024];   /* under the default netlink sndbuf (208 KiB) */
	static int errs[4096];
	lua_Integer deleted = 0, gone = 0, failed = 0;
	int first_err = 0;
	size_t used = 0;
	int count = 0;
	for (lua_Integer i = 1; i <= n + 1; i++) {
		int flush = i > n || count == (int)(sizeof(errs) / sizeof(errs[0])) ||
			    used + CMD_MSG_SIZE > sizeof(batch);
		if (flush && count > 0) {
			memset(errs, 0, sizeof(errs[0]) * (size_t)count);
			int rc = cmd_batch(batch, used, count, errs);
			if (rc < 0)
				return err_push(L, -rc);
			for (int k = 0; k < count; k++) {
				if (errs[k] == 0)
					deleted++;
				else if (errs[k] == ENOENT)
					gone++;
				else if (failed++ == 0)
					first_err = errs[k];
			}
			used = 0, count = 0;
		}
		if (i > n)
			break;
		lua_geti(L, 1, i);
		struct nf_conntrack *ct = fresh(L);
		int family = build_ct(L, -1, ct, BUILD_KEY, 1, "delete");
		lua_pop(L, 1);
		struct nlmsghdr *nlh = cmd_msg(batch + used, ct_type(IPCTNL_MSG_CT_DELETE),
					       (uint8_t)family, 0);
		nfct_nlmsg_build(nlh, ct);
		used += NLMSG_ALIGN(nlh->nlmsg_len);
		count++;
	}
	lua_pushinteger(L, deleted);
	lua_pushinteger(L, gone);
	lua_pushinteger(L, failed);
	if (first_err)
		lua_pushstring(L, strerror(first_err));
	else
		lua_pushnil(L);
	return 4;
}

/* core.ct_flush([family]) -> true | nil, message, code */
static int table_flush(lua_State *L)
{
	uint8_t family = (uint8_t)family_opt(L, 1);
	struct nlmsghdr *nlh = cmd_msg(NULL, ct_type(IPCTNL_MSG_CT_DELETE), family, 0);
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

static int stats_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_ENTRIES &&
	    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

/* core.ct_count() -> number of entries in the table | nil, message, code */
static int table_count(lua_State *L)
{
	static char reply[CMD_MSG_SIZE];
	struct nlmsghdr *nlh = cmd_msg(NULL, ct_type(IPCTNL_MSG_CT_GET_STATS), AF_UNSPEC, 0);
	size_t len = 0;
	int rc = cmd_request(nlh, reply, sizeof(reply), &len);
	if (rc < 0)
		return err_push(L, -rc);
	uint32_t n = 0;
	if (len)
		mnl_attr_parse((struct nlmsghdr *)reply, sizeof(struct nfgenmsg), stats_cb, &n);
	lua_pushinteger(L, n);
	return 1;
}

/* A dump in progress: its own socket, a receive buffer, the position in it. */
struct dump {
	struct mnl_socket *nl;
	int exp;                       /* expectations, not conntrack entries */
	int done;
	int err;                       /* errno of a failed dump, 0 */
	char *buf;
	int left;
	const struct nlmsghdr *cur;
	uint32_t seq, portid;
	int ns;                        /* namespace slot it runs in */
};

static void dump_close(struct dump *d)
{
	if (d->nl)
		mnl_socket_close(d->nl), d->nl = NULL;
	free(d->buf);
	d->buf = NULL;
	d->done = 1;
}

/* core.dump(kind, [family, mark, markmask, status, statusmask]) -> iterator | nil, msg, code
 * kind "ct", "zero" (ct, and the kernel zeroes the counters it dumps: conntrack -L -z),
 * "dying", "unconfirmed" (those lists of the table) or "expect". mark/status filters run
 * in the kernel (ct and zero only). */
static int table_dump(lua_State *L)
{
	static const char *const kinds[] = { "ct", "zero", "dying", "unconfirmed", "expect", NULL };
	static const int msgs[] = { IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_GET_CTRZERO,
				    IPCTNL_MSG_CT_GET_DYING, IPCTNL_MSG_CT_GET_UNCONFIRMED, IPCTNL_MSG_EXP_GET };
	int k = luaL_checkoption(L, 1, NULL, kinds);
	int exp = k == 4;
	lua_settop(L, 6);      /* the userdata pushed below must not look like an argument */
	uint8_t family = (uint8_t)family_opt(L, 2);
	struct dump *d = lua_newuserdatauv(L, sizeof(*d), 0);
	memset(d, 0, sizeof(*d));
	d->exp = exp;
	luaL_setmetatable(L, DUMP_MT);
	d->buf = malloc(DUMP_BUF_SIZE);
	d->ns = cmd_current();
	d->nl = d->buf ? netns_socket(d->ns, 0) : NULL;
	if (!d->nl) {
		int e = d->buf ? errno : ENOMEM;
		dump_close(d);
		return err_push(L, e);
	}
	d->portid = mnl_socket_get_portid(d->nl);
	uint16_t type = exp ? (uint16_t)((NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_GET)
			    : ct_type(msgs[k]);
	char req[CMD_MSG_SIZE];
	struct nlmsghdr *nlh = cmd_msg(req, type, family, NLM_F_DUMP);
	nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	if (k < 2 && (!lua_isnoneornil(L, 3) || !lua_isnoneornil(L, 5))) {
		struct nfct_filter_dump *f = nfct_filter_dump_create();
		if (!lua_isnoneornil(L, 3)) {
			struct nfct_filter_dump_mark m = {
				(uint32_t)luaL_checkinteger(L, 3), (uint32_t)luaL_optinteger(L, 4, 0xffffffff) };
			nfct_filter_dump_set_attr(f, NFCT_FILTER_DUMP_MARK, &m);
		}
		if (!lua_isnoneornil(L, 5)) {
			struct nfct_filter_dump_mark s = {
				(uint32_t)luaL_checkinteger(L, 5), (uint32_t)luaL_optinteger(L, 6, 0) };
			nfct_filter_dump_set_attr(f, NFCT_FILTER_DUMP_STATUS, &s);
		}
		nfct_nlmsg_build_filter(nlh, f);
		nfct_filter_dump_destroy(f);
	}
	d->seq = nlh->nlmsg_seq;
	stats.commands++;
	if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0) {
		int e = errno;
		dump_close(d);
		return err_push(L, e);
	}
	return 1;
}

/* iterator() -> next entry table, or nil at the end (the socket is then closed).
 * Raises on a receive error in the middle of a dump. */
static int dump_next(lua_State *L)
{
	struct dump *d = luaL_checkudata(L, 1, DUMP_MT);
	for (;;) {
		if (d->done)
			return 0;
		if (!d->cur || !nl_msg_ok(d->cur, d->left)) {
			ssize_t n = mnl_socket_recvfrom(d->nl, d->buf, DUMP_BUF_SIZE);
			if (n < 0) {
				int e = errno;
				if (e == EINTR)
					continue;
				dump_close(d);
				d->err = e;
				lua_pushfstring(L, "dump failed: %s", strerror(e));
				return lua_error(L);
			}
			d->cur = (const struct nlmsghdr *)d->buf;
			d->left = (int)n;
			continue;
		}
		const struct nlmsghdr *nlh = d->cur;
		d->cur = mnl_nlmsg_next(nlh, &d->left);
		if (nlh->nlmsg_type == NLMSG_DONE) {
			dump_close(d);
			return 0;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			/* Read before dump_close: the message lives in the buffer it frees. */
			int err = ((const struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
			dump_close(d);
			if (!err)
				return 0;
			d->err = -err;
			lua_pushfstring(L, "dump failed: %s", strerror(-err));
			return lua_error(L);
		}
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		/* Entries carry the namespace they came from. */
		int got = convert_msg(L, nlh, d->exp, EV_ENTRY, rt_now(),
				      netns_mode ? netns_name(d->ns) : NULL, 0);
		if (!got)
			continue;
		return 1;
	}
}

/* iterator:close() / __close / __gc: ends the dump early; safe twice. */
static int dump_lclose(lua_State *L)
{
	dump_close(luaL_checkudata(L, 1, DUMP_MT));
	return 0;
}

static const luaL_Reg dump_meta[] = {
	{ "__call", dump_next },
	{ "__close", dump_lclose },
	{ "__gc", dump_lclose },
	{ NULL, NULL },
};

/* iterator:errno() -> errno name of the failure that ended the dump, or nil */
static int dump_errno(lua_State *L)
{
	struct dump *d = luaL_checkudata(L, 1, DUMP_MT);
	if (!d->err)
		return 0;
	lua_pushstring(L, err_name(d->err));
	return 1;
}

static const luaL_Reg dump_methods[] = {
	{ "close", dump_lclose },
	{ "errno", dump_errno },
	{ NULL, NULL },
};

/* core.proto_number(name) -> protocol number | nil: ctlua's names, /etc/protocols
 * (as conntrack -p resolves them), or decimal 0..255 */
static int table_proto_number(lua_State *L)
{
	int p = proto_lookup(luaL_checkstring(L, 1));
	if (p < 0)
		return 0;
	lua_pushinteger(L, p);
	return 1;
}

static const luaL_Reg table_funcs[] = {
	{ "proto_number", table_proto_number },
	{ "ct_get", table_get },
	{ "ct_create", table_create },
	{ "ct_update", table_update },
	{ "ct_delete", table_delete },
	{ "ct_delete_many", table_delete_many },
	{ "ct_flush", table_flush },
	{ "ct_count", table_count },
	{ "dump", table_dump },
	{ NULL, NULL },
};

void table_register(lua_State *L)
{
	rt_class(L, DUMP_MT, dump_meta, dump_methods);
	luaL_setfuncs(L, table_funcs, 0);
}
