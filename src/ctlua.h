/* ctlua — shared declarations of the C core. */
#ifndef CTLUA_H
#define CTLUA_H

#include <stdint.h>
#include <lua.h>
#include <uv.h>

#define CTLUA_VERSION "0.1.0"

/* Event kinds, in the order of the netlink groups they come from. */
enum ev_kind { EV_NEW, EV_UPDATE, EV_DESTROY, EV_EXP_NEW, EV_EXP_DESTROY, EV_KINDS,
	       EV_ENTRY = EV_KINDS /* a table entry from a dump or get: no event, no time */ };
extern const char *const ev_kind_name[EV_KINDS];

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

/* EXIT_LIMIT: the watchdog ended a call it could not interrupt, or a stop that did
 * not finish in time; EXIT_MEMORY: the scripts keep the Lua state at its cap. */
enum { EXIT_SCRIPT = 1, EXIT_USAGE = 2, EXIT_SYSTEM = 3, EXIT_LIMIT = 4, EXIT_MEMORY = 5 };

/* The one process-wide context: one loop, one Lua state. */
struct ctlua {
	uv_loop_t *loop;
	lua_State *L;
	int verbose;
	int stopping;              /* ct.stop() or a signal: leave the loop */
	int hooks_ref;             /* registry ref of the runtime's hook table */
	int dispatch_ref;          /* registry ref of hooks.dispatch (hot path) */
	size_t *memp, mem_limit;   /* bytes the current Lua state holds; cap (0 = none) */
	long long rcvbuf_max;      /* the event socket's buffer grows up to this on overruns */
	uint64_t budget_ms;        /* time budget of one call into Lua at run time (0 = none) */
	uint64_t deadline_ms;      /* when the running call exceeds it (0 = not armed) */
	int timing;                /* measure each event delivery (for /metrics) */
	struct ctlua_stats stats;
};
extern struct ctlua G;

/* What a Lua state is built from: the same at startup and on every reload. */
struct config {
	const char *mode;          /* "live", "netlink-file" or "replay" */
	const char *luadir;
	int kernel_filter, resync;
	int insecure;              /* load scripts whatever their ownership and mode */
	char **scripts;
	int nscripts;
	const char **chunks;       /* -e code, run after the files */
	int nchunks;
	char **sargv;              /* script arguments */
	int sargc;
};

/* The per-state part of G, saved while a new state is being built. */
struct ctlua_saved {
	lua_State *L;
	int hooks_ref, dispatch_ref;
	size_t *memp;
};

/* state.c: build and close Lua states (startup and reload). */
lua_State *state_open(const struct config *c, lua_CFunction handover, void *hdata);
void state_close(lua_State *L);
const char *state_error(int *kind);
struct ctlua_saved state_current(void);
void state_restore(const struct ctlua_saved *s);

/* reload.c: SIGHUP. */
void reload_init(const struct config *c);
void reload_run(void);

/* metrics.c: the /metrics listener. */
int metrics_listen(const char *spec);
void metrics_close(void);

/* privs.c: capabilities and user after startup. */
int privs_user(const char *name);
int privs_drop(int listen_only, int netns);

/* secure.c: refuse files others could have written, when running as root. */
int script_load(lua_State *L, const struct config *c, const char *path);
void secure_searchers(lua_State *L, const struct config *c);

/* call.c: the one protected-call helper for every call from C into Lua. */
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

/* event.c: the event socket. */
void event_open(int bufsize, int reliable);
uint64_t event_count(int ns, int kind);
int event_watched(int ns);
int event_from_file(const char *path);
void event_feed(const char *buf, size_t len);
void event_close(void);
int rcvbuf_size(void);
int event_joined(void);

/* convert.c: decoded messages into Lua tables, from one field list. */
struct nlmsghdr;
struct ctev;
void convert_init(void);
void convert_ev(lua_State *L, const struct ctev *ev);
int convert_keys(lua_State *L);
void convert_ev_k(lua_State *L, const struct ctev *ev, int kidx);
int convert_msg(lua_State *L, const struct nlmsghdr *nlh, int exp, enum ev_kind kind, double now,
		const char *netns, uint32_t own_portid);
void convert_free(void);
void convert_register(lua_State *L);
void convert_push_fields(lua_State *L);
void convert_print_fields(void);

/* netns.c: namespaces watched and acted in; slot 0 is our own. */
#define NETNS_MAX 64
extern int netns_mode;
void netns_init(void);
const char *netns_name(int i);
int netns_find(const char *name);
int netns_add(const char *spec);
void netns_remove(int i);
struct mnl_socket *netns_socket(int i, int flags);
int netns_follow(void);
int netns_watch(const char *spec);
void netns_unwatch(int ns);
int event_watch(int ns);
void event_unwatch(int ns);
void netns_register(lua_State *L);

/* mnl_nlmsg_ok casts nlmsg_len to int: a length of 2^31 or more passes and the
 * walk then leaves the buffer. Canned input (--netlink-file) can say anything. */
static inline int nl_msg_ok(const struct nlmsghdr *nlh, int len)
{
	return len >= 16 && ((const uint32_t *)nlh)[0] >= 16 && ((const uint32_t *)nlh)[0] <= (uint32_t)len;
}

/* cmd.c: a NETLINK_NETFILTER socket bound to an automatic port id, or NULL (errno). */
struct mnl_socket;
struct mnl_socket *nl_socket(int flags);

/* core.c: registers every C module into the table the runtime receives. */
int core_open(lua_State *L);
struct luaL_Reg;
void core_class(lua_State *L, const char *name, const struct luaL_Reg *meta,
		const struct luaL_Reg *methods);
void core_stop(void);
struct sockaddr_storage;
int hostport_parse(const char *spec, const char *defhost, struct sockaddr_storage *sa);
double core_now(void);

/* Per-module registration, each at the end of its own file. */
void event_register(lua_State *L);
void timer_register(lua_State *L);
void table_register(lua_State *L);
void expect_register(lua_State *L);
void spawn_register(lua_State *L);
void sink_register(lua_State *L);
void route_register(lua_State *L);

/* route.c: sinks as handlers, fed from struct ctev in C. */
int route_wants(int kind);
void route_event(const struct ctev *ev);
void route_flush(void);
void route_batch_end(void);
void route_drop_state(lua_State *L);
int route_live(void);
struct sink;
void route_forget(const struct sink *s);

/* sink.c: the socket sinks' C side, for route.c. */
struct sink *sink_test(lua_State *L, int i);
int sink_put(struct sink *s, const char *text, size_t len, int defer);
void sink_drop(struct sink *s);
void sink_flush(struct sink *s);
void spawn_close_all(void);
void sigpipe_safe(void);
void spawn_detach(lua_State *L);

/* table.c: errno names and the nil, message, code return of failed commands. */
const char *errno_name(int e);
int push_fail(lua_State *L, int e);

#endif
