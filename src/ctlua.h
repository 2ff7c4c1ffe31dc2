/* ctlua.h — the mechanisms and the layers above them, file by file, bottom up.
 *
 * base.h       runtime.c err.c addr.c call.c (+ handle.h)   uses nothing of ctlua
 * event path   decode.c names.c format.c convert.c build.c  uses the base only
 * mechanisms   netns.c cmd.c sink.c route.c event.c timer.c spawn.c metrics.c
 *              table.c expect.c health.c nft.c watch.c tty.c the base, the event path,
 *                                                           and each other downwards
 * bindings     core.c: registers every mechanism's Lua functions into one table
 * states       secure.c state.c reload.c privs.c           build and swap Lua states
 * main.c       on top
 * A file calls only into files of its own layer listed before it, or of layers
 * below. Each mechanism's Lua functions sit at the end of its file, registered by
 * core.c alone. */
#ifndef CTLUA_H
#define CTLUA_H

#include "base.h"
#include "netns.h"
#include "convert.h"

/* sink.c: socket sinks (TCP, unix, UDP, syslog), never blocking. */
struct sink;
struct sink *sink_test(lua_State *L, int i);
int sink_put(struct sink *s, const char *text, size_t len, int defer);
void sink_drop(struct sink *s);
void sink_flush(struct sink *s);
void sink_on_close(void (*fn)(const struct sink *s));
void sink_register(lua_State *L);

/* route.c: sinks as handlers, fed from struct ctev in C; C outputs (stdout, files). */
int route_wants(int kind);
void route_event(const struct ctev *ev);
void route_flush(void);
void route_batch_end(void);
void route_drop_state(lua_State *L);
void route_register(lua_State *L);

/* event.c: the event socket of each watched namespace. */
void event_open(int bufsize, int reliable);
int event_watch(int ns);
void event_unwatch(int ns);
int event_watched(int ns);
uint64_t event_count(int ns, int kind);
int event_from_file(const char *path);
void event_feed(const char *buf, size_t len);
void event_close(void);
int rcvbuf_size(void);
int event_joined(void);
void event_register(lua_State *L);

/* timer.c: ct.every, ct.after. */
void timer_register(lua_State *L);

/* spawn.c: ct.spawn; SIGPIPE made harmless for every socket and pipe. */
void sigpipe_safe(void);
void spawn_detach(lua_State *L);
void spawn_close_all(void);
void spawn_register(lua_State *L);

/* metrics.c: the /metrics listener. */
int metrics_listen(const char *spec);
void metrics_close(void);

/* table.c, expect.c: table operations on the command socket. */
void table_register(lua_State *L);
void expect_register(lua_State *L);

/* health.c: ct.cpu_stats, ct.expect.cpu_stats, ct.max. */
void health_register(lua_State *L);

/* nft.c: ct.nft, nftables in-process (libnftables), one context per namespace. */
void nft_forget(int ns);
void nft_register(lua_State *L);

/* watch.c: namespaces watched (event and command socket each), --netns all. */
int watch_add(const char *spec);
void watch_remove(int ns);
int watch_follow(void);
void watch_register(lua_State *L);

/* tty.c: ct.keys, ct.term_size (interactive scripts). */
void tty_register(lua_State *L);

/* core.c: the bindings, every module registered into the table the runtime gets. */
int core_open(lua_State *L);

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

/* secure.c: refuse files others could have written, when running as root. */
int script_load(lua_State *L, const struct config *c, const char *path);
const char *script_path(const char *luadir, const char *name, char *buf, size_t len);
void secure_searchers(lua_State *L, const struct config *c);

/* state.c: build and close Lua states (startup and reload). */
struct lstate *state_open(const struct config *c, lua_CFunction handover, void *hdata);
void state_close(struct lstate *ls);
const char *state_error(int *kind);

/* reload.c: SIGHUP. */
void reload_init(const struct config *c);
void reload_run(void);

/* privs.c: capabilities and user after startup. */
int privs_user(const char *name);
int privs_drop(int listen_only, int netns);

#endif
