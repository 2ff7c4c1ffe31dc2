/* fuzz/replay.c — libFuzzer target: the replay parser (conntrack -E / -L text).
 *
 * Each input is split into lines, each given to ctlua.parse as --replay does.
 * Properties: parse never raises (a line it cannot read gives nil, message), and
 * every event it returns can be formatted back into a conntrack line (by the C
 * formatter ct.format is, src/format.c). */
#include <stdio.h>
#include <stdlib.h>
#include <lauxlib.h>
#include <lualib.h>
#include "../src/convert.h"
#include "../src/format.h"
#include "fuzz.h"

static lua_State *L;
static int fn;

static const char *harness =
	"local parse = require 'ctlua.parse'\n"
	"local finding, format, fields = ...\n"
	"parse.init { fields = fields }\n"
	"return function(data)\n"
	"  for line in data:gmatch('[^\\n]*') do\n"
	"    local ok, ev = xpcall(parse.parse, debug.traceback, line)\n"
	"    if not ok then finding('parse raised: ' .. ev) end\n"
	"    if ev then\n"
	"      local ok2, err = xpcall(format, debug.traceback, ev)\n"
	"      if not ok2 then finding('format raised on a parsed line: ' .. err) end\n"
	"    end\n"
	"  end\n"
	"end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	L = luaL_newstate();
	luaL_openlibs(L);
	lua_getglobal(L, "package");
	lua_pushstring(L, FUZZ_LUADIR "/?.lua");
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	if (luaL_loadstring(L, harness) != LUA_OK)
		abort();
	lua_pushcfunction(L, finding);
	names_init();
	lua_newtable(L);
	convert_register(L);
	lua_getfield(L, -1, "format");
	lua_remove(L, -2);
	convert_push_fields(L);
	if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
		fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
		abort();
	}
	fn = luaL_ref(L, LUA_REGISTRYINDEX);
	luacov_start(L);
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, fn);
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
		abort();
	}
	static unsigned runs;
	if (++runs % 4096 == 0)
		lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
