-- ctlua.handlers — the handler registry and event dispatch.
--
-- Holds: the event names (EVENTS, one record each), ct.on and its handles, the
-- hot-path dispatch the C core calls with every event, error storms, and what
-- the registry asks of the kernel: netlink groups, the kernel event filter
-- (ctlua.kfilter) and which kinds the C core hands to Lua (core.lua_kinds).
-- Needs env.tracker (ctlua.resync) at init: tracking widens the subscription.

local filter = require "ctlua.filter"
local kfilter = require "ctlua.kfilter"
local sinks = require "ctlua.sink"
local err = require "ctlua.err"

local M = {}

-- Every name ct.on takes, the kernel's events first in the order of their kind
-- numbers (src/route.c, core.lua_kinds). group: NFNLGRP_CONNTRACK_*; class: the
-- filter and field set of its events; kernel: delivered from netlink.
M.EVENTS = {
  { name = "new",            group = 1, class = "conntrack", kernel = true },
  { name = "update",         group = 2, class = "conntrack", kernel = true },
  { name = "destroy",        group = 3, class = "conntrack", kernel = true },
  { name = "expect-new",     group = 4, class = "expect",    kernel = true },
  { name = "expect-destroy", group = 6, class = "expect",    kernel = true },
  { name = "overrun", group = 0 },
  { name = "resync",  group = 0 },
  { name = "reload",  group = 0 },
  { name = "stop",    group = 0 },
}
-- Derived: name -> record (with kind = its bit number for kernel events), the
-- kernel event names in kind order, every name in order.
local EVENT, KERNEL, NAMES = {}, {}, {}
for i, e in ipairs(M.EVENTS) do
  EVENT[e.name] = e
  NAMES[i] = e.name
  if e.kernel then KERNEL[#KERNEL + 1] = e.name; e.kind = #KERNEL - 1 end
end
M.EVENT, M.KERNEL_NAMES, M.NAMES = EVENT, KERNEL, NAMES

local core, now, tracker

-- name -> array of handler records; replaced, never mutated, so that a handler may
-- register or cancel handlers while the list is being walked.
local lists = {}
-- name -> array of sink handlers: ct.on(name, sink) without a filter. The C core
-- formats and writes their events itself (src/route.c); events that reach Lua
-- some other way (replay, resync) are written here.
local routes = {}
for _, name in ipairs(NAMES) do lists[name], routes[name] = {}, {} end

local started, finished = false, false
local handler_errors = 0
local errors_by_event = {}
local kernel_spec
local traceback = debug.traceback
local xpcall = xpcall      -- the hot path reads it as an upvalue, not a global

--- M.init(env): env.core, env.now (the clock error storms count on), env.tracker
function M.init(env)
  core, now, tracker = env.core, env.now, env.tracker
end

local function groups_mask()
  local mask = 0
  for _, e in ipairs(M.EVENTS) do
    if e.group > 0 and #lists[e.name] + #routes[e.name] > 0 then mask = mask | (1 << e.group) end
  end
  -- Tracking needs both ends of every entry's life, whatever the handlers take.
  if tracker.enabled and #lists.new + #lists.update + #lists.destroy +
                         #routes.new + #routes.update + #routes.destroy > 0 then
    mask = mask | (1 << EVENT.new.group) | (1 << EVENT.destroy.group)
  end
  return mask
end

-- The kernel-side event filter for the handlers now registered (see ctlua.kfilter).
local function refilter()
  if not core.use_kernel_filter then return end
  local hs = {}
  for _, name in ipairs { "new", "update", "destroy" } do
    for _, h in ipairs(lists[name]) do hs[#hs + 1] = h end
  end
  local spec = kfilter.spec(hs)
  local ok, msg = core.kernel_filter(spec)
  if not ok then
    -- Not fatal: every event then reaches the Lua filters, which decide anyway.
    io.stderr:write("ctlua: kernel event filter not applied: ", tostring(msg), "\n")
    spec = nil
  end
  kernel_spec = spec
end

--- M.lua_kinds(): tells the C core which event kinds to hand to Lua at all: those
-- with Lua handlers, and every conntrack kind while the resync tracker keeps its view.
function M.lua_kinds()
  local mask = 0
  for _, name in ipairs(KERNEL) do
    local e = EVENT[name]
    if #lists[name] > 0 or (tracker.enabled and e.class == "conntrack") then
      mask = mask | (1 << e.kind)
    end
  end
  core.lua_kinds(mask)
end
local lua_kinds = M.lua_kinds

--- M.resubscribe() -> true | nil, message, errno: filter, kinds and groups anew
function M.resubscribe()
  refilter()
  lua_kinds()
  return core.subscribe(groups_mask())
end
local resubscribe = M.resubscribe

--- M.started() -> whether the loop has started (changes then resubscribe at once)
function M.started() return started end
--- M.begin(): the loop starts (live, or a replay feeding events)
function M.begin() started = true end

local function where(fn)
  local info = debug.getinfo(fn, "S")
  return info.short_src .. ":" .. (info.linedefined or 0)
end

-- Error storms: the first FULL errors of a handler are printed whole, then one
-- summary line per handler every SUMMARY seconds (and a last one at stop); every
-- error is counted.
local FULL, SUMMARY = 5, 10
local function summarise(h, t)
  io.stderr:write(string.format("ctlua: '%s' handler (%s) failed %d more times in %.0f s, last: %s\n",
                                h.event, h.where, h.unreported, t - h.quiet_since,
                                (tostring(h.last_error):match("^[^\n]*"))))
  h.quiet_since, h.unreported = t, 0
end
local function handler_failed(h, e)
  h.errors = h.errors + 1
  handler_errors = handler_errors + 1
  errors_by_event[h.event] = (errors_by_event[h.event] or 0) + 1
  local out = io.stderr
  if h.errors <= FULL then
    out:write(string.format("ctlua: error in '%s' handler (%s): %s\n", h.event, h.where, tostring(e)))
    if h.errors == FULL then
      out:write(string.format("ctlua: '%s' handler (%s): further errors are summarised every %d s\n",
                              h.event, h.where, SUMMARY))
    end
  else
    local t = now()      -- the recorded clock during replay
    h.quiet_since = h.quiet_since or t
    h.unreported = (h.unreported or 0) + 1
    h.last_error = e
    if t - h.quiet_since >= SUMMARY then summarise(h, t) end
  end
  out:flush()
end

--- M.notify(name, ...): calls every handler of a non-kernel event (overrun,
-- resync, reload, stop) with the arguments, each protected.
function M.notify(name, ...)
  local list = lists[name]
  for i = 1, #list do
    local h = list[i]
    if not h.cancelled then
      local ok, e = xpcall(h.fn, traceback, ...)
      if not ok then handler_failed(h, e) end
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

--- M.dispatch_live(ev): an event from the C core; its sink handlers have been
-- served there.
function M.dispatch_live(ev)
  if tracker.enabled and ev.id ~= nil then tracker:track(ev) end
  local list = lists[ev.event]
  local n = #list
  local from = 1
  while from <= n do
    local ok, e = xpcall(run, traceback, list, from, ev)
    if ok then return end
    handler_failed(list[current], e)
    from = current + 1
  end
end
local dispatch_live = M.dispatch_live

--- M.dispatch(ev): an event made in Lua (replay, resync): sink handlers too.
function M.dispatch(ev)
  local rs = routes[ev.event]
  for i = 1, #rs do
    local ok, e = pcall(rs[i].sink.write, rs[i].sink, ev)
    if not ok then handler_failed(rs[i], e) end
  end
  dispatch_live(ev)
end

--- M.interesting(e) -> whether some conntrack handler would take entry e (a
-- resync delivers nothing else).
function M.interesting(e)
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
-- event names. handler: a function, or a sink (ct.sink) for event names.
function M.on(name, f, fn)
  local e = type(name) == "string" and EVENT[name] or nil
  if not e then
    err.argerror(2, 1, "on", "unknown event name %s",
                 type(name) == "string" and "'" .. name .. "'" or type(name))
  end
  if fn == nil then f, fn = nil, f end
  local sink = sinks.is_sink(fn) and fn or nil
  if sink and not e.class then
    err.argerror(2, f == nil and 2 or 3, "on", "'%s' handlers take a function, not a sink", name)
  end
  if sink and f ~= nil then
    -- A filter needs the event table: the sink is written from Lua, after the
    -- same match as any handler.
    fn = function(ev) sink:write(ev) end
  elseif sink then
    local h = setmetatable({ event = name, sink = sink, errors = 0, where = "sink " .. sink.name }, Handle)
    local out = sink.output or sink.handle   -- a C writer: a file output or a socket sink
    if out then
      h.route = core.route(1 << e.kind, out, sink.format == "json", sink.text_bits)
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
    err.argerror(2, f == nil and 2 or 3, "on", "function expected, got %s", type(fn))
  end
  local match
  if f ~= nil then
    if not e.class then
      err.argerror(2, 2, "on", "'%s' handlers take no filter", name)
    end
    local ok, res = pcall(filter.compile, f, e.class)
    if not ok then err.argerror(2, 2, "on", tostring(res)) end
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
  if started and e.group > 0 then
    local ok, msg = resubscribe()
    if not ok then error("cannot subscribe to conntrack events: " .. msg, 2) end
  end
  return h
end

-- The empty-table hint: the count of our own namespace's table, and the timer
-- that looks again after QUIET_S seconds.
local QUIET_S = 5
local quiet_check
local function table_count()
  local f = io.open("/proc/sys/net/netfilter/nf_conntrack_count")
  local count = f and tonumber(f:read("l")) or 0
  if f then f:close() end
  return count
end

--- M.start(offline, reloading) -> true | nil, message, errno: subscribe to what
-- handlers need (offline: recorded messages, no socket, the same routing).
function M.start(offline, reloading)
  started = true
  if offline then lua_kinds() return true end
  local ok, msg, code = resubscribe()
  if not ok then return nil, msg, code end
  if reloading then return true end
  -- The empty-table hint reads our own namespace's count: only when it is watched.
  local watched, tagged = core.netns()
  local own = not tagged
  for _, n in ipairs(watched) do if n == "self" then own = true end end
  local need_ct = own and #lists.new + #lists.update + #lists.destroy +
                   #routes.new + #routes.update + #routes.destroy > 0
  if need_ct and table_count() == 0 then
    -- True at once: the table is empty. Whether anything is tracked at all only
    -- silence tells (a rule using conntrack may be loaded, with no traffic yet).
    io.stderr:write("ctlua: the conntrack table is empty for now: events come once connections are tracked\n")
    quiet_check = core.after(QUIET_S, function()
      local ev = core.stats().events
      if table_count() == 0 and (ev.new or 0) + (ev.update or 0) + (ev.destroy or 0) == 0 then
        io.stderr:write(string.format("ctlua: no conntrack event in %d s and the table is still empty: nothing may be tracked in this network namespace.\n", QUIET_S),
          "ctlua: to track connections, add a rule that uses conntrack, e.g.: nft 'add table inet ctlua; add chain inet ctlua out { type filter hook output priority 0; }; add rule inet ctlua out ct state new counter; add chain inet ctlua pre { type filter hook prerouting priority 0; }; add rule inet ctlua pre ct state new counter'\n")
      end
    end)
  end
  return true
end

--- M.reload() -> the handover table the "reload" handlers filled
function M.reload()
  local saved = {}
  M.notify("reload", saved)
  return saved
end

--- M.stats(s): adds the registry's part of ct.stats() to s: handler_errors,
-- errors = {event = n}, handler_errors_by_handler, groups, handlers, kernel_filter.
function M.stats(s)
  s.handler_errors = handler_errors
  s.errors = {}
  for k, v in pairs(errors_by_event) do s.errors[k] = v end
  s.handler_errors_by_handler = {}
  for _, name in ipairs(NAMES) do
    for _, h in ipairs(lists[name]) do
      if h.errors > 0 then s.handler_errors_by_handler[name .. " " .. h.where] = h.errors end
    end
  end
  local mask, names, n = core.groups(), {}, 0
  for _, e in ipairs(M.EVENTS) do
    if e.group > 0 and mask & (1 << e.group) ~= 0 then names[#names + 1] = e.name end
    n = n + #lists[e.name] + #routes[e.name]
  end
  table.sort(names)
  s.groups, s.handlers = setmetatable(names, { __jsontype = "array" }), n   -- [] when none (ct.array)
  local kf = {}
  for k, v in pairs(kernel_spec or {}) do kf[k] = #v end
  s.kernel_filter = kernel_spec and kf or false   -- attribute -> number of values
end

--- M.finish(): runs the stop handlers once, then says what error storms left unsaid.
function M.finish()
  if finished then return end
  finished = true
  M.notify("stop")
  for _, name in ipairs(NAMES) do
    for _, h in ipairs(lists[name]) do
      if (h.unreported or 0) > 0 then summarise(h, now()) end
    end
  end
end

return M
