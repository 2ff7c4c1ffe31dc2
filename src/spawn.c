/* spawn.c — ct.spawn: run a command on the loop, never blocking event delivery.
 *
 * The child's stdout and stderr are captured (up to SPAWN_MAX bytes each, the rest
 * counted and dropped), optional stdin text is written, and the callback gets
 * (code, stdout, stderr, signal, stdin_error) once the process has exited and
 * both pipes are drained; stdin_error names why not all the stdin text went in
 * ("EPIPE": the command exited or closed its stdin first), nil when it all did.
 * The handles are one group (handle.h), freed in the last close callback; the
 * registry anchors the Lua side until then. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "ctlua.h"
#include "handle.h"

#define SPAWN_MAX (1 << 20)
#define SPAWN_MT "ctlua.process"

struct proc {
	struct hgroup g;     /* first: the handles' data */
	uv_process_t p;
	uv_pipe_t in, out, err;
	struct hwrite wr;    /* the stdin text */
	struct hbuf o, e;    /* stdout, stderr */
	int cb;              /* registry ref of the callback, or LUA_NOREF */
	int self;            /* registry ref anchoring the userdata until done */
	int64_t status;
	int signal;
	int exited;
	int stdin_err;       /* the failed stdin write (a negative uv error), or 0 */
	struct proc **ud;    /* back pointer into the userdata, cleared when done */
	lua_State *L;        /* the state that started it; NULL once detached */
	struct proc *next, **prevp;   /* the list of running processes, for shutdown */
};

_Static_assert(offsetof(struct proc, g) == 0, "a handle's data is its group and its proc");

static struct proc *running;

static void on_sigpipe(int sig)
{
	(void)sig;
}

/* A peer that goes away (a collector, a command that never reads its stdin) must
 * not kill ctlua: with SIGPIPE caught, every socket and pipe write fails with
 * EPIPE instead. Caught rather than ignored because exec resets a caught signal
 * to its default and keeps an ignored one ignored: every child (ct.spawn, and
 * io.popen or os.execute too) starts with the default SIGPIPE. */
void sigpipe_safe(void)
{
	struct sigaction sa = { .sa_handler = on_sigpipe, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

/* Lets go of what pr holds in its Lua state (callback, userdata): when it
 * finishes, or before that state closes (spawn_detach). */
static void release(struct proc *pr)
{
	if (pr->L) {
		luaL_unref(pr->L, LUA_REGISTRYINDEX, pr->cb);
		luaL_unref(pr->L, LUA_REGISTRYINDEX, pr->self);
	}
	pr->cb = pr->self = LUA_NOREF;
	if (pr->ud)
		*pr->ud = NULL;
	pr->ud = NULL;
	pr->L = NULL;
}

static void finish(struct hgroup *g)
{
	struct proc *pr = (struct proc *)g;
	lua_State *L = pr->L;
	if (L && pr->cb != LUA_NOREF && !rt.stopping) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, pr->cb);
		lua_pushinteger(L, pr->status);
		lua_pushlstring(L, pr->o.buf ? pr->o.buf : "", pr->o.len);
		lua_pushlstring(L, pr->e.buf ? pr->e.buf : "", pr->e.len);
		if (pr->signal)
			lua_pushinteger(L, pr->signal);
		else
			lua_pushnil(L);
		if (pr->stdin_err)
			lua_pushstring(L, err_name(-pr->stdin_err));
		else
			lua_pushnil(L);
		if (call_protected(L, 5, 0) != LUA_OK) {
			stats.timer_errors++;
			call_report(L, "spawn callback error");
		}
	}
	release(pr);
	if (pr->prevp) {
		*pr->prevp = pr->next;
		if (pr->next)
			pr->next->prevp = pr->prevp;
	}
	hbuf_free(&pr->o);
	hbuf_free(&pr->e);
	free(pr);
}

static struct hbuf *output(uv_handle_t *h)
{
	struct proc *pr = h->data;
	return (uv_pipe_t *)h == &pr->out ? &pr->o : &pr->e;
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	(void)want;
	hbuf_alloc(output(h), buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0)
		hgroup_close((uv_handle_t *)s);
	else
		hbuf_read(output((uv_handle_t *)s), buf, n);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct proc *pr = p->data;
	pr->status = status;
	pr->signal = sig;
	pr->exited = 1;
	hgroup_close((uv_handle_t *)p);
}

static void close_all(struct proc *pr)
{
	hgroup_close((uv_handle_t *)&pr->p);
	hgroup_close((uv_handle_t *)&pr->in);
	hgroup_close((uv_handle_t *)&pr->out);
	hgroup_close((uv_handle_t *)&pr->err);
}

/* A command that exits without reading its stdin makes this fail with EPIPE
 * (SIGPIPE is caught, see sigpipe_safe): told to the callback, not fatal. */
static void on_written(uv_write_t *w, int status)
{
	struct proc *pr = w->data;
	if (status < 0 && status != UV_ECANCELED)
		pr->stdin_err = status;
	hgroup_close((uv_handle_t *)&pr->in);
}

/* ct.spawn(argv [, opts] [, on_exit]) -> process | nil, message, code
 * argv: list of strings (program and arguments, looked up in PATH); a string only
 * with opts.shell = true (run by /bin/sh -c). opts.stdin: text for its stdin.
 * on_exit(code, stdout, stderr, signal, stdin_error) runs on the loop when it has
 * finished. */
static int spawn_spawn(lua_State *L)
{
	int shell = 0, cbi = 0;
	const char *stdin_text = NULL;
	size_t stdin_len = 0;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "shell");
		shell = lua_toboolean(L, -1);
		lua_getfield(L, 2, "stdin");
		if (!lua_isnil(L, -1))
			stdin_text = luaL_checklstring(L, -1, &stdin_len);
		lua_pop(L, 2);
		cbi = lua_isnoneornil(L, 3) ? 0 : 3;
	} else if (!lua_isnoneornil(L, 2)) {
		cbi = 2;
	}
	if (cbi)
		luaL_checktype(L, cbi, LUA_TFUNCTION);

	const char *args[258];
	int argc = 0;
	if (lua_type(L, 1) == LUA_TSTRING) {
		if (!shell)
			return luaL_argerror(L, 1, "a command string needs opts.shell = true (or pass an argv list)");
		args[argc++] = "/bin/sh";
		args[argc++] = "-c";
		args[argc++] = lua_tostring(L, 1);
	} else {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_Integer n = luaL_len(L, 1);
		luaL_argcheck(L, n >= 1 && n <= 256, 1, "argv must list 1 to 256 strings");
		for (lua_Integer i = 1; i <= n; i++) {
			lua_geti(L, 1, i);
			if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
				return luaL_argerror(L, 1, "argv must hold only strings");
			args[argc++] = lua_tostring(L, -1);   /* kept alive by the argv table */
			lua_pop(L, 1);
		}
	}
	args[argc] = NULL;

	struct proc *pr = calloc(1, sizeof(*pr));
	if (!pr)
		return luaL_error(L, "out of memory");
	pr->cb = LUA_NOREF, pr->self = LUA_NOREF;
	pr->g.freed = finish;
	pr->o.max = pr->e.max = SPAWN_MAX;
	uv_pipe_init(rt.loop, &pr->out, 0);
	uv_pipe_init(rt.loop, &pr->err, 0);
	uv_pipe_init(rt.loop, &pr->in, 0);
	hgroup_add(&pr->g, (uv_handle_t *)&pr->out);
	hgroup_add(&pr->g, (uv_handle_t *)&pr->err);
	hgroup_add(&pr->g, (uv_handle_t *)&pr->in);
	hgroup_add(&pr->g, (uv_handle_t *)&pr->p);   /* uv_spawn initialises it, failing or not */
	uv_stdio_container_t stdio[3] = {
		{ .flags = stdin_text ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE,
		  .data.stream = (uv_stream_t *)&pr->in },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&pr->out },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&pr->err },
	};
	uv_process_options_t o = {
		.exit_cb = on_exit_cb, .file = args[0], .args = (char **)args,
		.stdio_count = 3, .stdio = stdio,
	};
	int rc = uv_spawn(rt.loop, &pr->p, &o);
	if (rc < 0) {
		close_all(pr);      /* the pipes (and the process handle) still need closing */
		return err_push(L, -rc);
	}
	pr->next = running;
	if (running)
		running->prevp = &pr->next;
	pr->prevp = &running;
	running = pr;
	uv_read_start((uv_stream_t *)&pr->out, on_alloc, on_read);
	uv_read_start((uv_stream_t *)&pr->err, on_alloc, on_read);
	if (stdin_text) {
		uv_buf_t text = uv_buf_init((char *)stdin_text, (unsigned)stdin_len);
		pr->wr.req.data = pr;
		int wrc = hwrite_start(&pr->wr, (uv_stream_t *)&pr->in, &text, 1, on_written);
		if (wrc < 0) {
			pr->stdin_err = wrc;
			hgroup_close((uv_handle_t *)&pr->in);
		}
	} else {
		hgroup_close((uv_handle_t *)&pr->in);
	}
	struct proc **ud = lua_newuserdatauv(L, sizeof(*ud), 0);
	*ud = pr;
	pr->ud = ud;
	pr->L = lstate_of(L)->L;  /* the main thread, not a coroutine that may be gone */
	luaL_setmetatable(L, SPAWN_MT);
	if (cbi) {
		lua_pushvalue(L, cbi);
		pr->cb = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_pushvalue(L, -1);
	pr->self = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

/* process:kill([signal]) -> true | nil, message, code (default SIGTERM) */
static int spawn_kill(lua_State *L)
{
	struct proc **ud = luaL_checkudata(L, 1, SPAWN_MT);
	int sig = (int)luaL_optinteger(L, 2, 15);
	if (!*ud || (*ud)->exited)
		return err_push(L, ESRCH);
	int rc = uv_process_kill(&(*ud)->p, sig);
	if (rc < 0)
		return err_push(L, -rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* process:pid() -> integer | nil once finished */
static int spawn_pid(lua_State *L)
{
	struct proc **ud = luaL_checkudata(L, 1, SPAWN_MT);
	if (!*ud)
		return 0;
	lua_pushinteger(L, (*ud)->p.pid);
	return 1;
}

/* Before state L closes (reload): its processes run on, but nothing of L is
 * touched when they finish. */
void spawn_detach(lua_State *L)
{
	for (struct proc *pr = running; pr; pr = pr->next)
		if (pr->L == L)
			release(pr);
}

/* At shutdown, before the Lua state goes: close what is still open of every
 * running command (the commands themselves go on); the close callbacks then free
 * them on the next loop turn, without calling into Lua (rt.stopping). */
void spawn_close_all(void)
{
	for (struct proc *pr = running; pr; pr = pr->next)
		close_all(pr);
}

static const luaL_Reg spawn_methods[] = {
	{ "kill", spawn_kill },
	{ "pid", spawn_pid },
	{ NULL, NULL },
};

static const luaL_Reg spawn_meta[] = {
	{ NULL, NULL },
};

static const luaL_Reg spawn_funcs[] = {
	{ "spawn", spawn_spawn },
	{ NULL, NULL },
};

void spawn_register(lua_State *L)
{
	rt_class(L, SPAWN_MT, spawn_meta, spawn_methods);
	luaL_setfuncs(L, spawn_funcs, 0);
}
