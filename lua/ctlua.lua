-- ctlua — the Lua runtime: handler registry, dispatch, filters, the public API.
--
-- Loaded by the C core with its primitives table (`core`), which scripts never see.
-- Returns the public module: `require "ctlua"`, also the global `ct`.

local core = ...
local filter = require "ctlua.filter"
local format = require "ctlua.format"

filter.init(core)

local ct = { version = core.version }

-- Netlink group of each event name (NFNLGRP_CONNTRACK_*); 0 = needs no group.
local GROUP = {
  new = 1, update = 2, destroy = 3, ["expect-new"] = 4, ["expect-destroy"] = 6,
  overrun = 0, stop = 0,
}
local CLASS = { new = "conntrack", update = "conntrack", destroy = "conntrack",
                ["expect-new"] = "expect", ["expect-destroy"] = "expect" }

-- name -> array of handler records; replaced, never mutated, so that a handler may
-- register or cancel handlers while the list is being walked.
local lists = {}
for name in pairs(GROUP) do lists[name] = {} end

local started, finished = false, false
local handler_errors, stop_reasons = 0, nil
local errors_by_event = {}
local traceback = debug.traceback

local function groups_mask()
  local mask = 0
  for name, g in pairs(GROUP) do
    if g > 0 and #lists[name] > 0 then mask = mask | (1 << g) end
  end
  return mask
end

local function resubscribe()
  local ok, msg, code = core.subscribe(groups_mask())
  if not ok then return nil, msg, code end
  return true
end

local function where(fn)
  local info = debug.getinfo(fn, "S")
  return info.short_src .. ":" .. (info.linedefined or 0)
end

local function handler_failed(h, err)
  h.errors = h.errors + 1
  handler_errors = handler_errors + 1
  errors_by_event[h.event] = (errors_by_event[h.event] or 0) + 1
  io.stderr:write(string.format("ctlua: error in '%s' handler (%s): %s\n", h.event, h.where,
                                tostring(err)))
  io.stderr:flush()
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

-- Hot path: called by the C core with each event table.
local function dispatch(ev)
  local list = lists[ev.event]
  for i = 1, #list do
    local h = list[i]
    local match = h.match
    if not h.cancelled and (match == nil or match(ev)) then
      local ok, err = xpcall(h.fn, traceback, ev)
      if not ok then handler_failed(h, err) end
    end
  end
end

local Handle = {}
Handle.__index = Handle

-- handle:cancel() -> nothing; the handler is not called again. Safe to call twice.
function Handle:cancel()
  if self.cancelled then return end
  self.cancelled = true
  local old, new = lists[self.event], {}
  for i = 1, #old do if old[i] ~= self then new[#new + 1] = old[i] end end
  lists[self.event] = new
  if started then resubscribe() end
end

--- ct.on(name, [filter,] handler) -> handle
-- name: "new" | "update" | "destroy" | "expect-new" | "expect-destroy" | "overrun" | "stop".
-- filter: a table of field constraints (see README), not allowed for overrun/stop.
function ct.on(name, f, fn)
  if type(name) ~= "string" or not GROUP[name] then
    error(string.format("bad argument #1 to 'on' (unknown event name %s)",
                        type(name) == "string" and "'" .. name .. "'" or type(name)), 2)
  end
  if fn == nil then f, fn = nil, f end
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
  local h = setmetatable({ event = name, fn = fn, match = match, filter = f, errors = 0,
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

--- ct.every(seconds, fn) -> timer;  ct.after(seconds, fn) -> timer
-- fn(timer) runs on the loop; timer:stop() cancels; timers are also to-be-closed.
ct.every = core.every
ct.after = core.after

--- ct.now() -> wall-clock seconds as a float
ct.now = core.now

--- ct.format(ev [, opts]) -> the line conntrack -E (or -E expect) prints for ev
-- opts.timestamp = true: the `-o timestamp` form.
ct.format = format.format

local cjson = require("cjson").new()
cjson.encode_sparse_array(true)
cjson.encode_invalid_numbers("null")
cjson.encode_number_precision(14)

--- ct.json(value) -> one-line JSON text of an event or any plain table
function ct.json(v)
  local ok, res = pcall(cjson.encode, v)
  if not ok then error("bad argument #1 to 'json' (" .. tostring(res) .. ")", 2) end
  return res
end

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
  local mask, names, n = core.groups(), {}, 0
  for name, g in pairs(GROUP) do
    if g > 0 and mask & (1 << g) ~= 0 then names[#names + 1] = name end
    n = n + #lists[name]
  end
  table.sort(names)
  s.groups, s.handlers = names, n
  return s
end

-- Hooks the C core calls: dispatch (hot path), start, overrun, finish.
local hooks = { dispatch = dispatch }

-- start(offline) -> true | nil, message, errno: subscribe to what handlers need.
function hooks.start(offline)
  started = true
  if offline then return true end
  local ok, msg, code = resubscribe()
  if not ok then return nil, msg, code end
  local need_ct = #lists.new + #lists.update + #lists.destroy > 0
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

function hooks.overrun(n)
  call_list(lists.overrun, n)
end

-- finish(): run the stop handlers once.
function hooks.finish()
  if finished then return end
  finished = true
  call_list(lists.stop)
end

core.hooks(hooks)

return ct
