/* fuzz/fuzz.h — what the fuzz targets share: Lua line coverage as libFuzzer
 * feedback, and `finding`, how Lua code reports a broken property.
 *
 * liblua is Debian's, not instrumented, so libFuzzer would see none of the Lua
 * code it drives (the runtime, the parser, the formatter). A line hook counts
 * each (previous line, line) pair in libFuzzer's extra-counters section, which it
 * reads as coverage: inputs reaching new Lua lines or paths are kept. */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>

#define LUACOV_SIZE 65536
__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t luacov_counters[LUACOV_SIZE];
static uint32_t luacov_prev;

static void luacov_hook(lua_State *L, lua_Debug *ar)
{
	if (!lua_getinfo(L, "S", ar))
		return;
	uint32_t cur = (uint32_t)(uintptr_t)ar->source * 2654435761u ^ (uint32_t)ar->currentline * 40503u;
	uint32_t i = (cur ^ luacov_prev) & (LUACOV_SIZE - 1);
	if (luacov_counters[i] != 255)
		luacov_counters[i]++;
	luacov_prev = cur >> 1;
}

static inline void luacov_start(lua_State *L)
{
	lua_sethook(L, luacov_hook, LUA_MASKLINE, 0);
}
/* finding(message): a property broke on this input; report it and abort, which
 * libFuzzer records as a crash with the input. */
static int finding(lua_State *L)
{
	fprintf(stderr, "fuzz: %s\n", lua_tostring(L, 1));
	abort();
	return 0;
}
#endif
