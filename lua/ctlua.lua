-- ctlua — the Lua runtime's assembly: builds `ct` from the modules in lua/ctlua/,
-- and hands the C core its hooks.
--
-- Loaded by the C core with its primitives table (`core`), which scripts never see,
-- and the mode ("live", "netlink-file", "replay" or "check"). Returns the public module:
-- `require "ctlua"`, also the global `ct`. Nothing here decides anything: each
-- binding and hook delegates to the module that holds the mechanism.
--
-- Wiring: every module is `local m = require "ctlua.X"; m.init(env)`, with one
-- env table: core, ct, mode, now (the clock: the recorded one during --replay),
-- fields (core.fields(): field names, protocol numbers, TCP states, status bits),
-- and what modules share: replay (with --replay), tracker (ctlua.resync's).

local core, mode = ...
core.output_mode(mode == "live")

-- ct.mode: "live", "netlink-file", "replay" or "check" (--check: loaded, never run)
local ct = { version = core.version, mode = mode }
local env = { core = core, ct = ct, mode = mode, now = core.now, fields = core.fields() }

-- With --replay first: its clock is env.now for every module after it. --check
-- loads with it too: table operations recorded, timers on a clock that never moves.
local replay = (mode == "replay" or mode == "check") and require "ctlua.replay" or nil
if replay then replay.init(env) end

local m = {}
-- In dependency order: resync puts env.tracker before handlers reads it.
for _, name in ipairs { "filter", "parse", "kfilter", "log", "window", "sink", "ipfix",
                        "metrics", "resync", "handlers", "table" } do
  m[name] = require("ctlua." .. name)
  m[name].init(env)
end
local handlers, ops = m.handlers, m.table

-- The public API -------------------------------------------------------------------

--- ct.on(name, [filter,] handler) -> handle (lua/ctlua/handlers.lua)
ct.on = handlers.on

--- ct.every(seconds, fn) -> timer;  ct.after(seconds, fn) -> timer
-- fn(timer) runs on the loop; timer:stop() cancels; timers are also to-be-closed.
-- During --replay they run on the recorded clock.
ct.every = replay and replay.every or core.every
ct.after = replay and replay.after or core.after

--- ct.now() -> seconds as a float: the wall clock live, the recorded clock in replay
ct.now = env.now

--- ct.spawn(argv [, opts] [, on_exit]) -> process | nil, message, code
-- Runs a command on the loop; on_exit(code, stdout, stderr, signal). argv is a list;
-- a shell string only with opts.shell = true. opts.stdin: text for its stdin.
-- process:kill([signal]), process:pid().
ct.spawn = core.spawn
if mode == "check" then
  ct.spawn = function() return nil, "not run under --check", "ENOTSUP" end
end

--- ct.keys(on_key [, on_resize]) -> keys | nil, message, code (src/tty.c)
-- stdin in raw mode: on_key(text) per key read, on_key(nil, code) when the terminal
-- goes; on_resize(cols, rows) on SIGWINCH; keys:close() restores the terminal.
--- ct.term_size() -> cols, rows of the terminal, or nil when there is none
ct.keys, ct.term_size = core.keys, core.term_size

--- ct.log.info/warn/error(fmt, ...); ct.log.open{to = "stderr"|"syslog"|"file", path, ident}
ct.log = m.log

-- Rule building blocks (lua/ctlua/window.lua), on ct.now()'s clock.
--- ct.counter{window, buckets, max_keys} -> sliding-window counter (add, count, rate)
--- ct.distinct{window, max_keys, max_values} -> distinct count per key (add, count)
--- ct.top{size, capacity} -> bounded top-N (add, list, reset)
--- ct.state{ttl, max_keys} -> table whose entries expire (set, get, delete, size)
ct.counter, ct.distinct, ct.top, ct.state = m.window.counter, m.window.distinct, m.window.top,
                                            m.window.state

--- ct.format(ev [, opts]) -> the line conntrack -E / -L (or their expect forms) print
-- opts: conntrack's -o words as booleans {extended, timestamp, id, ktimestamp, labels,
-- userspace, xml, save}, or as -o takes them ("extended,id").
-- The C formatter (src/format.c) that sinks use on messages, here on tables.
ct.format = core.format

--- ct.json(value) -> one-line JSON text of an event or any plain table
-- As lua-cjson wrote it, keys in one fixed order (src/format.c json_keys, then sorted).
ct.json = core.json

--- ct.array([t]) -> t: a list ct.json writes as a JSON array, [] when empty (a plain
-- empty table is {}): for fields that are lists, so that each has one JSON type.
local ARRAY = { __jsontype = "array" }
function ct.array(t) return setmetatable(t or {}, ARRAY) end

-- Table operations and namespaces (lua/ctlua/table.lua): ct.get, create, update,
-- delete, flush, count, entries, list, expect.*, watch, unwatch, namespaces.
-- During --replay the recorder's (lua/ctlua/replay.lua): counted, never sent.
local bound = replay and replay.record(ops) or ops
for _, name in ipairs(ops.OPS) do ct[name] = bound[name] end

-- Table health (src/health.c): read-only, so live during --replay too.
--- ct.cpu_stats([netns]) -> { {cpu=, found=, invalid=, insert=, insert_failed=, drop=,
--    early_drop=, error=, search_restart=, clash_resolve=, chaintoolong=}, ... } | nil, msg, code
--- ct.expect.cpu_stats([netns]) -> { {cpu=, expect_new=, expect_create=, expect_delete=}, ... }
--- ct.max([netns]) -> the table's maximum (nf_conntrack_max) | nil, message, code
ct.cpu_stats, ct.expect.cpu_stats, ct.max = core.cpu_stats, core.exp_cpu_stats, core.ct_max

-- nftables in-process (src/nft.c), one command per call; during --replay recorded, not run.
--- ct.nft.add(set, element | {element, ...} [, {timeout = s, netns = ev.netns}]) -> true | nil, msg, code
--- ct.nft.delete(set, element | {element, ...} [, {netns}]) -> true | nil, message, code
--- ct.nft.run(text [, {netns}]) -> what nft printed | nil, message, code
local nft = { add = core.nft_add, delete = core.nft_delete, run = core.nft_run }
ct.nft = replay and replay.record_nft(nft) or nft

--- ct.resync([enable]) -> new, destroyed | nil, message, code (lua/ctlua/resync.lua)
ct.resync = m.resync.resync

--- ct.handover() -> the table the previous state's "reload" handlers filled, or nil
-- On SIGHUP ctlua builds a new state from the same files; before that, each
-- ct.on("reload", function(saved) saved.x = ... end) handler of the running state
-- puts plain data (nil, booleans, numbers, strings, tables) into one table, which
-- the new state's scripts read with ct.handover() while they load. If the new
-- scripts fail to load, the running ones go on (their reload handlers have run).
function ct.handover()
  return core.handover
end

-- Sinks (lua/ctlua/sink.lua): files, stream sockets, syslog; never blocking.
--- ct.sink{to = "stdout"|"stderr"|"file"|"tcp"|"unix"|"syslog", format = "text"|"json",
--           path, address, max_queue, ident, facility, severity, name, and the -o words}
-- -> sink (:write(ev | text) -> true | false (dropped), :stats(), :close()) | nil, msg, code
ct.sink = m.sink.new
--- ct.sink_spec(text) -> options for ct.sink from "tcp:HOST:PORT", "unix:PATH",
-- "file:PATH", "syslog[:PATH]", "stdout" | nil, message
ct.sink_spec = m.sink.spec

--- ct.ipfix{collector = "HOST:PORT", ...} -> exporter | nil, message, code
-- exporter:export(ev) -> true | false; :flush(); :stats(); :close() (lua/ctlua/ipfix.lua)
ct.ipfix = m.ipfix.new

-- Metrics (lua/ctlua/metrics.lua), served by --metrics at GET /metrics.
--- ct.metrics.counter/gauge/histogram(name, help [, labelnames] ...) -> metric
ct.metrics = { counter = m.metrics.counter, gauge = m.metrics.gauge,
               histogram = m.metrics.histogram }

--- ct.stop() -> nothing; runs the stop handlers, leaves the loop, exits 0
function ct.stop()
  core.stop()
end

--- ct.stats() -> { events = {new=, update=, destroy=, ["expect-new"]=, ["expect-destroy"]=},
--    overruns, parse_errors, timer_errors, handler_errors, errors = {event = n}, rcvbuf,
--    groups = {names subscribed}, handlers = n, sinks, resync, kernel_filter }
-- During --replay: events fed, skipped_lines, recorded = {operation = n}.
function ct.stats()
  local s = core.stats()
  handlers.stats(s)
  s.sinks = m.sink.stats()
  s.resync = m.resync.stats()
  if replay then replay.stats(s) end
  return s
end

-- Hooks the C core calls -----------------------------------------------------------

local hooks = {
  -- dispatch(ev): every event from the kernel (hot path; read once by the core)
  dispatch = handlers.dispatch_live,
  -- start(offline, reloading) -> true | nil, message, code: subscribe to what
  -- handlers need
  start = handlers.start,
  -- reload() -> the handover table: SIGHUP, before the new state loads
  reload = handlers.reload,
  -- metrics() -> the text of GET /metrics
  metrics = m.metrics.render,
  -- finish(): the stop handlers, once; what error storms left unsaid
  finish = handlers.finish,
}

-- replay(path, strict) -> true | nil, message: feeds a recording to the handlers.
function hooks.replay(path, strict)
  handlers.begin()
  return replay.feed(path, handlers.dispatch, core.stopping, strict)
end

-- SIGHUP when the reload failed: reopen log files all the same (logrotate).
function hooks.hup()
  ct.log.reopen()
end

-- The new state failed to start: take the kernel filter and groups back.
function hooks.resubscribe()
  local ok, msg = handlers.resubscribe()
  if not ok then io.stderr:write("ctlua: cannot subscribe again: ", tostring(msg), "\n") end
end

-- overrun(n): the overrun handlers, then a resync when tracking.
function hooks.overrun(n)
  handlers.notify("overrun", n)
  m.resync.schedule()
end

core.hooks(hooks)

return ct
