/* tty.c — the controlling terminal for interactive scripts (top.lua): keys read
 * from stdin in raw mode on the loop, resizes (SIGWINCH), the window size.
 *
 * One reader at a time: ct.keys() puts stdin in raw mode (no echo, no line
 * buffering, no signals from ^C: the script decides what a key means) and gives
 * each read to the callback; close() or the state's end (exit, reload) restores
 * the mode it found. While reading, the registry anchors the handle, so a
 * discarded one keeps reading (as timers do). The handles are unreferenced: input alone never keeps the
 * loop running. When the terminal goes away the callback gets nil, so a script
 * can stop with its terminal. */
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <lauxlib.h>
#include "ctlua.h"

#define KEYS_MT "ctlua.keys"

struct keys {
	uv_tty_t tty;
	uv_signal_t winch;
	struct lstate *ls;
	int on_key, on_resize;   /* registry refs (LUA_NOREF: none) */
	int self;                /* anchors the userdata while reading (as timers) */
	int open;                /* handles still to close: 2, then freed at 0 */
	char buf[64];
};

static struct keys *check_keys(lua_State *L)
{
	struct keys **p = luaL_checkudata(L, 1, KEYS_MT);
	return *p;
}

/* Calls ref with the nargs values on top of the stack, reporting errors. */
static void call_ref(struct keys *k, int ref, int nargs)
{
	lua_State *L = k->ls->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_insert(L, -nargs - 1);
	if (call_protected(L, nargs, 0) != LUA_OK)
		call_report(L, "key handler error");
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	(void)size;
	struct keys *k = h->data;
	*buf = uv_buf_init(k->buf, sizeof(k->buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct keys *k = s->data;
	if (n == 0 || rt.stopping)
		return;
	lua_State *L = k->ls->L;
	if (n > 0) {
		lua_pushlstring(L, buf->base, (size_t)n);
		call_ref(k, k->on_key, 1);
		return;
	}
	/* EOF, or EIO once the terminal hung up: no more keys */
	uv_read_stop(s);
	luaL_unref(L, LUA_REGISTRYINDEX, k->self);
	k->self = LUA_NOREF;
	lua_pushnil(L);
	lua_pushstring(L, err_name((int)-n));
	call_ref(k, k->on_key, 2);
}

/* Pushes cols, rows of the terminal on fd; 2, or 0 when fd is no terminal. */
static int push_size(lua_State *L, int fd)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
		return 0;
	lua_pushinteger(L, ws.ws_col);
	lua_pushinteger(L, ws.ws_row);
	return 2;
}

static void on_winch(uv_signal_t *h, int sig)
{
	(void)sig;
	struct keys *k = h->data;
	if (k->on_resize == LUA_NOREF || rt.stopping)
		return;
	if (push_size(k->ls->L, STDOUT_FILENO) == 2 || push_size(k->ls->L, STDIN_FILENO) == 2)
		call_ref(k, k->on_resize, 2);
}

static void free_keys(uv_handle_t *h)
{
	struct keys *k = h->data;
	if (--k->open == 0)
		free(k);
}

/* Restores the terminal and closes the handles; safe to call twice. */
static void close_keys(lua_State *L, struct keys **p)
{
	struct keys *k = *p;
	if (!k)
		return;
	*p = NULL;
	uv_tty_set_mode(&k->tty, UV_TTY_MODE_NORMAL);
	luaL_unref(L, LUA_REGISTRYINDEX, k->on_key);
	luaL_unref(L, LUA_REGISTRYINDEX, k->on_resize);
	luaL_unref(L, LUA_REGISTRYINDEX, k->self);
	uv_close((uv_handle_t *)&k->tty, free_keys);
	uv_close((uv_handle_t *)&k->winch, free_keys);
}

/* ct.keys(on_key [, on_resize]) -> keys | nil, message, code
 * on_key(text) for each read from the terminal (a key, or an escape sequence);
 * on_key(nil, code) once input ends (the terminal closed). on_resize(cols, rows)
 * on SIGWINCH. Fails (ENOTTY) when stdin is not a terminal. */
static int keys_open(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TFUNCTION);
	if (uv_guess_handle(STDIN_FILENO) != UV_TTY)
		return err_push(L, ENOTTY);
	struct keys **p = lua_newuserdatauv(L, sizeof(*p), 0);
	*p = NULL;
	luaL_setmetatable(L, KEYS_MT);
	struct keys *k = calloc(1, sizeof(*k));
	if (!k)
		return luaL_error(L, "out of memory");
	int rc = uv_tty_init(rt.loop, &k->tty, STDIN_FILENO, 1);
	if (rc < 0) {
		free(k);
		return err_push(L, -rc);
	}
	k->tty.data = k, k->ls = lstate_of(L), k->open = 2;
	uv_signal_init(rt.loop, &k->winch);
	k->winch.data = k;
	lua_pushvalue(L, 1);
	k->on_key = luaL_ref(L, LUA_REGISTRYINDEX);
	k->on_resize = k->self = LUA_NOREF;
	if (!lua_isnoneornil(L, 2)) {
		lua_pushvalue(L, 2);
		k->on_resize = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	*p = k;
	if ((rc = uv_tty_set_mode(&k->tty, UV_TTY_MODE_RAW)) < 0 ||
	    (rc = uv_read_start((uv_stream_t *)&k->tty, on_alloc, on_read)) < 0) {
		close_keys(L, p);
		return err_push(L, -rc);
	}
	uv_signal_start(&k->winch, on_winch, SIGWINCH);
	lua_pushvalue(L, -1);
	k->self = luaL_ref(L, LUA_REGISTRYINDEX);
	uv_unref((uv_handle_t *)&k->tty);
	uv_unref((uv_handle_t *)&k->winch);
	return 1;
}

/* keys:close() -> nothing; restores the terminal mode; safe to call twice */
static int keys_close(lua_State *L)
{
	close_keys(L, luaL_checkudata(L, 1, KEYS_MT));
	return 0;
}

/* keys:active() -> boolean: still reading */
static int keys_active(lua_State *L)
{
	struct keys *k = check_keys(L);
	lua_pushboolean(L, k && uv_is_active((uv_handle_t *)&k->tty));
	return 1;
}

/* ct.term_size() -> cols, rows of the terminal on stdout (else stdin) | nil */
static int term_size(lua_State *L)
{
	int n = push_size(L, STDOUT_FILENO);
	return n ? n : push_size(L, STDIN_FILENO);
}

static const luaL_Reg keys_methods[] = {
	{ "close", keys_close },
	{ "active", keys_active },
	{ NULL, NULL },
};

static const luaL_Reg keys_meta[] = {
	{ "__gc", keys_close },
	{ "__close", keys_close },
	{ NULL, NULL },
};

static const luaL_Reg tty_funcs[] = {
	{ "keys", keys_open },
	{ "term_size", term_size },
	{ NULL, NULL },
};

void tty_register(lua_State *L)
{
	rt_class(L, KEYS_MT, keys_meta, keys_methods);
	luaL_setfuncs(L, tty_funcs, 0);
}
