/* nft.c — ct.nft: nftables in-process, through libnftables.
 *
 * One command per call, synchronously, on the loop: events wait for one nft
 * command at most (a batch given as text is one command). Failures return nil,
 * nft's own message (its error buffer), and a code: the errno name that message
 * carries (ENOENT: no such table, set or element; EEXIST; EPERM...), EINVAL when
 * it carries none (a syntax error). Misuse (a set or element that is not plain
 * nft words, a bad timeout, an unknown namespace) raises.
 *
 * Namespaces: libnftables talks netlink on a socket it opens when its context is
 * made, and resolves names (interfaces) in the namespace of the calling thread.
 * So each namespace slot gets its own context, made inside that namespace, and
 * every command runs inside it too: setns there and back (netns_enter/leave, as
 * netns_socket does; CAP_SYS_ADMIN, kept with --netns). A context remembers its
 * namespace's inode, so a slot reused by another namespace gets a new context;
 * watch.c forgets a slot's context when the namespace goes (its socket would
 * keep the namespace alive). Capabilities: CAP_NET_ADMIN, which ctlua keeps. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <lauxlib.h>
#include "ctlua.h"

struct nftns {
	struct nft_ctx *ctx;
	ino_t ino;                     /* the namespace it was made in */
};
static struct nftns ctxs[NETNS_MAX];

void nft_forget(int ns)
{
	if (ns >= 0 && ns < NETNS_MAX && ctxs[ns].ctx) {
		nft_ctx_free(ctxs[ns].ctx);
		ctxs[ns].ctx = NULL;
	}
}

/* The inode of the calling thread's network namespace (0 if unknown). */
static ino_t here(void)
{
	struct stat st;
	return stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

/* A new context in the current namespace, or NULL (errno). libnftables exits the
 * process when it cannot open its socket, and opens it without close-on-exec:
 * so a socket is opened first to see that it can be, and the number it had is
 * the one libnftables gets next (nothing else runs in between). */
static struct nft_ctx *ctx_new(void)
{
	int probe = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (probe < 0)
		return NULL;
	close(probe);
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	int proto = 0;
	socklen_t len = sizeof(proto);
	if (getsockopt(probe, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == NETLINK_NETFILTER)
		fcntl(probe, F_SETFD, FD_CLOEXEC);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	return ctx;
}

/* The context of slot ns, called inside that namespace. */
static struct nft_ctx *ctx_of(int ns)
{
	ino_t ino = here();
	if (ctxs[ns].ctx && ctxs[ns].ino != ino)
		nft_forget(ns);
	if (!ctxs[ns].ctx) {
		ctxs[ns].ctx = ctx_new();
		ctxs[ns].ino = ino;
	}
	return ctxs[ns].ctx;
}

/* The errno whose text nft's message carries, or EINVAL. */
static int code_of(const char *msg, int e)
{
	static const int known[] = { ENOENT, EEXIST, EPERM, EACCES, EBUSY, ENOSPC, EOPNOTSUPP,
				     ENOMEM, E2BIG, EOVERFLOW, ENOBUFS, EMSGSIZE, ERANGE, EINVAL };
	if (e > 0 && strstr(msg, strerror(e)))
		return e;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strstr(msg, strerror(known[i])))
			return known[i];
	return EINVAL;
}

/* Runs cmd in slot ns: its output (output = 1) or true | nil, message, code. */
static int run(lua_State *L, int ns, const char *cmd, int output)
{
	int rc = netns_enter(ns);
	if (rc < 0)
		return err_push(L, -rc);
	struct nft_ctx *ctx = ctx_of(ns);
	int e = errno;
	int failed = 1;
	if (ctx) {
		errno = 0;
		failed = nft_run_cmd_from_buffer(ctx, cmd) != 0;
		e = errno;
	}
	netns_leave(ns);
	if (!ctx)
		return err_push(L, e);
	/* Both buffers are read (and so emptied) every time. */
	const char *out = nft_ctx_get_output_buffer(ctx);
	const char *msg = nft_ctx_get_error_buffer(ctx);
	if (failed) {
		size_t n = strlen(msg);
		while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			n--;
		int code = code_of(msg, e);
		lua_pushnil(L);
		if (n)
			lua_pushlstring(L, msg, n);
		else
			lua_pushstring(L, strerror(code));
		lua_pushstring(L, err_name(code));
		return 3;
	}
	if (output)
		lua_pushstring(L, out);
	else
		lua_pushboolean(L, 1);
	return 1;
}

/* The namespace slot of opts.netns (argument arg; nil: ctlua's own). */
static int ns_opt(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return 0;
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_getfield(L, arg, "netns");
	int ns = 0;
	if (!lua_isnil(L, -1)) {
		const char *name = lua_tostring(L, -1);
		if (!name || lua_type(L, -1) != LUA_TSTRING)
			return err_arg(L, arg, "netns must be a string");
		if ((ns = netns_find(name)) < 0)
			return err_arg(L, arg, "network namespace '%s' is not watched", name);
	}
	lua_pop(L, 1);
	return ns;
}

/* Whether s is plain nft words: letters, digits and . : / _ - , and spaces (no
 * braces, semicolons, quotes, comments, newlines: nothing that starts another
 * command). */
static int plain(const char *s, size_t n, int commas)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == ':' || c == '/' || c == '_' || c == '-' || c == ' ' ||
		      (commas && c == ',')))
			return 0;
	}
	return 1;
}

/* "add element SET { E1 timeout 600s, E2 timeout 600s }" into b. */
static void element_cmd(lua_State *L, luaL_Buffer *b, const char *verb, int opts)
{
	size_t n;
	const char *set = luaL_checklstring(L, 1, &n);
	if (!plain(set, n, 0))
		err_arg(L, 1, "a set as 'family table set' expected");
	char timeout[48] = "";
	if (opts && !lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "timeout");
		if (!lua_isnil(L, -1)) {
			int isnum;
			lua_Number t = lua_tonumberx(L, -1, &isnum);
			if (!isnum || !(t > 0) || t > 1e9)
				err_arg(L, 3, "timeout must be a number of seconds > 0");
			if (t == (lua_Number)(long long)t)
				snprintf(timeout, sizeof(timeout), " timeout %llds", (long long)t);
			else
				snprintf(timeout, sizeof(timeout), " timeout %lldms", (long long)(t * 1000 + 0.5));
		}
		lua_pop(L, 1);
	}
	int list = lua_istable(L, 2);
	lua_Integer count = list ? luaL_len(L, 2) : 1;
	if (list && count < 1)
		err_arg(L, 2, "at least one element expected");
	luaL_buffinit(L, b);
	luaL_addstring(b, verb);
	luaL_addstring(b, " element ");
	luaL_addlstring(b, set, n);
	luaL_addstring(b, " { ");
	for (lua_Integer i = 1; i <= count; i++) {
		const char *e;
		size_t en;
		if (list) {
			lua_geti(L, 2, i);
			e = lua_tolstring(L, -1, &en);
			lua_pop(L, 1);    /* the list keeps the string alive */
		} else {
			e = lua_tolstring(L, 2, &en);
		}
		if (!e || !plain(e, en, !list))
			err_arg(L, 2, "an element (address, port, ...) or a list of them expected");
		if (i > 1)
			luaL_addstring(b, ", ");
		luaL_addlstring(b, e, en);
		luaL_addstring(b, timeout);
	}
	luaL_addstring(b, " }");
}

/* core.nft_add(set, element | {element, ...} [, opts]) -> true | nil, message, code
 * set: "inet filter blocklist"; opts.timeout: seconds (the set needs `flags timeout`),
 * opts.netns: the namespace (ev.netns) */
static int element_op(lua_State *L, const char *verb, int with_timeout)
{
	int ns = ns_opt(L, 3);
	luaL_Buffer b;
	element_cmd(L, &b, verb, with_timeout);
	luaL_pushresult(&b);
	return run(L, ns, lua_tostring(L, -1), 0);
}

static int nft_ladd(lua_State *L)
{
	return element_op(L, "add", 1);
}

/* core.nft_delete(set, element | {element, ...} [, opts]) -> true | nil, message, code
 * ("ENOENT": not in the set) */
static int nft_ldelete(lua_State *L)
{
	return element_op(L, "delete", 0);
}

/* core.nft_run(text [, opts]) -> output (what nft prints; "" for none) | nil, message, code
 * text: one or more nft commands (lines or ';'), run as one batch */
static int nft_lrun(lua_State *L)
{
	const char *text = luaL_checkstring(L, 1);
	int ns = ns_opt(L, 2);
	return run(L, ns, text, 1);
}

static const luaL_Reg nft_funcs[] = {
	{ "nft_add", nft_ladd },
	{ "nft_delete", nft_ldelete },
	{ "nft_run", nft_lrun },
	{ NULL, NULL },
};

void nft_register(lua_State *L)
{
	luaL_setfuncs(L, nft_funcs, 0);
}
