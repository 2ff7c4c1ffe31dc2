/* expect.c — ct.expect.get/create/delete/flush (the dump lives in table.c).
 * Same error contract as table.c: misuse raises, kernel refusals return
 * nil, message, errno-name. */
#include <errno.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "build.h"
#include "cmd.h"

static struct nf_expect *scratch;
static struct nf_conntrack *parts[4];

/* Frees what the previous call built (an error may have cut it short). */
static struct nf_expect *fresh(lua_State *L)
{
	if (scratch)
		nfexp_destroy(scratch);
	for (int i = 0; i < 4; i++)
		if (parts[i])
			nfct_destroy(parts[i]), parts[i] = NULL;
	if (!(scratch = nfexp_new()))
		luaL_error(L, "out of memory");
	return scratch;
}

static uint16_t exp_type(int msg)
{
	return (uint16_t)((NFNL_SUBSYS_CTNETLINK_EXP << 8) | msg);
}

static uint8_t family_of(void)
{
	return parts[0] ? nfct_get_attr_u8(parts[0], ATTR_L3PROTO) : AF_UNSPEC;
}

/* core.exp_get(t) -> expectation table | nil, message, code; t needs tuple */
static int expect_get(lua_State *L)
{
	struct nf_expect *exp = fresh(L);
	build_exp(L, 1, exp, parts, BUILD_KEY, 1, "get", NULL);
	static char reply[CMD_MSG_SIZE];
	struct nlmsghdr *nlh = cmd_msg(NULL, exp_type(IPCTNL_MSG_EXP_GET), family_of(), 0);
	nfexp_nlmsg_build(nlh, exp);
	size_t len = 0;
	int rc = cmd_request(nlh, reply, sizeof(reply), &len);
	if (rc < 0)
		return err_push(L, -rc);
	if (!len)
		return err_push(L, ENOENT);
	if (!convert_msg(L, (struct nlmsghdr *)reply, 1, EV_ENTRY, rt_now(),
			 netns_mode ? netns_name(cmd_current()) : NULL, 0))
		return err_push(L, EINVAL);
	return 1;
}

/* core.exp_create(t) -> true | nil, message, code
 * t: master, tuple, mask (tuple tables), timeout; helper, class (needs helper), flags,
 * zone, fn, nat = {dir = "orig"|"reply", src, sport...} */
static int expect_create(lua_State *L)
{
	struct nf_expect *exp = fresh(L);
	struct exp_extra x;
	build_exp(L, 1, exp, parts, BUILD_CREATE, 1, "create", &x);
	struct nlmsghdr *nlh = cmd_msg(NULL, exp_type(IPCTNL_MSG_EXP_NEW), family_of(),
				       NLM_F_CREATE | NLM_F_EXCL);
	nfexp_nlmsg_build(nlh, exp);
	build_exp_put(nlh, &x);
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

/* core.exp_delete(t) -> true | nil, message, code ("ENOENT": already gone) */
static int expect_delete(lua_State *L)
{
	struct nf_expect *exp = fresh(L);
	build_exp(L, 1, exp, parts, BUILD_KEY, 1, "delete", NULL);
	struct nlmsghdr *nlh = cmd_msg(NULL, exp_type(IPCTNL_MSG_EXP_DELETE), family_of(), 0);
	nfexp_nlmsg_build(nlh, exp);
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

/* core.exp_flush([family]) -> true | nil, message, code */
static int expect_flush(lua_State *L)
{
	uint8_t family = (uint8_t)family_opt(L, 1);
	struct nlmsghdr *nlh = cmd_msg(NULL, exp_type(IPCTNL_MSG_EXP_DELETE), family, 0);
	return err_push_rc(L, cmd_request(nlh, NULL, 0, NULL));
}

static const luaL_Reg expect_funcs[] = {
	{ "exp_get", expect_get },
	{ "exp_create", expect_create },
	{ "exp_delete", expect_delete },
	{ "exp_flush", expect_flush },
	{ NULL, NULL },
};

void expect_register(lua_State *L)
{
	luaL_setfuncs(L, expect_funcs, 0);
}
