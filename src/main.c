/* main.c — command line, startup, the loop, shutdown.
 *
 * Fatal at startup, survive at runtime: a script that fails to load exits 1 naming
 * file:line; once the loop runs, errors are reported and counted by their callers. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include "ctlua.h"
#include "cmd.h"
#include "format.h"

#ifndef CTLUA_LUADIR
#define CTLUA_LUADIR "/usr/local/share/ctlua/lua"
#endif
#ifndef CTLUA_SCRIPTDIR
#define CTLUA_SCRIPTDIR "/usr/local/share/ctlua/scripts"
#endif

#define DEFAULT_BUFSIZE (16 * 1024 * 1024)
#define DEFAULT_BUFMAX (256LL * 1024 * 1024)
#define DEFAULT_BUDGET_MS 10000    /* per event delivery or timer call at run time */
#define DEFAULT_MEMORY_MAX (1LL << 30)   /* Lua state cap: a quarter of RAM, at most this */

static int kernel_filter = 1, resync = 0, reliable = 0, insecure = 0, listen_only = 0;

static char luadir[PATH_MAX], scriptdir[PATH_MAX];

static void usage(FILE *f)
{
	fprintf(f,
"Usage: ctlua [OPTIONS] [SCRIPT ...] [-- SCRIPT-ARGS ...]\n"
"Run Lua scripts on the kernel's conntrack and expectation events.\n"
"With no SCRIPT and no -e, runs the default script log.lua (conntrack -E output).\n\n"
"  -e CODE                 run CODE as a script chunk (repeatable, after the files)\n"
"  -b, --buffer-size BYTES receive buffer of the event socket (K/M/G suffixes;\n"
"                          default 16M, forced past rmem_max as root)\n"
"      --buffer-max BYTES  on each overrun the buffer doubles, up to this (256M)\n"
"      --check             load the scripts as a start would, without the kernel,\n"
"                          the network or commands; report errors, exit 0/1\n"
"      --reliable          reliable event delivery (as conntrackd's\n"
"                          NetlinkEventsReliable): the kernel resends DESTROY\n"
"                          events that did not fit, and reports no overruns\n"
"      --resync            after an overrun, dump the table and deliver the\n"
"                          difference as new/destroy events with ev.resync = true\n"
"      --no-kernel-filter  evaluate every filter in Lua only (no BPF on the socket)\n"
"      --memory-limit BYTES cap the Lua state's memory (K/M/G; default a quarter\n"
"                          of RAM, at most 1G; 0: none): past it the allocating\n"
"                          call fails, ctlua goes on\n"
"      --handler-timeout MS interrupt a handler or timer running longer (default\n"
"                          10000; 0: never)\n"
"      --insecure          as root, load scripts and modules even when writable\n"
"                          by group/others or owned by another user\n"
"      --listen-only       after subscribing, drop every capability (default:\n"
"                          keep CAP_NET_ADMIN, for table operations)\n"
"      --user NAME         after opening the sockets, run as user NAME\n"
"      --metrics [HOST:]PORT serve Prometheus metrics at /metrics (HOST defaults\n"
"                          to 127.0.0.1)\n"
"      --netns NAME|PATH|all watch that network namespace (a name under\n"
"                          /run/netns, a path, self for ctlua's own; repeatable);\n"
"                          all: every one under /run/netns as they come and go,\n"
"                          and ctlua's own. Events then carry ev.netns\n"
"      --fields            print the event field reference (Markdown) and exit\n"
"      --replay FILE       feed recorded events (conntrack -E text, with or without\n"
"                          -o timestamp, or ctlua JSON lines; - is stdin) to the\n"
"                          scripts on the recorded clock, then exit; no root needed\n"
"      --strict            with --replay: a line that is not an event is an error\n"
"  -v, --verbose           diagnostics on stderr\n"
"  -h, --help              this help\n"
"  -V, --version           print the version\n\n"
"SIGHUP reloads the scripts, unless it comes from ctlua's terminal closing: then\n"
"ctlua stops, as SIGINT and SIGTERM stop it.\n\n"
"Exit status: 0 clean stop, 1 script error at load time, 2 usage error,\n"
"3 system error (no permission, netlink unavailable), 4 a script stuck where\n"
"it cannot be interrupted, 5 the scripts keep the Lua state at its memory cap.\n");
}

/* --netlink-file FILE (canned netlink messages instead of the kernel, - is
 * stdin) is a test option: it works, and is left out of the help. */

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "ctlua: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ctlua --help'.\n");
	exit(EXIT_USAGE);
}

static long long parse_size_max(const char *s, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10, end++; break;
	case 'm': case 'M': v <<= 20, end++; break;
	case 'g': case 'G': v <<= 30, end++; break;
	}
	if (*end || v > max)
		return -1;
	return v;
}

static long long parse_size(const char *s)
{
	return parse_size_max(s, INT_MAX / 2);
}

/* The default cap of the Lua state: a quarter of the RAM, at most 1 GiB. */
static size_t default_memory_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	long long quarter = pages > 0 && psize > 0 ? (long long)pages * psize / 4 : DEFAULT_MEMORY_MAX;
	return (size_t)(quarter < DEFAULT_MEMORY_MAX ? quarter : DEFAULT_MEMORY_MAX);
}

/* Finds lua/ and scripts/: beside the binary in a source tree, else installed. */
static void find_dirs(void)
{
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		const char *dir = dirname(exe);
		snprintf(probe, sizeof(probe), "%s/lua/ctlua.lua", dir);
		if (access(probe, R_OK) == 0) {
			snprintf(luadir, sizeof(luadir), "%s/lua", dir);
			snprintf(scriptdir, sizeof(scriptdir), "%s/scripts", dir);
			return;
		}
	}
	snprintf(luadir, sizeof(luadir), "%s", CTLUA_LUADIR);
	snprintf(scriptdir, sizeof(scriptdir), "%s", CTLUA_SCRIPTDIR);
}

/* SIGINT and SIGTERM: a flag the Lua hook reads (the loop cannot see a signal
 * while a handler runs) and a wake-up for the loop; the watchdog ends the process
 * if the stop takes too long. */
static uv_async_t stop_async;

static void on_stop_signal(int sig)
{
	int e = errno;
	call_interrupt(sig);
	uv_async_send(&stop_async);
	errno = e;
}

static void on_stop(uv_async_t *h)
{
	(void)h;
	if (conf.verbose)
		fprintf(stderr, "ctlua: signal %d, stopping\n", call_stop_signal());
	call_interrupt_done();
	rt_stop();
}

/* SIGHUP is two things: `systemctl reload` (kill -HUP to a daemon) and the
 * terminal going away. The kernel takes the controlling terminal from the session
 * before it sends the hang-up, so a ctlua that had one and has it no more was
 * hung up: it stops, as any program in a closed terminal. With its terminal still
 * there (kill -HUP typed in it), or never one (a service), SIGHUP reloads. */
static int had_tty;

static int has_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void on_hup(uv_signal_t *h, int sig)
{
	(void)h, (void)sig;
	if (had_tty && !has_tty()) {
		if (conf.verbose)
			fprintf(stderr, "ctlua: the terminal hung up, stopping\n");
		rt_stop();
		return;
	}
	reload_run();
}

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int main(int argc, char **argv)
{
	sigpipe_safe();
	/* Everything after the first "--" belongs to the scripts. */
	int nopt = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			nopt = i;
			break;
		}
	char **sargv = argv + (nopt < argc ? nopt + 1 : argc);
	int sargc = argc - (nopt < argc ? nopt + 1 : argc);

	static const struct option longopts[] = {
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "check", no_argument, NULL, 'c' },
		{ "fields", no_argument, NULL, 'F' },
		{ "netlink-file", required_argument, NULL, 'N' },
		{ "replay", required_argument, NULL, 'R' },
		{ "strict", no_argument, NULL, 'S' },
		{ "no-kernel-filter", no_argument, NULL, 'K' },
		{ "memory-limit", required_argument, NULL, 'M' },
		{ "buffer-max", required_argument, NULL, 'X' },
		{ "handler-timeout", required_argument, NULL, 'T' },
		{ "reliable", no_argument, NULL, 'r' },
		{ "resync", no_argument, NULL, 's' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "user", required_argument, NULL, 'u' },
		{ "listen-only", no_argument, NULL, 'L' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "netns", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *chunks[argc];         /* -e chunks, at most one per argument */
	const char *netns[argc];          /* --netns, at most one per argument */
	int nnetns = 0;
	int nchunks = 0, check = 0, strict = 0;
	long long bufsize = DEFAULT_BUFSIZE, mem;
	int mem_set = 0;
	conf.budget_ms = DEFAULT_BUDGET_MS;
	conf.rcvbuf_max = DEFAULT_BUFMAX;
	const char *nlfile = NULL, *replay = NULL, *metrics = NULL;
	int c;
	opterr = 0;                       /* ':' first: a missing argument is told apart */
	while ((c = getopt_long(nopt, argv, ":e:b:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': chunks[nchunks++] = optarg; break;
		case 'b':
			if ((bufsize = parse_size(optarg)) < 0)
				die_usage("bad buffer size '%s'", optarg);
			break;
		case 'c': check = 1; break;
		case 'F': convert_print_fields(); return 0;
		case 'N': nlfile = optarg; break;
		case 'R': replay = optarg; break;
		case 'S': strict = 1; break;
		case 'K': kernel_filter = 0; break;
		case 'r': reliable = 1; break;
		case 's': resync = 1; break;
		case 'I': insecure = 1; break;
		case 'u':
			if (privs_user(optarg) < 0)
				die_usage("no such user '%s'", optarg);
			break;
		case 'L': listen_only = 1; break;
		case 'm': metrics = optarg; break;
		case 'n': netns[nnetns++] = optarg; break;
		case 'X':
			if ((conf.rcvbuf_max = parse_size(optarg)) < 0)
				die_usage("bad buffer size '%s'", optarg);
			break;
		case 'M':
			if (strcmp(optarg, "0") == 0)
				mem = 0;
			else if ((mem = parse_size_max(optarg, 1LL << 40)) < 0)
				die_usage("bad memory limit '%s'", optarg);
			conf.mem_limit = (size_t)mem;
			mem_set = 1;
			break;
		case 'T': {
			char *end;
			long ms = strtol(optarg, &end, 10);
			if (*end || ms < 0 || ms > 3600000)
				die_usage("bad handler timeout '%s' (milliseconds)", optarg);
			conf.budget_ms = (uint64_t)ms;
			break;
		}
		case 'v': conf.verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ctlua %s (%s)\n", CTLUA_VERSION, LUA_RELEASE); return 0;
		case ':': {
			/* As getopt tools say it; a long option is named as typed. */
			char name[64];
			const char *a = argv[optind - 1];
			if (strncmp(a, "--", 2) == 0)
				snprintf(name, sizeof(name), "%.*s", (int)strcspn(a, "="), a);
			else
				snprintf(name, sizeof(name), "-%c", optopt);
			die_usage("option '%s' requires an argument", name);
			break;
		}
		default:
			die_usage("bad option '%s'", argv[optind - 1]);
		}
	}
	if (listen_only && resync)
		die_usage("%s", "--resync dumps the table, which --listen-only forbids");
	for (int i = 0; i < nnetns; i++)
		if (listen_only && strcmp(netns[i], "all") == 0)
			die_usage("%s", "--netns all joins namespaces as they come, which --listen-only forbids");
	char **scripts = argv + optind;
	int nscripts = nopt - optind;
	if (!mem_set)
		conf.mem_limit = default_memory_limit();

	find_dirs();
	char defscript[PATH_MAX + 16];
	if (nscripts == 0 && nchunks == 0) {
		snprintf(defscript, sizeof(defscript), "%s/log.lua", scriptdir);
		static char *one[1];
		one[0] = defscript;
		scripts = one;
		nscripts = 1;
	}

	if (check) {
		/* Every file compiled first, so that each syntax error is reported; then
		 * the scripts are loaded below, in the "check" mode (no kernel). */
		lua_State *L = luaL_newstate();
		int bad = 0;
		for (int i = 0; i < nscripts + nchunks; i++) {
			char found[PATH_MAX + 32];
			int st = i < nscripts ? luaL_loadfile(L, script_path(luadir, scripts[i], found, sizeof(found)))
				: luaL_loadbuffer(L, chunks[i - nscripts], strlen(chunks[i - nscripts]), "=(command line)");
			if (st != LUA_OK) {
				fprintf(stderr, "ctlua: %s\n", lua_tostring(L, -1));
				bad = 1;
			}
			lua_pop(L, 1);
		}
		lua_close(L);
		if (bad)
			return EXIT_SCRIPT;
	}

	rt.loop = uv_default_loop();
	names_init();
	if (replay || check) {
		/* events come from the file, in hooks.replay below; --check: none */
	} else if (nlfile) {
		int rc = event_from_file(nlfile);
		if (rc < 0) {
			fprintf(stderr, "ctlua: cannot read %s: %s\n", nlfile, strerror(-rc));
			return EXIT_SYSTEM;
		}
	} else {
		event_open((int)bufsize, reliable);
		netns_init();
		int rc = 0, all = 0;
		for (int i = 0; i < nnetns; i++) {
			if (strcmp(netns[i], "all") == 0) {
				all = 1;
				continue;
			}
			int ns = watch_add(netns[i]);
			if (ns < 0) {
				fprintf(stderr, "ctlua: --netns %s: %s\n", netns[i],
					ns == -EINVAL ? "not a network namespace" : strerror(-ns));
				return EXIT_SYSTEM;
			}
		}
		if (nnetns == 0)
			rc = event_watch(0);
		else if (all)
			rc = watch_follow();
		netns_mode = nnetns > 0;
		if (rc < 0) {
			fprintf(stderr, "ctlua: cannot open the conntrack netlink socket: %s\n", strerror(-rc));
			return EXIT_SYSTEM;
		}
		if (conf.verbose)
			fprintf(stderr, "ctlua: event socket receive buffer: %d bytes (asked %lld)\n",
				rcvbuf_size(), bufsize);
	}

	had_tty = has_tty();
	uv_signal_t sighup;
	uv_signal_init(rt.loop, &sighup);
	uv_signal_start(&sighup, on_hup, SIGHUP);
	uv_unref((uv_handle_t *)&sighup);
	uv_async_init(rt.loop, &stop_async, on_stop);
	uv_unref((uv_handle_t *)&stop_async);
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int wrc = call_watchdog();
	if (wrc < 0) {
		fprintf(stderr, "ctlua: cannot start the watchdog thread: %s\n", strerror(-wrc));
		return EXIT_SYSTEM;
	}
	if (conf.verbose)
		fprintf(stderr, "ctlua: Lua memory cap: %zu bytes%s\n", conf.mem_limit, conf.mem_limit ? "" : " (none)");

	if (metrics && !replay && !nlfile && !check) {
		int rc = metrics_listen(metrics);
		if (rc == -EINVAL)
			die_usage("bad --metrics address '%s' (PORT, HOST:PORT or [IPV6]:PORT)", metrics);
		if (rc < 0) {
			fprintf(stderr, "ctlua: cannot listen on %s: %s\n", metrics, uv_strerror(rc));
			return EXIT_SYSTEM;
		}
		conf.timing = 1;
	}

	static struct config cfg;
	cfg = (struct config){
		.mode = check ? "check" : replay ? "replay" : nlfile ? "netlink-file" : "live",
		.luadir = luadir, .kernel_filter = kernel_filter, .resync = resync,
		.insecure = insecure, .scripts = scripts, .nscripts = nscripts,
		.chunks = chunks, .nchunks = nchunks, .sargv = sargv, .sargc = sargc,
	};
	if (!state_open(&cfg, NULL, NULL)) {
		int kind;
		const char *msg = state_error(&kind);
		if (call_stop_signal()) {
			fprintf(stderr, "ctlua: signal %d while loading the scripts, stopping\n", call_stop_signal());
			return 0;
		}
		if (kind != 0)            /* 0: a script's --help, printed already */
			fprintf(stderr, "ctlua: %s\n", msg);
		return kind;
	}
	lua_State *L = rt.ls->L;
	if (check) {
		/* Loaded as a start would: nothing subscribed, no handler or timer run. */
		if (conf.verbose)
			for (int i = 0; i < nscripts; i++)
				fprintf(stderr, "ctlua: %s: OK\n", scripts[i]);
		state_close(rt.ls);
		uv_walk(rt.loop, close_walk, NULL);
		uv_run(rt.loop, UV_RUN_DEFAULT);
		uv_loop_close(rt.loop);
		return 0;
	}
	if (!replay && !nlfile)
		reload_init(&cfg);

	int status = 0;
	int prc = replay || nlfile ? privs_drop(1, 0) : 0;
	if (prc < 0) {
		fprintf(stderr, "ctlua: cannot drop privileges: %s\n", strerror(-prc));
		return EXIT_SYSTEM;
	}
	if (replay && !rt.stopping) {
		lua_pushstring(L, replay);
		lua_pushboolean(L, strict);
		if (call_hook("replay", 2, 2) != LUA_OK) {
			call_report(L, "replay failed");
			status = EXIT_SYSTEM;
		} else if (lua_isnil(L, -2)) {
			/* An unreadable file is a system error; a bad line under --strict is
			 * the input's fault, reported like a script error. */
			const char *msg = lua_tostring(L, -1);
			if (strict && msg && strstr(msg, ": not an event")) {
				fprintf(stderr, "ctlua: %s\n", msg);
				return EXIT_SCRIPT;
			}
			fprintf(stderr, "ctlua: cannot replay %s: %s\n", replay, msg);
			return EXIT_SYSTEM;
		}
		lua_settop(L, 0);
	} else if (!rt.stopping) {
		lua_pushboolean(L, nlfile != NULL);
		lua_pushboolean(L, 0);
		if (call_hook("start", 2, 3) != LUA_OK) {
			fprintf(stderr, "ctlua: start failed: %s\n", lua_tostring(L, -1));
			return EXIT_SYSTEM;
		}
		if (lua_isnil(L, -3)) {
			const char *code = lua_tostring(L, -1);
			fprintf(stderr, "ctlua: cannot subscribe to conntrack events: %s%s\n",
				lua_tostring(L, -2), code && strcmp(code, "EPERM") == 0 ? " (need CAP_NET_ADMIN)" : "");
			return EXIT_SYSTEM;
		}
		lua_pop(L, 3);
		/* The kernel doubles what it grants; less than asked means the FORCE
		 * variant was refused and rmem_max capped it: say so, never silently. */
		if (!nlfile && event_joined() && rcvbuf_size() / 2 < bufsize)
			fprintf(stderr, "ctlua: event socket receive buffer is %d bytes, not the %lld asked: "
				"SO_RCVBUFFORCE needs CAP_NET_ADMIN in the initial user namespace, else raise net.core.rmem_max\n",
				rcvbuf_size() / 2, bufsize);
		int rc = nlfile ? 0 : privs_drop(listen_only, nnetns > 0);
		if (rc < 0) {
			fprintf(stderr, "ctlua: cannot drop privileges: %s\n", strerror(-rc));
			return EXIT_SYSTEM;
		}
		uv_run(rt.loop, UV_RUN_DEFAULT);
	}

	rt.stopping = 1;
	L = rt.ls->L;                    /* a reload may have replaced it */
	if (call_hook("finish", 0, 0) != LUA_OK)
		call_report(L, "stop handlers");
	event_close();
	cmd_close();
	metrics_close();
	spawn_close_all();
	uv_run(rt.loop, UV_RUN_NOWAIT);   /* their close callbacks still need the Lua state */
	state_close(rt.ls);
	uv_walk(rt.loop, close_walk, NULL);
	uv_run(rt.loop, UV_RUN_DEFAULT);
	uv_loop_close(rt.loop);
	uv_library_shutdown();            /* joins the resolver's threads (host-name sinks) */
	fflush(stdout);
	return call_status() ? call_status() : status;
}
