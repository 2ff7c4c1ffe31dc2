-- ctlua — the Lua runtime: handler registry, dispatch, filters, the public API.
--
-- Loaded by the C core with its primitives table (`core`), which scripts never see.
-- Returns the public module: `require "ctlua"`, also the global `ct`.

local core, mode = ...     -- mode: "live", "netlink-file" or "replay"
local filter = require "ctlua.filter"
local sinks = require "ctlua.sink"
core.output_mode(mode == "live")

filter.init(core)

local ct = { version = core.version }

-- Netlink group of each event name (NFNLGRP_CONNTRACK_*); 0 = needs no group.
local GROUP = {
  new = 1, update = 2, destroy = 3, ["expect-new"] = 4, ["expect-destroy"] = 6,
  overrun = 0, resync = 0, reload = 0, stop = 0,
}
-- The same names in order: the kernel's events, then every name ct.on takes.
local EVENT_NAMES = { "new", "update", "destroy", "expect-new", "expect-destroy" }
local HANDLER_NAMES = { "new", "update", "destroy", "expect-new", "expect-destroy",
                        "overrun", "resync", "reload", "stop" }
local CLASS = { new = "conntrack", update = "conntrack", destroy = "conntrack",
                ["expect-new"] = "expect", ["expect-destroy"] = "expect" }

-- name -> array of handler records; replaced, never mutated, so that a handler may
-- register or cancel handlers while the list is being walked.
local lists = {}
for name in pairs(GROUP) do lists[name] = {} end
-- name -> array of sink handlers: ct.on(name, sink) without a filter. The C core
-- formats and writes their events itself (src/route.c); events that reach Lua
-- some other way (replay, resync) are written here.
local routes = {}
for name in pairs(GROUP) do routes[name] = {} end

local started, finished = false, false
local handler_errors = 0
local errors_by_event = {}
local traceback = debug.traceback
local xpcall = xpcall      -- the hot path reads it as an upvalue, not a global

-- The resync tracker (lua/ctlua/resync.lua): on with --resync or ct.resync().
local tracker = require("ctlua.resync").new(core)
tracker.enabled = core.resync and mode == "live" or false

local function groups_mask()
  local mask = 0
  for name, g in pairs(GROUP) do
    if g > 0 and #lists[name] + #routes[name] > 0 then mask = mask | (1 << g) end
  end
  -- Tracking needs both ends of every entry's life, whatever the handlers take.
  if tracker.enabled and #lists.new + #lists.update + #lists.destroy +
                         #routes.new + #routes.update + #routes.destroy > 0 then
    mask = mask | (1 << GROUP.new) | (1 << GROUP.destroy)
  end
  return mask
end

-- The kernel-side event filter for the handlers now registered (see ctlua.kfilter).
local kfilter = require "ctlua.kfilter"
local kernel_spec
local function refilter()
  if not core.use_kernel_filter then return end
  local hs = {}
  for _, name in ipairs { "new", "update", "destroy" } do
    for _, h in ipairs(lists[name]) do hs[#hs + 1] = h end
  end
  local spec = kfilter.spec(hs, core)
  local ok, msg = core.kernel_filter(spec)
  if not ok then
    -- Not fatal: every event then reaches the Lua filters, which decide anyway.
    io.stderr:write("ctlua: kernel event filter not applied: ", tostring(msg), "\n")
    spec = nil
  end
  kernel_spec = spec
end

-- Which event kinds the C core hands to Lua at all: those with Lua handlers, and
-- every conntrack kind while the resync tracker keeps its view.
local function lua_kinds()
  local mask = 0
  for i, name in ipairs(EVENT_NAMES) do
    if #lists[name] > 0 or (tracker.enabled and i <= 3) then mask = mask | (1 << (i - 1)) end
  end
  core.lua_kinds(mask)
end

local function resubscribe()
  refilter()
  lua_kinds()
  return core.subscribe(groups_mask())
end

local function where(fn)
  local info = debug.getinfo(fn, "S")
  return info.short_src .. ":" .. (info.linedefined or 0)
end

-- Error storms: the first FULL errors of a handler are printed whole, then one
-- summary line per handler every SUMMARY seconds (and a last one at stop); every
-- error is counted.
local FULL, SUMMARY = 5, 10
local function summarise(h, now)
  io.stderr:write(string.format("ctlua: '%s' handler (%s) failed %d more times in %.0f s, last: %s\n",
                                h.event, h.where, h.unreported, now - h.quiet_since,
                                (tostring(h.last_error):match("^[^\n]*"))))
  h.quiet_since, h.unreported = now, 0
end
local function handler_failed(h, err)
  h.errors = h.errors + 1
  handler_errors = handler_errors + 1
  errors_by_event[h.event] = (errors_by_event[h.event] or 0) + 1
  local out = io.stderr
  if h.errors <= FULL then
    out:write(string.format("ctlua: error in '%s' handler (%s): %s\n", h.event, h.where, tostring(err)))
    if h.errors == FULL then
      out:write(string.format("ctlua: '%s' handler (%s): further errors are summarised every %d s\n",
                              h.event, h.where, SUMMARY))
    end
  else
    local now = ct.now()      -- the recorded clock during replay
    h.quiet_since = h.quiet_since or now
    h.unreported = (h.unreported or 0) + 1
    h.last_error = err
    if now - h.quiet_since >= SUMMARY then summarise(h, now) end
  end
  out:flush()
end

local function call_list(list, ...)
  for i = 1, #list do
    local h = list[i]
    if not h.cancelled then
      local ok, err = xpcall(h.fn, traceback, ...)
      if not ok then handler_failed(h, err) end
    end
  end
end

-- Hot path: called by the C core with each event table. One xpcall per event, not
-- per handler: `current` says which handler raised, and the walk resumes after it.
local current
local function run(list, from, ev)
  for i = from, #list do
    local h = list[i]
    local match = h.match
    current = i
    if not h.cancelled and (match == nil or match(ev)) then h.fn(ev) end
  end
end

-- Events from the C core: their sink handlers have been served there.
local function dispatch_live(ev)
  if tracker.enabled and ev.id ~= nil then tracker:track(ev) end
  local list = lists[ev.event]
  local n = #list
  local from = 1
  while from <= n do
    local ok, err = xpcall(run, traceback, list, from, ev)
    if ok then return end
    handler_failed(list[current], err)
    from = current + 1
  end
end

-- Events made in Lua (replay, resync): sink handlers too.
local function dispatch(ev)
  local rs = routes[ev.event]
  for i = 1, #rs do
    local ok, err = pcall(rs[i].sink.write, rs[i].sink, ev)
    if not ok then handler_failed(rs[i], err) end
  end
  dispatch_live(ev)
end

local Handle = {}
Handle.__index = Handle

-- handle:cancel() -> nothing; the handler is not called again. Safe to call twice.
function Handle:cancel()
  if self.cancelled then return end
  self.cancelled = true
  if self.route then core.unroute(self.route) end
  local where = self.sink and routes or lists
  local old, new = where[self.event], {}
  for i = 1, #old do if old[i] ~= self then new[#new + 1] = old[i] end end
  where[self.event] = new
  if started then resubscribe() end
end

--- ct.on(name, [filter,] handler) -> handle
-- name: "new" | "update" | "destroy" | "expect-new" | "expect-destroy" | "overrun" |
-- "resync" | "reload" | "stop". filter: a table of field constraints (see README), only for
-- event names.
function ct.on(name, f, fn)
  if type(name) ~= "string" or not GROUP[name] then
    error(string.format("bad argument #1 to 'on' (unknown event name %s)",
                        type(name) == "string" and "'" .. name .. "'" or type(name)), 2)
  end
  if fn == nil then f, fn = nil, f end
  local sink = sinks.is_sink(fn) and fn or nil
  if sink and not CLASS[name] then
    error(string.format("bad argument #%d to 'on' ('%s' handlers take a function, not a sink)",
                        f == nil and 2 or 3, name), 2)
  end
  if sink and f ~= nil then
    -- A filter needs the event table: the sink is written from Lua, after the
    -- same match as any handler.
    fn = function(ev) sink:write(ev) end
  elseif sink then
    local h = setmetatable({ event = name, sink = sink, errors = 0, where = "sink " .. sink.name }, Handle)
    local out = sink.output or sink.handle   -- a C writer: a file output or a socket sink
    if out then
      local kind
      for i, n in ipairs(EVENT_NAMES) do if n == name then kind = i - 1 end end
      h.route = core.route(1 << kind, out, sink.format == "json", sink.text_opts ~= nil)
    end
    local old, new = routes[name], {}
    for i = 1, #old do new[i] = old[i] end
    new[#new + 1] = h
    routes[name] = new
    if not out then
      -- No C writer for this sink: from Lua.
      h.sink, h.route = nil, nil
      routes[name] = old
      fn = function(ev) sink:write(ev) end
    else
      if started then
        local ok, msg = resubscribe()
        if not ok then error("cannot subscribe to conntrack events: " .. msg, 2) end
      end
      return h
    end
  end
  if type(fn) ~= "function" then
    error(string.format("bad argument #%d to 'on' (function expected, got %s)",
                        f == nil and 2 or 3, type(fn)), 2)
  end
  local match
  if f ~= nil then
    if not CLASS[name] then
      error(string.format("bad argument #2 to 'on' ('%s' handlers take no filter)", name), 2)
    end
    local ok, res = pcall(filter.compile, f, CLASS[name])
    if not ok then error("bad argument #2 to 'on' (" .. tostring(res) .. ")", 2) end
    match = res
  end
  -- A copy: the kernel filter is rebuilt from it later, and must agree with `match`
  -- even if the script changes its own table afterwards.
  local function copy(t)
    if type(t) ~= "table" then return t end
    local c = {}
    for k, v in pairs(t) do c[k] = copy(v) end
    return c
  end
  local h = setmetatable({ event = name, fn = fn, match = match, filter = copy(f), errors = 0,
                           where = where(fn) }, Handle)
  local old, new = lists[name], {}
  for i = 1, #old do new[i] = old[i] end
  new[#new + 1] = h
  lists[name] = new
  if started and GROUP[name] > 0 then
    local ok, msg = resubscribe()
    if not ok then error("cannot subscribe to conntrack events: " .. msg, 2) end
  end
  return h
end

local replay = mode == "replay" and require "ctlua.replay" or nil
if replay then replay.init(core) end
local recorded, replayed = {}, {}   -- replay: table operations recorded, events fed

--- ct.every(seconds, fn) -> timer;  ct.after(seconds, fn) -> timer
-- fn(timer) runs on the loop; timer:stop() cancels; timers are also to-be-closed.
-- During --replay they run on the recorded clock.
ct.every = replay and replay.every or core.every
ct.after = replay and replay.after or core.after

--- ct.now() -> seconds as a float: the wall clock live, the recorded clock in replay
ct.now = replay and replay.now or core.now

--- ct.spawn(argv [, opts] [, on_exit]) -> process | nil, message, code
-- Runs a command on the loop; on_exit(code, stdout, stderr, signal). argv is a list;
-- a shell string only with opts.shell = true. opts.stdin: text for its stdin.
-- process:kill([signal]), process:pid().
ct.spawn = core.spawn

--- ct.log.info/warn/error(fmt, ...); ct.log.open{to = "stderr"|"syslog"|"file", path, ident}
ct.log = require "ctlua.log"
ct.log.init(core, function() return ct.now() end)

-- Rule building blocks (lua/ctlua/window.lua), on ct.now()'s clock.
local window = require "ctlua.window"
--- ct.counter{window, buckets, max_keys} -> sliding-window counter (add, count, rate)
function ct.counter(opts) return window.counter(opts, ct.now) end
--- ct.distinct{window, max_keys, max_values} -> distinct count per key (add, count)
function ct.distinct(opts) return window.distinct(opts, ct.now) end
--- ct.top{size, capacity} -> bounded top-N (add, list, reset)
function ct.top(opts) return window.top(opts) end
--- ct.state{ttl, max_keys} -> table whose entries expire (set, get, delete, size)
function ct.state(opts) return window.state(opts, ct.now) end

--- ct.format(ev [, opts]) -> the line conntrack -E (or -E expect) prints for ev
-- opts.timestamp = true: the `-o timestamp` form.
-- The C formatter (src/format.c) that sinks use on messages, here on tables.
ct.format = core.format

--- ct.json(value) -> one-line JSON text of an event or any plain table
-- As lua-cjson wrote it, keys in one fixed order (src/format.c json_keys, then sorted).
ct.json = core.json

-- Table operations ---------------------------------------------------------------
-- Misuse raises naming the field; kernel refusals return nil, message, code where
-- code is the errno name ("ENOENT": no such entry, for delete: already gone).

-- Network namespaces: a table (event, entry, tuple) with `netns` acts there; a
-- filter with `netns` lists there. Without, ctlua's own namespace.
local function use_netns(ns, fname, level)
  if ns ~= nil and (type(ns) ~= "string" or not pcall(core.use_netns, ns)) then
    error(string.format("bad argument #1 to '%s' (network namespace %s is not watched)", fname,
                        type(ns) == "string" and "'" .. ns .. "'" or tostring(ns)), level + 1)
  end
  if ns == nil then core.use_netns(nil) end
end
local function netns_of(t) return type(t) == "table" and rawget(t, "netns") or nil end
local function in_netns(fname, fn)
  return function(t, ...)
    use_netns(netns_of(t), fname, 2)
    return fn(t, ...)
  end
end

--- ct.watch(netns) -> name | nil, message, code
-- Watch one more network namespace (a name under /run/netns, or a path): its
-- events arrive with ev.netns = name, and table operations on them act there.
function ct.watch(spec)
  if type(spec) ~= "string" then error("bad argument #1 to 'watch' (string expected, got " .. type(spec) .. ")", 2) end
  if mode ~= "live" then return nil, "not watching the kernel", "ENOTSUP" end
  local name, msg, code = core.watch(spec)
  if name then resubscribe() end
  return name, msg, code
end

--- ct.unwatch(name) -> true | nil, message, code
function ct.unwatch(name)
  if type(name) ~= "string" then error("bad argument #1 to 'unwatch' (string expected, got " .. type(name) .. ")", 2) end
  if mode ~= "live" then return nil, "not watching the kernel", "ENOTSUP" end
  return core.unwatch(name)
end

--- ct.namespaces() -> { name, ... }: the namespaces watched now
function ct.namespaces()
  if mode ~= "live" then return {} end
  return (core.netns())
end

--- ct.get(t) -> entry | nil, message, code
-- t: an event or entry table, or a tuple {family?, proto, src, dst, sport, dport}
-- (ICMP: type, code, id).
ct.get = in_netns("get", core.ct_get)

--- ct.create(t) -> true | nil, message, code
-- t: proto, orig tuple (t.orig or t itself), timeout; optional reply (default: orig
-- inverted), mark, zone, status, state (TCP), helper, labels.
ct.create = in_netns("create", core.ct_create)

--- ct.update(t, changes) -> true | nil, message, code
-- changes: mark (+ mask: only those bits change), timeout, status, labels (+ labels_mask).
-- The kernel keeps labels only where the ruleset uses connlabel; its ENOSPC says
-- so cryptically, so the message says what to do.
function ct.update(t, changes)
  use_netns(netns_of(t), "update", 2)
  local ok, msg, code = core.ct_update(t, changes)
  if ok then return ok end
  if code == "ENOSPC" and type(changes) == "table" and changes.labels ~= nil then
    msg = msg .. " (conntrack labels need a rule using connlabel in the ruleset, e.g. nft 'add rule inet filter output ct label set 127')"
  end
  return ok, msg, code
end

--- ct.delete(t) -> true | nil, message, code
--- ct.delete(list) -> deleted, gone, failed, first_error_message
-- A list of entries is deleted in batched requests (one round trip per batch).
function ct.delete(t)
  if type(t) == "table" and rawget(t, 1) ~= nil then
    -- One batch per namespace, in the order each first appears.
    local groups, order = {}, {}
    for i = 1, #t do
      local ns = netns_of(t[i]) or false
      if not groups[ns] then groups[ns] = {}; order[#order + 1] = ns end
      local g = groups[ns]
      g[#g + 1] = t[i]
    end
    local deleted, gone, failed, first = 0, 0, 0, nil
    for _, ns in ipairs(order) do
      use_netns(ns or nil, "delete", 2)
      local d, g, f, e = core.ct_delete_many(groups[ns])
      deleted, gone, failed, first = deleted + d, gone + g, failed + f, first or e
    end
    return deleted, gone, failed, first
  end
  use_netns(netns_of(t), "delete", 2)
  return core.ct_delete(t)
end

local function check_family(family, fname)
  if family ~= nil and family ~= "ipv4" and family ~= "ipv6" then
    error("bad argument #1 to '" .. fname .. "' (\"ipv4\" or \"ipv6\" expected)", 3)
  end
end

--- ct.flush([family] [, netns]) -> true | nil, message, code
-- With a family, only that family's entries go: the kernel's flush ignores the
-- family (conntrack -F -f ipv6 empties the whole table), so ctlua lists and deletes.
function ct.flush(family, netns)
  check_family(family, "flush")
  use_netns(netns, "flush", 2)
  if family == nil then return core.ct_flush() end
  local list, msg, code = ct.list({ family = family, netns = netns })
  if not list then return nil, msg, code end
  local _, _, failed, err = core.ct_delete_many(list)
  if failed > 0 then return nil, err, "EIO" end
  return true
end

--- ct.count([netns]) -> number of entries in the table | nil, message, code
function ct.count(netns)
  use_netns(netns, "count", 2)
  return core.ct_count()
end

local STATUS_BIT = { expected = 0, seen_reply = 1, assured = 2, confirmed = 3, src_nat = 4,
                     dst_nat = 5, dying = 9 }

-- The part of a filter the kernel can apply to a dump (family, mark, status); the
-- whole filter still runs in Lua afterwards, so results never depend on it.
local function kernel_filter(f)
  if not f then return nil end
  local family = type(f.family) == "string" and f.family or nil
  local mark = math.type(f.mark) == "integer" and f.mark or nil
  local st, stmask
  if type(f.status) == "string" and STATUS_BIT[f.status] then
    st = 1 << STATUS_BIT[f.status]; stmask = st
  elseif type(f.status) == "table" and rawget(f.status, 1) == nil then
    st, stmask = 0, 0
    for name, want in pairs(f.status) do
      local b = STATUS_BIT[name]
      if b == nil then st, stmask = nil, nil break end
      stmask = stmask | (1 << b)
      if want then st = st | (1 << b) end
    end
  end
  return family, mark, mark and 0xffffffff or nil, st, stmask
end

local function entries(kind, class, f, level)
  local match
  if f ~= nil then
    local ok, res = pcall(filter.compile, f, class)
    if not ok then error("bad argument #1 to 'entries' (" .. tostring(res) .. ")", level) end
    match = res
  end
  local it, msg, code
  use_netns(f and f.netns, "entries", level)
  if kind == "ct" then
    it, msg, code = core.dump("ct", kernel_filter(f))
  else
    it, msg, code = core.dump("expect", f and type(f.family) == "string" and f.family or nil)
  end
  if not it then return nil, msg, code end
  if not match then return it, nil, nil, it end
  return function()
    local e
    repeat e = it() until e == nil or match(e)
    return e
  end, nil, nil, it
end

--- ct.entries([filter]) -> iterator over entry tables (no array is built)
-- for e in ct.entries({proto = "udp"}) do ... end; breaking out closes the dump.
-- Raises when the dump cannot start.
function ct.entries(f)
  local it, s, c, closing = entries("ct", "conntrack", f, 3)
  if not it then error("cannot list conntrack entries: " .. s, 2) end
  return it, s, c, closing
end

local function collect(kind, class, f)
  local it, msg, code, closing = entries(kind, class, f, 4)
  if not it then return nil, msg, code end
  local out, n = {}, 0
  local ok, err = pcall(function()
    for e in it, nil, nil, closing do n = n + 1; out[n] = e end
  end)
  if not ok then return nil, tostring(err), closing.errno and closing:errno() or "EIO" end
  return out
end

--- ct.list([filter]) -> array of entry tables | nil, message, code
function ct.list(f) return collect("ct", "conntrack", f) end

ct.expect = {
  --- ct.expect.list([filter]) -> array of expectation tables | nil, message, code
  list = function(f) return collect("expect", "expect", f) end,
  --- ct.expect.entries([filter]) -> iterator over expectation tables
  entries = function(f)
    local it, s, c, closing = entries("expect", "expect", f, 3)
    if not it then error("cannot list expectations: " .. s, 2) end
    return it, s, c, closing
  end,
  --- ct.expect.get(t) -> expectation | nil, message, code (t needs tuple)
  get = in_netns("get", core.exp_get),
  --- ct.expect.create(t) -> true | nil, message, code
  -- t: master, tuple, mask (tuple tables), timeout; helper, class, flags, zone, nat
  create = in_netns("create", core.exp_create),
  --- ct.expect.delete(t) -> true | nil, message, code; an expect-new event works as is
  delete = in_netns("delete", core.exp_delete),
  --- ct.expect.flush([family]) -> true | nil, message, code (family: as ct.flush)
  flush = function(family, netns)
    check_family(family, "flush")
    use_netns(netns, "flush", 2)
    if family == nil then return core.exp_flush() end
    local list, msg, code = collect("expect", "expect", { family = family, netns = netns })
    if not list then return nil, msg, code end
    for _, x in ipairs(list) do
      use_netns(netns, "flush", 2)
      local ok, err, ecode = core.exp_delete(x)
      if not ok and ecode ~= "ENOENT" then return nil, err, ecode end
    end
    return true
  end,
}

-- Whether some conntrack handler would take entry e (a resync delivers nothing else).
local function interesting(e)
  for _, name in ipairs { "new", "update", "destroy" } do
    local list = lists[name]
    for i = 1, #list do
      local h = list[i]
      if not h.cancelled and (h.match == nil or h.match(e)) then return true end
    end
    if #routes[name] > 0 then return true end   -- sink handlers take every event
  end
  return false
end

local RESYNC_GAP = 1      -- seconds between two resyncs after overruns, at least
local resync_timer, schedule_resync

local function resync_now()
  local watched, tagged = core.netns()
  local n, gone, code = tracker:run(dispatch, interesting, core.now(), tagged and watched or nil)
  if n then call_list(lists.resync, { new = n, destroy = gone, tracked = tracker.tracked }) end
  if tracker.partial then schedule_resync() end   -- the read-ahead hit its cap
  return n, gone, code
end

-- After an overrun: one resync, RESYNC_GAP after the previous one at the soonest,
-- so that a storm of overruns costs one dump a second, not one per overrun.
function schedule_resync()
  if resync_timer or not tracker.enabled then return end
  local wait = math.max(0, tracker.last + RESYNC_GAP - core.now())
  resync_timer = core.after(wait, function()
    resync_timer = nil
    local ok, msg = resync_now()
    if not ok then
      io.stderr:write("ctlua: resync failed: ", tostring(msg), "\n")
      schedule_resync()
    end
  end)
end

--- ct.resync([enable]) -> new, destroyed | nil, message, code  (no argument)
--- ct.resync(true|false) -> nothing                              (on or off)
-- With a boolean: track live entries and resync after each overrun (as --resync),
-- or stop. With no argument: turn tracking on and resync now: entries the kernel
-- has and ctlua never saw come as "new" events, entries ctlua saw that are gone
-- as "destroy" events, all with ev.resync = true. The first call so delivers the
-- whole table. Then "resync" handlers get {new=, destroy=, tracked=}.
function ct.resync(enable)
  if enable ~= nil and type(enable) ~= "boolean" then
    error("bad argument #1 to 'resync' (boolean expected, got " .. type(enable) .. ")", 2)
  end
  if replay or mode ~= "live" then
    if enable == nil then return 0, 0 end
    return
  end
  if enable == false then
    tracker.enabled, tracker.live, tracker.tracked = false, {}, 0   -- live: netns -> id -> ev
  else
    local was = tracker.enabled
    tracker.enabled = true
    if started and not was then resubscribe() end
  end
  if started then lua_kinds() end
  if enable == nil then return resync_now() end
end

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
--           timestamp, path, address, max_queue, ident, facility, severity, name}
-- -> sink (:write(ev | text) -> true | false (dropped), :stats(), :close()) | nil, msg, code
function ct.sink(o) return sinks.new(core, ct, o) end
--- ct.sink_spec(text) -> options for ct.sink from "tcp:HOST:PORT", "unix:PATH",
-- "file:PATH", "syslog[:PATH]", "stdout" | nil, message
ct.sink_spec = sinks.spec

-- IPFIX export (lua/ctlua/ipfix.lua).
local ipfix = require "ctlua.ipfix"
--- ct.ipfix{collector = "HOST:PORT", transport = "udp"|"tcp", domain, template_refresh,
--           mtu, flush, pen, max_queue, first_seen} -> exporter | nil, message, code
-- exporter:export(ev) -> true | false; :flush(); :stats(); :close()
function ct.ipfix(o) return ipfix.new(core, ct, o) end

-- Metrics (lua/ctlua/metrics.lua), served by --metrics at GET /metrics.
local metrics_lib = require "ctlua.metrics"
local metrics = metrics_lib.new()
ct.metrics = {
  --- ct.metrics.counter(name, help [, labelnames] [, opts]) -> counter (:inc([labels,] [n]))
  counter = function(name, help, labelnames, opts)
    return metrics:define("counter", "counter", name, help, labelnames, nil, opts)
  end,
  --- ct.metrics.gauge(name, help [, labelnames] [, opts]) -> gauge (:set, :inc, :dec)
  gauge = function(name, help, labelnames, opts)
    return metrics:define("gauge", "gauge", name, help, labelnames, nil, opts)
  end,
  --- ct.metrics.histogram(name, help [, labelnames] [, buckets] [, opts]) -> histogram (:observe)
  histogram = function(name, help, labelnames, buckets, opts)
    return metrics:define("histogram", "histogram", name, help, labelnames, buckets, opts)
  end,
}

--- ct.stop() -> nothing; runs the stop handlers, leaves the loop, exits 0
function ct.stop()
  core.stop()
end

--- ct.stats() -> { events = {new=, update=, destroy=, ["expect-new"]=, ["expect-destroy"]=},
--    overruns, parse_errors, timer_errors, handler_errors, errors = {event = n}, rcvbuf,
--    groups = {names subscribed}, handlers = n }
function ct.stats()
  local s = core.stats()
  s.handler_errors = handler_errors
  s.errors = {}
  for k, v in pairs(errors_by_event) do s.errors[k] = v end
  s.handler_errors_by_handler = {}
  for _, name in ipairs(HANDLER_NAMES) do
    for _, h in ipairs(lists[name]) do
      if h.errors > 0 then s.handler_errors_by_handler[name .. " " .. h.where] = h.errors end
    end
  end
  local mask, names, n = core.groups(), {}, 0
  for name, g in pairs(GROUP) do
    if g > 0 and mask & (1 << g) ~= 0 then names[#names + 1] = name end
    n = n + #lists[name] + #routes[name]
  end
  table.sort(names)
  s.groups, s.handlers = names, n
  s.sinks = sinks.stats()
  s.resync = tracker:stats()
  s.resync.enabled = tracker.enabled
  local kf = {}
  for k, v in pairs(kernel_spec or {}) do kf[k] = #v end
  s.kernel_filter = kernel_spec and kf or false   -- attribute -> number of values
  if replay then
    for _, k in ipairs(EVENT_NAMES) do
      s.events[k] = replayed[k] or 0
    end
    s.skipped_lines = replayed.skipped or 0
    s.timer_errors = replay.timer_errors()
    s.recorded = {}
    for k, v in pairs(recorded) do s.recorded[k] = v end
  end
  return s
end

-- Hooks the C core calls: dispatch (hot path), start, overrun, finish.
-- During replay, table operations are recorded and counted, never sent.
if replay then
  local function recorder(name, result)
    return function(...)
      recorded[name] = (recorded[name] or 0) + 1
      if result == "list" then return {} end
      if result == "none" then return nil, "No such file or directory", "ENOENT" end
      if result == "many" then
        local t = ...
        return type(t) == "table" and #t or 0, 0, 0, nil
      end
      return true
    end
  end
  ct.get, ct.create, ct.update, ct.flush = recorder("get", "none"), recorder("create"),
    recorder("update"), recorder("flush")
  local del, delmany = recorder("delete"), recorder("delete", "many")
  ct.delete = function(t)
    if type(t) == "table" and rawget(t, 1) ~= nil then return delmany(t) end
    return del(t)
  end
  ct.list = recorder("list", "list")
  ct.entries = function() recorded.list = (recorded.list or 0) + 1 return function() end end
  ct.count = function() recorded.count = (recorded.count or 0) + 1 return 0 end
  ct.expect.get, ct.expect.create, ct.expect.delete, ct.expect.flush =
    recorder("expect.get", "none"), recorder("expect.create"), recorder("expect.delete"),
    recorder("expect.flush")
  ct.expect.list = recorder("expect.list", "list")
end

local hooks = { dispatch = dispatch_live }

-- replay(path) -> true | nil, message: feeds a recording to the handlers.
function hooks.replay(path, strict)
  started = true
  local n, bad = replay.run(path, function(ev)
    replayed[ev.event] = (replayed[ev.event] or 0) + 1
    dispatch(ev)
  end, core.stopping, strict)
  if not n then return nil, bad end
  replayed.skipped = bad
  return true
end

-- start(offline) -> true | nil, message, errno: subscribe to what handlers need.
function hooks.start(offline, reloading)
  started = true
  if offline then lua_kinds() return true end   -- recorded messages: no socket, same routing
  local ok, msg, code = resubscribe()
  if not ok then return nil, msg, code end
  if reloading then return true end
  -- The empty-table hint reads our own namespace's count: only when it is watched.
  local watched, tagged = core.netns()
  local own = not tagged
  for _, n in ipairs(watched) do if n == "self" then own = true end end
  local need_ct = own and #lists.new + #lists.update + #lists.destroy +
                   #routes.new + #routes.update + #routes.destroy > 0
  if need_ct then
    local f = io.open("/proc/sys/net/netfilter/nf_conntrack_count")
    local count = f and tonumber(f:read("l")) or 0
    if f then f:close() end
    if count == 0 then
      io.stderr:write("ctlua: the conntrack table is empty: nothing may be tracked in this network namespace.\n",
        "ctlua: to track connections, add a rule that uses conntrack, e.g.: nft 'add table inet ctlua; add chain inet ctlua out { type filter hook output priority 0; }; add rule inet ctlua out ct state new counter; add chain inet ctlua pre { type filter hook prerouting priority 0; }; add rule inet ctlua pre ct state new counter'\n")
    end
  end
  return true
end

-- SIGHUP when the reload failed: reopen log files all the same (logrotate).
function hooks.hup()
  ct.log.reopen()
end

-- SIGHUP, before the new state loads: reload handlers fill the handover table.
function hooks.reload()
  local saved = {}
  call_list(lists.reload, saved)
  return saved
end

-- The new state failed to start: take the kernel filter and groups back.
function hooks.resubscribe()
  local ok, msg = resubscribe()
  if not ok then io.stderr:write("ctlua: cannot subscribe again: ", tostring(msg), "\n") end
end

-- GET /metrics: ctlua's own families from ct.stats(), then the scripts' metrics.
-- Keys of t, sorted: stable series order between scrapes.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local SINK_FAMILIES = {   -- name, type, help, field of sink:stats()
  { "ctlua_sink_lines_total", "counter", "Lines accepted by a sink, by sink.", "lines" },
  { "ctlua_sink_dropped_total", "counter", "Lines a sink dropped (queue full, peer gone), by sink.", "dropped" },
  { "ctlua_sink_reconnects_total", "counter", "Reconnections of a stream sink, by sink.", "reconnects" },
  { "ctlua_sink_connected", "gauge", "1 when a sink can write now, by sink.", "connected" },
  { "ctlua_sink_queued_bytes", "gauge", "Bytes waiting in a sink's queue, by sink.", "queued" },
}

local function builtin_metrics(out, num)
  local s = ct.stats()
  local esc = metrics_lib.escape_label
  local function family(name, kind, help) metrics_lib.header(out, name, kind, help) end
  local function one(name, kind, help, v)
    family(name, kind, help)
    out[#out + 1] = name .. " " .. num(v)
  end
  family("ctlua_events_total", "counter", "Events received from the kernel, by event name (and network namespace with --netns).")
  if s.netns then
    for _, ns in ipairs(sorted_keys(s.netns)) do
      for _, e in ipairs(EVENT_NAMES) do
        out[#out + 1] = string.format('ctlua_events_total{event="%s",netns="%s"} %s', e, esc(ns), num(s.netns[ns][e] or 0))
      end
    end
  else
    for _, e in ipairs(EVENT_NAMES) do
      out[#out + 1] = string.format('ctlua_events_total{event="%s"} %s', e, num(s.events[e] or 0))
    end
  end
  family("ctlua_handler_errors_total", "counter", "Handler calls that raised an error, by event name.")
  for _, e in ipairs(HANDLER_NAMES) do
    out[#out + 1] = string.format('ctlua_handler_errors_total{event="%s"} %s', e, num(s.errors[e] or 0))
  end
  one("ctlua_handler_timeouts_total", "counter", "Handler or timer calls interrupted by --handler-timeout.", s.timeouts)
  one("ctlua_overruns_total", "counter", "Event socket overruns (events the kernel dropped).", s.overruns)
  one("ctlua_resyncs_total", "counter", "Resyncs run (table dumps diffed against the live set).", s.resync.runs)
  family("ctlua_resync_events_total", "counter", "Synthetic events delivered by resyncs, by event name.")
  out[#out + 1] = 'ctlua_resync_events_total{event="new"} ' .. num(s.resync.new)
  out[#out + 1] = 'ctlua_resync_events_total{event="destroy"} ' .. num(s.resync.destroy)
  one("ctlua_parse_errors_total", "counter", "Kernel messages that could not be parsed.", s.parse_errors)
  one("ctlua_commands_total", "counter", "Requests sent on the command socket.", s.commands)
  one("ctlua_command_errors_total", "counter", "Requests the kernel refused (other than ENOENT and EEXIST).", s.command_errors)
  one("ctlua_reloads_total", "counter", "SIGHUP reloads that swapped in new scripts.", s.reloads)
  one("ctlua_metrics_refused_connections_total", "counter", "/metrics connections refused over the limit.", s.metrics_refused)
  one("ctlua_receive_buffer_bytes", "gauge", "Receive buffer of the event socket.", s.rcvbuf)
  one("ctlua_lua_memory_bytes", "gauge", "Memory held by the Lua state.", s.memory)
  if s.netns then
    -- One count request per namespace watched (the /proc file is only ours).
    family("ctlua_conntrack_entries", "gauge", "Entries in the conntrack table, by network namespace.")
    for _, ns in ipairs(sorted_keys(s.netns)) do
      local ok, n = pcall(ct.count, ns)
      if ok and n then out[#out + 1] = string.format('ctlua_conntrack_entries{netns="%s"} %s', esc(ns), num(n)) end
    end
  else
    local f = io.open("/proc/sys/net/netfilter/nf_conntrack_count")
    local count = f and tonumber(f:read("l"))
    if f then f:close() end
    if count then one("ctlua_conntrack_entries", "gauge", "Entries in the conntrack table.", count) end
  end
  local sinks = sorted_keys(s.sinks)
  for _, fam in ipairs(SINK_FAMILIES) do
    family(fam[1], fam[2], fam[3])
    for _, name in ipairs(sinks) do
      local v = s.sinks[name][fam[4]]
      if type(v) == "boolean" then v = v and 1 or 0 end
      out[#out + 1] = string.format('%s{sink="%s"} %s', fam[1], esc(name), num(v))
    end
  end
  local h = s.handler_time
  if h then
    family("ctlua_handler_seconds", "histogram", "Time to deliver one event to all its handlers.")
    metrics_lib.histogram_lines(out, "ctlua_handler_seconds", {}, {}, h.le, h.counts, h.sum)
  end
end

function hooks.metrics()
  return metrics:render(builtin_metrics)
end

function hooks.overrun(n)
  call_list(lists.overrun, n)
  schedule_resync()
end

-- finish(): run the stop handlers once, then say what error storms left unsaid.
function hooks.finish()
  if finished then return end
  finished = true
  call_list(lists.stop)
  for _, list in pairs(lists) do
    for _, h in ipairs(list) do
      if (h.unreported or 0) > 0 then summarise(h, ct.now()) end
    end
  end
end

core.hooks(hooks)

return ct
