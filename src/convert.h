/* convert.h — decoded messages into Lua event tables and back (convert.c). */
#ifndef CTLUA_CONVERT_H
#define CTLUA_CONVERT_H
#include <stdint.h>
#include <lua.h>
#include "base.h"
struct nlmsghdr;
struct ctev;
void convert_ev(lua_State *L, const struct ctev *ev);
int convert_keys(lua_State *L);
void convert_ev_k(lua_State *L, const struct ctev *ev, int kidx);
int convert_msg(lua_State *L, const struct nlmsghdr *nlh, int exp, enum ev_kind kind, double now,
		const char *netns, uint32_t own_portid);
void convert_register(lua_State *L);
int convert_format_opts(lua_State *L, int idx, int arg, const char *fname);   /* FMT_* bits */
void convert_push_fields(lua_State *L);
void convert_print_fields(void);
#endif
