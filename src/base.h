/* base.h — the base layer: what every file of ctlua may use, and which uses
 * nothing of ctlua itself (runtime.c, err.c, addr.c, call.c; handle.c has its own
 * header).
 *
 * The process's state comes in four lifetimes: `conf`, set once by main.c before
 * the loop runs; `struct lstate`, one per Lua state (its allocator's ud; a reload
 * builds a second one and swaps `rt.ls`, one pointer); `rt`, the runtime flags of
 * the process; `stats`, counters that live as long as the process. */
#ifndef CTLUA_BASE_H
#define CTLUA_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <uv.h>

#define CTLUA_VERSION "0.1.0"

/* Event kinds, in the order of the netlink groups they come from. */
enum ev_kind { EV_NEW, EV_UPDATE, EV_DESTROY, EV_EXP_NEW, EV_EXP_DESTROY, EV_KINDS,
	       EV_ENTRY = EV_KINDS /* a table entry from a dump or get: no event, no time */ };
extern const char *const ev_kind_name[EV_KINDS];

/* EXIT_LIMIT: the watchdog ended a call it could not interrupt, or a stop that did
 * not finish in time; EXIT_MEMORY: the scripts keep the Lua state at its cap. */
enum { EXIT_SCRIPT = 1, EXIT_USAGE = 2, EXIT_SYSTEM = 3, EXIT_LIMIT = 4, EXIT_MEMORY = 5 };

/* runtime.c ------------------------------------------------------------------- */

/* Set once in main.c, before the loop; read-only after. */
struct conf {
	int verbose;
	long long rcvbuf_max;      /* the event socket's buffer grows up to this on overruns */
	uint64_t budget_ms;        /* time budget of one call into Lua at run time (0 = none) */
	size_t mem_limit;          /* bytes a Lua state may hold (0 = no cap) */
	int timing;                /* measure each event delivery (for /metrics) */
};
extern struct conf conf;

/* One Lua state and what belongs to it. */
struct lstate {
	lua_State *L;
	int hooks_ref;             /* registry ref of the runtime's hook table */
	int dispatch_ref;          /* registry ref of hooks.dispatch (hot path) */
	size_t mem, mem_limit;     /* bytes it holds; its cap (0 = none) */
};
struct lstate *lstate_of(lua_State *L);   /* the allocator's ud */

/* The runtime flags of the process. */
struct run {
	uv_loop_t *loop;
	struct lstate *ls;         /* the current Lua state: events and hooks go there */
	int stopping;              /* ct.stop() or a signal: leave the loop */
	int live;                  /* live events (may drop lines); 0: recorded input, which waits */
	uint64_t deadline_ms;      /* when the running call into Lua exceeds its budget (0 = not armed) */
};
extern struct run rt;

/* Upper bounds (seconds) of the delivery time histogram. */
#define HTIME_BUCKETS 12
extern const double htime_le[HTIME_BUCKETS];

/* Counters kept by the C core; the Lua runtime adds its own (handler errors). */
struct ctlua_stats {
	uint64_t events[EV_KINDS];
	uint64_t overruns;
	uint64_t parse_errors;
	uint64_t timer_errors;
	uint64_t batches;
	uint64_t timeouts;         /* handler or timer calls interrupted by the time budget */
	uint64_t commands;         /* requests sent on the command socket */
	uint64_t command_errors;   /* refused, other than ENOENT/EEXIST */
	uint64_t reloads;          /* SIGHUP reloads that swapped in a new state */
	uint64_t metrics_refused;  /* /metrics connections over the limit */
	/* Time of one event delivery (all its handlers), when timing is on. */
	uint64_t htime[HTIME_BUCKETS + 1];   /* per bucket, the last one is +Inf */
	double htime_sum;
};
extern struct ctlua_stats stats;

double rt_now(void);           /* wall-clock seconds */
void rt_stop(void);            /* leave the loop after the current callback */
struct luaL_Reg;
/* Registers a userdata class: metatable `name`, meta-methods, __index methods. */
void rt_class(lua_State *L, const char *name, const struct luaL_Reg *meta,
	      const struct luaL_Reg *methods);

/* err.c: the one error contract --------------------------------------------------
 * Misuse raises, naming the argument (luaL_argerror's wording); operational
 * failures return nil, message, name, with libuv's error names. C functions below
 * return 0 (or a count) on success and -errno on failure, as libuv does. */
const char *err_name(int e);                 /* e > 0: "ENOENT", "ENOTSUP", ... */
int err_push(lua_State *L, int e);           /* nil, strerror(e), err_name(e): 3 */
int err_push_rc(lua_State *L, int rc);       /* rc < 0: err_push(-rc); else true: 1 or 3 */
int err_arg(lua_State *L, int arg, const char *fmt, ...);   /* raises: bad argument #arg ... */

/* addr.c: address parsing ---------------------------------------------------------- */
struct sockaddr_storage;
/* "HOST:PORT" or "[IPV6]:PORT" (numeric host); with defhost a bare "PORT" means
 * defhost. 0, -EINVAL (not that shape) or -EAFNOSUPPORT (not a numeric address). */
int hostport_parse(const char *spec, const char *defhost, struct sockaddr_storage *sa);
/* "ipv4" -> AF_INET, "ipv6" -> AF_INET6, NULL -> AF_UNSPEC; -1 for anything else. */
int family_parse(const char *name);
int family_opt(lua_State *L, int arg);       /* the optional argument arg; raises on others */

/* call.c: the one protected-call helper for every call from C into Lua ----------- */
int call_protected(lua_State *L, int nargs, int nresults);
void call_limits(lua_State *L);
void call_loading(int on, const char *luadir);
void call_arm(void);
void call_disarm(void);
void call_interrupt(int sig);
void call_interrupt_done(void);
int call_stop_signal(void);
int call_status(void);
int call_watchdog(void);
void *call_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
void call_report(lua_State *L, const char *what);
int call_hook(const char *name, int nargs, int nresults);

/* mnl_nlmsg_ok casts nlmsg_len to int: a length of 2^31 or more passes and the
 * walk then leaves the buffer. Canned input (--netlink-file) can say anything. */
struct nlmsghdr;
static inline int nl_msg_ok(const struct nlmsghdr *nlh, int len)
{
	return len >= 16 && ((const uint32_t *)nlh)[0] >= 16 && ((const uint32_t *)nlh)[0] <= (uint32_t)len;
}

#endif
