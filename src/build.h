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
void build_exp(lua_State *L, int idx, struct nf_expect *exp, struct nf_conntrack **parts,
	       int what, int arg, const char *fn);
#endif
