-- ctlua.replay — recorded events into the scripts, on a virtual clock.
--
-- Input: conntrack -E / -E expect text (with or without -o timestamp) or ctlua's
-- JSON lines, auto-detected per line. The clock is the recorded one: an event with a
-- `time` moves it forward and first fires every timer due by then, in order, so a
-- 10-second window over an hour of recording takes milliseconds and fires at the
-- same event positions as it would have live. Events without a time leave the clock
-- where it is. Table operations are recorded, not sent to the kernel.

local parse = require("ctlua.parse").parse
local cjson = require("cjson").new()

local M = {}
local budget = function() end   -- starts the time budget of one call (set by init)
function M.init(core) budget = core.arm end

-- Virtual clock and timers -------------------------------------------------------

local clock, started = 0, false
local timers = {}            -- armed timers, unsorted; few enough for a scan
local timer_errors = 0

local Timer = {}
Timer.__index = Timer
function Timer:stop() self.armed = false end
function Timer:active() return self.armed end
Timer.__close = Timer.stop

local function arm(seconds, fn, repeating, fname)
  if type(seconds) ~= "number" or seconds < 0 then
    error("bad argument #1 to '" .. fname .. "' (seconds out of range)", 3)
  end
  if repeating and seconds <= 0 then
    error("bad argument #1 to '" .. fname .. "' (interval must be > 0)", 3)
  end
  if type(fn) ~= "function" then
    error("bad argument #2 to '" .. fname .. "' (function expected, got " .. type(fn) .. ")", 3)
  end
  local t = setmetatable({ due = clock + seconds, interval = repeating and seconds or nil,
                           fn = fn, armed = true }, Timer)
  timers[#timers + 1] = t
  return t
end

function M.every(seconds, fn) return arm(seconds, fn, true, "every") end
function M.after(seconds, fn) return arm(seconds, fn, false, "after") end
function M.now() return clock end
function M.timer_errors() return timer_errors end

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
    local ok, err = xpcall(best.fn, debug.traceback, best)
    if not ok then
      timer_errors = timer_errors + 1
      io.stderr:write("ctlua: timer error: ", tostring(err), "\n")
    end
  end
  if t > clock then clock = t end
end

-- The first timestamp anchors the clock: timers armed before it (at load) move
-- along, keeping their offsets.
local function set_clock(t)
  if not started then
    started = true
    for _, x in ipairs(timers) do x.due = x.due + t end
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
local REPLAYABLE = { new = true, update = true, destroy = true,
                     ["expect-new"] = true, ["expect-destroy"] = true }

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
  local f, err
  if path == "-" then f = io.stdin else f, err = io.open(path, "r") end
  if not f then return nil, err end
  local n, bad, lineno = 0, 0, 0
  for line in f:lines() do
    lineno = lineno + 1
    if stopped() then break end
    if line ~= "" and not line:match("^conntrack v[%d.]+ %(conntrack%-tools%)") then
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

return M
