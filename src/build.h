/* build.h — Lua tables into kernel objects (build.c). */
#ifndef CTLUA_BUILD_H
#define CTLUA_BUILD_H
#include <stdint.h>
#include <lua.h>
struct nf_conntrack;
struct nf_expect;
enum { BUILD_KEY, BUILD_CREATE };
int build_ct(lua_State *L, int idx, struct nf_conntrack *ct, int what, int arg, const char *fn);
void build_changes(lua_State *L, int idx, struct nf_conntrack *ct, int arg, const char *fn,
		   uint32_t *mask);
struct nlmsghdr;
/* What an expectation request carries beyond libnetfilter_conntrack's builder. */
struct exp_extra {
	int has_class;
	uint32_t class;
	const char *fn;                   /* NULL: none; owned by the Lua table */
	const struct nf_conntrack *nat;   /* NULL: none */
	uint32_t nat_dir;                 /* 0 orig, 1 reply */
};
void build_exp(lua_State *L, int idx, struct nf_expect *exp, struct nf_conntrack **parts,
	       int what, int arg, const char *fn, struct exp_extra *x);
void build_exp_put(struct nlmsghdr *nlh, const struct exp_extra *x);
int proto_lookup(const char *s);
#endif
