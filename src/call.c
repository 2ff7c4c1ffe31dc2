/* call.c — the one way C calls into Lua: protected, with a traceback.
 *
 * Startup errors are fatal (the caller exits), runtime errors are reported and the
 * loop goes on: the policy lives with the callers, the mechanism lives here. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "base.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The Lua state's allocator: counts its bytes and refuses past the cap, which Lua
 * turns into a "not enough memory" error inside the call that asked (after a full
 * collection and a retry), so a runaway script fails, not ctlua. */
void *call_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lstate *ls = ud;    /* each state counts its own (two live during a reload) */
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		ls->mem -= old;
		return NULL;
	}
	if (ls->mem_limit && nsize > old && ls->mem + (nsize - old) > ls->mem_limit)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		ls->mem = ls->mem - old + nsize;
	return p;
}

/* Limits on the scripts, all applied by one count hook that every Lua thread has
 * from the start (lua_newthread copies the creating thread's hook, so coroutines
 * made while loading are covered too):
 *  - the time budget of one call: past it the running script code gets the error
 *    "handler exceeded N ms" once, with a fresh budget for what follows (the next
 *    handler of the same event); a call that runs past that second budget too (it
 *    caught the error and went on) gets the error at every script instruction
 *    until it returns;
 *  - SIGINT/SIGTERM: the call running when it came is interrupted the same way;
 *  - depth: past CALL_MAXDEPTH nested calls the script gets "stack overflow", long
 *    before Lua's own limit (a million stack slots, and seconds per traceback).
 * No hook runs inside a C function (string.match on a pathological pattern, a
 * blocking os.execute) or a __gc finalizer (Lua turns hooks off there): the
 * watchdog thread below ends the process when a call outlives its budget twice
 * over plus CALL_GRACE_MS, or CALL_STOP_GRACE_MS after SIGINT/SIGTERM. */
#define CALL_COUNT 1000            /* instructions between two hook calls */
#define CALL_MAXDEPTH 10000        /* nested Lua calls of one thread */
#define CALL_GRACE_MS 5000
#define CALL_STOP_GRACE_MS 5000
#define CALL_MEM_FAILURES 10       /* calls in a row failing at the memory cap */

enum { BUDGET_FRESH, BUDGET_RENEWED, BUDGET_SPENT };
static int budget_stage;
static int loading;                /* a state is being built: no time budget */
static int depth;                  /* nested call_protected */
static _Atomic uint64_t hard_ms;   /* the watchdog ends the process past this (0: none) */
static volatile sig_atomic_t stop_signal;    /* the first SIGINT/SIGTERM, for the watchdog */
static volatile sig_atomic_t interrupting;   /* ... and the running call is to stop */
static int mem_failures, limit_status;
static char runtime_src[4200];     /* "@LUADIR/": the runtime's chunks, never interrupted */
static size_t runtime_len;

void call_loading(int on, const char *luadir)
{
	loading = on;
	if (luadir)
		runtime_len = (size_t)snprintf(runtime_src, sizeof(runtime_src), "@%s/", luadir);
}

/* The runtime (dispatch, replay) catches what handlers raise: an error raised in
 * its own code, between two handlers, would end the whole delivery or replay. */
static int in_runtime(lua_State *L, lua_Debug *ar)
{
	return runtime_len && lua_getinfo(L, "S", ar) && strncmp(ar->source, runtime_src, runtime_len) == 0;
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
	int sig = interrupting ? stop_signal : 0;
	int late = rt.deadline_ms && now_ms() > rt.deadline_ms;
	if (!sig && !late) {
		lua_Debug deep;
		if (lua_getstack(L, CALL_MAXDEPTH, &deep))
			luaL_error(L, "stack overflow (more than %d nested calls)", CALL_MAXDEPTH);
		if (lua_gethookcount(L) != CALL_COUNT)
			lua_sethook(L, budget_hook, LUA_MASKCOUNT, CALL_COUNT);
		return;
	}
	/* From here on, look at every instruction until the error is raised and
	 * sticks: in the runtime, wait for the script's code. */
	if (lua_gethookcount(L) != 1)
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	if (in_runtime(L, ar))
		return;
	luaL_where(L, 0);                /* the function that was running: the runaway one */
	if (sig) {
		rt_stop();
		lua_pushfstring(L, "interrupted by signal %d (stopping)", (int)sig);
	} else {
		if (budget_stage == BUDGET_FRESH) {
			budget_stage = BUDGET_RENEWED;
			rt.deadline_ms = now_ms() + conf.budget_ms;
			stats.timeouts++;
		} else if (budget_stage == BUDGET_RENEWED) {
			budget_stage = BUDGET_SPENT;   /* the deadline stays past */
			stats.timeouts++;
		}
		lua_pushfstring(L, "handler exceeded %d ms", (int)conf.budget_ms);
	}
	lua_concat(L, 2);
	lua_error(L);
}

/* Installs the hook on a new state, before anything runs in it. */
void call_limits(lua_State *L)
{
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, CALL_COUNT);
}

/* Starts the budget of one call into Lua (none while a state is being built). */
void call_arm(void)
{
	if (!conf.budget_ms || loading)
		return;
	uint64_t now = now_ms();
	rt.deadline_ms = now + conf.budget_ms;
	budget_stage = BUDGET_FRESH;
	atomic_store(&hard_ms, now + 2 * conf.budget_ms + CALL_GRACE_MS);
}

void call_disarm(void)
{
	rt.deadline_ms = 0;
	atomic_store(&hard_ms, 0);
}

/* SIGINT/SIGTERM handler's part (async-signal-safe): interrupt the running call. */
void call_interrupt(int sig)
{
	if (!stop_signal)
		stop_signal = sig;
	interrupting = 1;
}

/* The loop got the signal: no call was running, and the stop handlers that run
 * next run normally. */
void call_interrupt_done(void)
{
	interrupting = 0;
}

int call_stop_signal(void)
{
	return stop_signal;
}

/* The exit status a limit asks for (0: none). */
int call_status(void)
{
	return limit_status;
}

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv = PTHREAD_COND_INITIALIZER;
static int wd_quit;
static pthread_t wd_thread;

/* What cannot be interrupted from inside is ended from outside. Output still
 * buffered in stdio is lost: flushing could block on the very stream that hangs. */
static void *watchdog(void *arg)
{
	(void)arg;
	uint64_t signalled = 0;
	pthread_mutex_lock(&wd_mu);
	while (!wd_quit) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000;
		if (until.tv_nsec >= 1000000000)
			until.tv_sec++, until.tv_nsec -= 1000000000;
		pthread_cond_timedwait(&wd_cv, &wd_mu, &until);
		if (wd_quit)
			break;
		uint64_t now = now_ms(), hard = atomic_load(&hard_ms);
		char msg[256];
		int n = 0;
		if (hard && now > hard)
			n = snprintf(msg, sizeof(msg), "ctlua: a call into Lua has run %llu ms, past its %llu ms budget, "
				     "where it cannot be interrupted (a C function such as string.match, or a __gc finalizer): exiting\n",
				     (unsigned long long)(now - hard + 2 * conf.budget_ms + CALL_GRACE_MS),
				     (unsigned long long)conf.budget_ms);
		if (stop_signal && !signalled)
			signalled = now;
		if (!n && signalled && now - signalled > CALL_STOP_GRACE_MS)
			n = snprintf(msg, sizeof(msg), "ctlua: still running %d s after signal %d "
				     "(a script is stuck where it cannot be interrupted): exiting\n",
				     CALL_STOP_GRACE_MS / 1000, (int)stop_signal);
		if (n > 0) {
			if (write(2, msg, (size_t)n) < 0)
				_exit(EXIT_LIMIT);
			_exit(EXIT_LIMIT);
		}
	}
	pthread_mutex_unlock(&wd_mu);
	return NULL;
}

/* At exit the watchdog is woken and joined: a thread left running at exit makes
 * LeakSanitizer warn on stderr, and its checks have nothing left to watch. */
static void watchdog_stop(void)
{
	pthread_mutex_lock(&wd_mu);
	wd_quit = 1;
	pthread_cond_signal(&wd_cv);
	pthread_mutex_unlock(&wd_mu);
	pthread_join(wd_thread, NULL);
}

/* Starts the watchdog thread, with every signal blocked: they go to the loop. */
int call_watchdog(void)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&wd_thread, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		atexit(watchdog_stop);
	return -rc;
}

/* A call from C failed for want of memory: Lua already collected everything it
 * could and the runtime could not even deliver or report. A script that keeps its
 * memory at the cap would make every later call fail, each after a full
 * collection: after CALL_MEM_FAILURES in a row, stop (exit EXIT_MEMORY). */
static void memory_failed(const struct lstate *ls)
{
	size_t used = ls->mem;
	if (++mem_failures == 1)
		fprintf(stderr, "ctlua: the Lua state is at its memory cap (%zu of %zu bytes in use after a full collection): "
			"calls into Lua fail; ctlua stops after %d such failures in a row\n",
			used, ls->mem_limit, CALL_MEM_FAILURES);
	if (mem_failures >= CALL_MEM_FAILURES && !limit_status) {
		fprintf(stderr, "ctlua: %d calls into Lua in a row failed at the memory cap (%zu of %zu bytes in use): "
			"stopping; raise --memory-limit or make the script keep less\n",
			mem_failures, used, ls->mem_limit);
		limit_status = EXIT_MEMORY;
		rt_stop();
	}
}

/* Message handler: turn any error value into "message\ntraceback". */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL) {
		/* ctlua.args' usage error or --help: the user's, not the script's, so
		 * passed on as it is, {exit = status, message = text}, no traceback. */
		if (lua_type(L, 1) == LUA_TTABLE && lua_getfield(L, 1, "exit") == LUA_TNUMBER) {
			lua_settop(L, 1);
			return 1;
		}
		lua_settop(L, 1);
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Calls the function below the nargs arguments on top of the stack. On error the
 * message (with traceback) is left on the stack in place of the results. */
int call_protected(lua_State *L, int nargs, int nresults)
{
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	if (depth++ == 0)
		call_arm();
	int rc = lua_pcall(L, nargs, nresults, base);
	if (--depth == 0) {
		call_disarm();
		interrupting = 0;      /* the interrupted call is over */
		const struct lstate *ls = lstate_of(L);
		if (rc == LUA_ERRMEM && ls->mem_limit)
			memory_failed(ls);
		else if (rc == LUA_OK && ls->mem < ls->mem_limit / 10 * 9)
			mem_failures = 0;
	}
	lua_remove(L, base);
	return rc;
}

/* Prints the error on top of the stack as one report and pops it. */
void call_report(lua_State *L, const char *what)
{
	int top = lua_gettop(L);
	const char *msg = lua_tostring(L, -1);
	if (!msg && lua_type(L, -1) == LUA_TTABLE && lua_getfield(L, -1, "message") == LUA_TSTRING)
		msg = lua_tostring(L, -1);   /* a usage error raised outside loading */
	fprintf(stderr, "ctlua: %s: %s\n", what, msg ? msg : "(no message)");
	fflush(stderr);
	lua_settop(L, top - 1);
}

/* Calls hooks[name] of the current state's runtime with the nargs arguments on
 * its stack. */
int call_hook(const char *name, int nargs, int nresults)
{
	lua_State *L = rt.ls->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, rt.ls->hooks_ref);
	lua_getfield(L, -1, name);
	lua_remove(L, -2);
	lua_insert(L, -(nargs + 1));
	return call_protected(L, nargs, nresults);
}
