-- ctlua.replay — recorded events into the scripts, on a virtual clock.
--
-- Input: conntrack -E / -E expect text in any of its -o forms (default, extended,
-- timestamp, id, ktimestamp, labels, userspace, xml) or ctlua's JSON lines,
-- auto-detected per line; a file that holds no event at all is an error. The clock is the recorded one: an event with a
-- `time` moves it forward and first fires every timer due by then, in order, so a
-- 10-second window over an hour of recording takes milliseconds and fires at the
-- same event positions as it would have live. Events without a time leave the clock
-- where it is. Table operations are recorded, not sent to the kernel: M.record
-- wraps ctlua.table's operations, and ctlua.lua installs the wrapped ones.
-- Loaded only with --replay; M.init(env) before the modules that read env.now.

local parse = require("ctlua.parse").parse
local handlers = require "ctlua.handlers"
local err = require "ctlua.err"
local cjson = require("cjson").new()

local M = {}
local budget = function() end   -- starts the time budget of one call (set by init)
local recorded, replayed = {}, {}   -- table operations recorded, events fed

-- Until the recording gives a time the clock reads when the replay began (a
-- recording without times is stamped then, not in 1970).
local clock, started = 0, false

--- M.init(env): env.core; sets env.replay (this module) and env.now (its clock)
function M.init(env)
  budget = env.core.arm
  clock = env.core.now()
  env.replay, env.now = M, M.now
end

-- Virtual clock and timers -------------------------------------------------------

local timers = {}            -- armed timers, unsorted; few enough for a scan
local timer_errors = 0

local Timer = {}
Timer.__index = Timer
function Timer:stop() self.armed = false end
function Timer:active() return self.armed end
Timer.__close = Timer.stop

local function arm(seconds, fn, repeating, fname)
  if type(seconds) ~= "number" or seconds < 0 then
    err.argerror(3, 1, fname, "seconds out of range")
  end
  if repeating and seconds <= 0 then
    err.argerror(3, 1, fname, "interval must be > 0")
  end
  if type(fn) ~= "function" then
    err.argerror(3, 2, fname, "function expected, got %s", type(fn))
  end
  local t = setmetatable({ due = clock + seconds, interval = repeating and seconds or nil,
                           fn = fn, armed = true }, Timer)
  timers[#timers + 1] = t
  return t
end

function M.every(seconds, fn) return arm(seconds, fn, true, "every") end
function M.after(seconds, fn) return arm(seconds, fn, false, "after") end
function M.now() return clock end

-- Fires every timer due at or before t, earliest first; the clock then reads t.
local function advance(t)
  while true do
    local best, bi = nil, nil
    local i = 1
    while i <= #timers do
      local x = timers[i]
      if not x.armed then
        table.remove(timers, i)
      else
        if x.due <= t and (not best or x.due < best.due) then best, bi = x, i end
        i = i + 1
      end
    end
    if not best then break end
    clock = best.due
    if best.interval then best.due = best.due + best.interval else best.armed = false end
    budget()
    local ok, e = xpcall(best.fn, debug.traceback, best)
    if not ok then
      timer_errors = timer_errors + 1
      io.stderr:write("ctlua: timer error: ", tostring(e), "\n")
    end
  end
  if t > clock then clock = t end
end

-- The first timestamp anchors the clock: timers armed before it (at load) move
-- along, keeping their offsets.
local function set_clock(t)
  if not started then
    started = true
    for _, x in ipairs(timers) do x.due = x.due - clock + t end
    clock = t
    return
  end
  if t >= clock then advance(t) end
end

-- Input --------------------------------------------------------------------------

-- cjson decodes every number as a float; integers go back to integers.
local function integers(v)
  for k, x in pairs(v) do
    if type(x) == "table" then integers(x)
    elseif math.type(x) == "float" and x == math.floor(x) and k ~= "time" and k ~= "start" and k ~= "stop" then
      v[k] = math.tointeger(x)
    end
  end
  return v
end

-- Only these are events; a recorded "stop", "reload" or "overrun" is not (the
-- replay's own end runs the stop handlers, once).
local REPLAYABLE = {}
for _, name in ipairs(handlers.KERNEL_NAMES) do REPLAYABLE[name] = true end

-- ev, or nil and why the line is not an event.
local function decode(line)
  local ev, why
  if line:sub(1, 1) == "{" then
    local ok, v = pcall(cjson.decode, line)
    if not ok or type(v) ~= "table" then return nil, "bad JSON" end
    ev = integers(v)
  else
    ev, why = parse(line)
    if not ev then return nil, why end
  end
  local kind, t = ev.event, ev.time
  if kind == nil then return nil, "no event kind" end
  if not REPLAYABLE[kind] then
    return nil, "unknown event kind " .. (type(kind) == "string" and "'" .. kind .. "'" or type(kind))
  end
  -- the clock only moves on finite numbers (an infinite one would spin the timers)
  if t ~= nil and (math.type(t) == nil or t ~= t or t == math.huge or t == -math.huge) then
    return nil, "bad time"
  end
  return ev
end

--- run(path, dispatch, stopped, strict) -> events, errors | nil, message
-- Feeds every line of path ("-" = stdin) to dispatch(ev) in order. A line that is
-- not an event is warned about with its number and skipped; strict makes it fatal.
function M.run(path, dispatch, stopped, strict)
  local f, msg
  if path == "-" then f = io.stdin else f, msg = io.open(path, "r") end
  -- io.open names the path; the caller does too ("cannot replay PATH: ...")
  if not f then return nil, (msg:sub(1, #path + 2) == path .. ": " and msg:sub(#path + 3) or msg) end
  local n, bad, lineno = 0, 0, 0
  for line in f:lines() do
    lineno = lineno + 1
    if stopped() then break end
    -- not events: conntrack's closing summary, -o xml's head and tail
    if line ~= "" and not line:match("^conntrack v[%d.]+ %(conntrack%-tools%)")
       and not line:match("^<%?xml ") and not line:match("^</?conntrack>$") and not line:match("^</?expect>$") then
      -- protected: a script that filled its memory cap must not end the replay
      local okd, ev, why = pcall(decode, line)
      if not okd then ev, why = nil, tostring(ev) end
      if ev then
        if ev.time then set_clock(ev.time) end
        if stopped() then break end
        n = n + 1
        budget()
        dispatch(ev)
      else
        bad = bad + 1
        local msg = string.format("%s:%d: not an event (%s)", path, lineno, why or "no event kind")
        if strict then
          if f ~= io.stdin then f:close() end
          return nil, msg
        end
        if bad <= 20 then
          io.stderr:write("ctlua: warning: ", msg, bad == 20 and " (no more warnings)" or "", "\n")
        end
      end
    end
  end
  if f ~= io.stdin then f:close() end
  return n, bad
end

--- M.feed(path, dispatch, stopped, strict) -> true | nil, message
-- M.run, counting what it fed for ct.stats(). A file without a single event is
-- an error (a wrong file or a wrong format), unless the run was stopped.
function M.feed(path, dispatch, stopped, strict)
  local n, bad = M.run(path, function(ev)
    replayed[ev.event] = (replayed[ev.event] or 0) + 1
    dispatch(ev)
  end, stopped, strict)
  if not n then return nil, bad end
  if n == 0 and not stopped() then
    return nil, bad > 0 and string.format("no event in it (%d line%s not events)", bad, bad == 1 and "" or "s")
      or "no event in it"
  end
  replayed.skipped = bad
  return true
end

-- Table operations ----------------------------------------------------------------

--- M.record(ops) -> the operations as a replay runs them: each call counted (in
-- ct.stats().recorded), none sent; lookups find nothing, changes succeed.
-- ops: ctlua.table; what is not replaced (watch, unwatch, namespaces,
-- expect.entries) passes through and checks the mode itself.
function M.record(ops)
  local function recorder(name, result)
    return function(...)
      recorded[name] = (recorded[name] or 0) + 1
      if result == "list" then return {} end
      if result == "none" then return err.fail("No such file or directory", "ENOENT") end
      if result == "many" then
        local t = ...
        return type(t) == "table" and #t or 0, 0, 0, nil
      end
      return true
    end
  end
  local r, x = {}, {}
  for k, v in pairs(ops) do r[k] = v end
  for k, v in pairs(ops.expect) do x[k] = v end
  r.expect = x
  r.get, r.create, r.update, r.flush = recorder("get", "none"), recorder("create"),
    recorder("update"), recorder("flush")
  local del, delmany = recorder("delete"), recorder("delete", "many")
  r.delete = function(t)
    if type(t) == "table" and rawget(t, 1) ~= nil then return delmany(t) end
    return del(t)
  end
  r.list = recorder("list", "list")
  r.entries = function() recorded.list = (recorded.list or 0) + 1 return function() end end
  r.count = function() recorded.count = (recorded.count or 0) + 1 return 0 end
  x.get, x.create, x.delete, x.flush = recorder("expect.get", "none"), recorder("expect.create"),
    recorder("expect.delete"), recorder("expect.flush")
  x.list = recorder("expect.list", "list")
  return r
end

--- M.record_nft(nft) -> ct.nft whose commands are counted (recorded["nft.add"]...), never run
function M.record_nft(nft)
  local r = {}
  for name in pairs(nft) do
    local key = "nft." .. name
    r[name] = function()
      recorded[key] = (recorded[key] or 0) + 1
      if name == "run" then return "" end
      return true
    end
  end
  return r
end

--- M.stats(s): the replay's part of ct.stats(): events fed (instead of received),
-- skipped_lines, timer_errors (the virtual clock's), recorded = {operation = n}.
function M.stats(s)
  for _, k in ipairs(handlers.KERNEL_NAMES) do
    s.events[k] = replayed[k] or 0
  end
  s.skipped_lines = replayed.skipped or 0
  s.timer_errors = timer_errors
  s.recorded = {}
  for k, v in pairs(recorded) do s.recorded[k] = v end
end

return M
