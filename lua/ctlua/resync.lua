-- ctlua.resync — converge a script's view of the table after lost events.
--
-- While enabled, every conntrack event received updates a set of the entries
-- ctlua believes alive (id -> last event table). A resync dumps the kernel table
-- and delivers the difference as synthetic events marked ev.resync = true:
-- "destroy" for believed entries the kernel no longer has, "new" for kernel
-- entries ctlua never heard of. What conntrackd does with its internal cache
-- after an overrun, but handed to the script as events.
--
-- Holds the tracker (M.init puts it in env.tracker for ctlua.handlers, whose
-- dispatch feeds it), ct.resync, and the resyncs scheduled after overruns.

local handlers = require "ctlua.handlers"
local err = require "ctlua.err"

local M = {}

local core, replay, mode
local tracker

local Tracker = {}
Tracker.__index = Tracker

local function new_tracker(c)
  return setmetatable({ core = c, live = {}, tracked = 0, enabled = false,
                        running = false, runs = 0, new = 0, destroy = 0, failed = 0,
                        last = -math.huge }, Tracker)
end

--- M.init(env): env.core, env.mode, env.replay; sets env.tracker. Tracking is on
-- from the start with --resync, live only.
function M.init(env)
  core, mode, replay = env.core, env.mode, env.replay
  tracker = new_tracker(core)
  tracker.enabled = core.resync and mode == "live" or false
  env.tracker = tracker
end

-- The live set of one namespace (ids are per namespace): false = no --netns.
local function set_of(self, ns)
  local live = self.live[ns]
  if not live then live = {}; self.live[ns] = live end
  return live
end

-- tracker:track(ev): one received conntrack event (hot path while enabled).
function Tracker:track(ev)
  local id = ev.id
  if id == nil then return end
  local live = self.live[ev.netns or false] or set_of(self, ev.netns or false)
  if ev.event == "destroy" then
    if live[id] ~= nil then
      live[id] = nil
      self.tracked = self.tracked - 1
    end
  else
    if live[id] == nil then self.tracked = self.tracked + 1 end
    live[id] = ev
  end
end

-- tracker:run(deliver, interesting, now) -> new, destroyed | nil, message, code
-- deliver(ev) dispatches (and so tracks) one synthetic event; interesting(entry)
-- says whether some conntrack handler would take it, so that entries no handler
-- wants are neither delivered nor remembered. Afterwards self.partial says that
-- the read-ahead stopped at its cap, so convergence needs another run.
function Tracker:run(deliver, interesting, now, namespaces)
  if self.running then return err.fail("a resync is already running", "EBUSY") end
  self.running, self.last = true, now
  local core = self.core
  local fresh, gone = {}, {}
  -- One dump per namespace watched, each diffed against that namespace's set.
  -- The events queued on the event socket when the dump starts are older than it:
  -- core.hold reads them ahead and core.release delivers them (tracking them) once
  -- the dump is read, so that the diff is taken against a set that includes them.
  -- Applied after the diff instead, a NEW whose DESTROY was lost in the overrun
  -- would bring back an entry the dump proved gone, and nothing would remove it.
  self.partial = false
  for _, ns in ipairs(namespaces or { false }) do
    core.arm()
    local _, complete = core.hold(ns or nil)
    if not complete then self.partial = true end
    core.use_netns(ns or nil)
    local it, msg, code = core.dump("ct")
    if not it then
      core.release()
      self.running, self.failed = false, self.failed + 1
      return nil, msg, code
    end
    local seen, cand = {}, {}
    local live = set_of(self, ns)
    local ok, perr = pcall(function()
      for e in it do
        local id = e.id
        seen[id] = true
        if live[id] == nil and interesting(e) then cand[#cand + 1] = e end
      end
    end)
    core.release()
    if not ok then
      self.running, self.failed = false, self.failed + 1
      return err.fail(tostring(perr), "EIO")
    end
    -- A held NEW may have made a candidate live already.
    for i = 1, #cand do
      if live[cand[i].id] == nil then fresh[#fresh + 1] = cand[i] end
    end
    local lost = {}
    for id, ev in pairs(live) do
      if not seen[id] then lost[#lost + 1] = ev end
    end
    table.sort(lost, function(a, b) return a.id < b.id end)
    for i = 1, #lost do gone[#gone + 1] = lost[i] end
  end
  core.use_netns(nil)
  self.runs = self.runs + 1
  -- Each synthetic event gets the whole handler budget, like a received one; a
  -- handler error is the dispatcher's business, the resync goes on.
  for i = 1, #gone do
    local ev = {}
    for k, v in pairs(gone[i]) do ev[k] = v end
    ev.event, ev.resync, ev.time = "destroy", true, now
    core.arm()
    deliver(ev)
  end
  for i = 1, #fresh do
    local ev = fresh[i]
    ev.event, ev.resync, ev.time = "new", true, now
    core.arm()
    deliver(ev)
  end
  self.new, self.destroy = self.new + #fresh, self.destroy + #gone
  self.running = false
  return #fresh, #gone
end

-- tracker:stats() -> { runs, new, destroy, failed, tracked }
function Tracker:stats()
  return { runs = self.runs, new = self.new, destroy = self.destroy, failed = self.failed,
           tracked = self.tracked }
end

-- The runtime's side ------------------------------------------------------------

local RESYNC_GAP = 1      -- seconds between two resyncs after overruns, at least
local resync_timer, schedule

local function resync_now()
  local watched, tagged = core.netns()
  local n, gone, code = tracker:run(handlers.dispatch, handlers.interesting, core.now(),
                                    tagged and watched or nil)
  if n then handlers.notify("resync", { new = n, destroy = gone, tracked = tracker.tracked }) end
  if tracker.partial then schedule() end   -- the read-ahead hit its cap
  return n, gone, code
end

--- M.schedule(): after an overrun, one resync, RESYNC_GAP after the previous one
-- at the soonest, so that a storm of overruns costs one dump a second, not one
-- per overrun. Nothing while tracking is off.
function M.schedule()
  if resync_timer or not tracker.enabled then return end
  local wait = math.max(0, tracker.last + RESYNC_GAP - core.now())
  resync_timer = core.after(wait, function()
    resync_timer = nil
    local ok, msg = resync_now()
    if not ok then
      io.stderr:write("ctlua: resync failed: ", tostring(msg), "\n")
      schedule()
    end
  end)
end
schedule = M.schedule

--- ct.resync([enable]) -> new, destroyed | nil, message, code  (no argument)
--- ct.resync(true|false) -> nothing                              (on or off)
-- With a boolean: track live entries and resync after each overrun (as --resync),
-- or stop. With no argument: turn tracking on and resync now: entries the kernel
-- has and ctlua never saw come as "new" events, entries ctlua saw that are gone
-- as "destroy" events, all with ev.resync = true. The first call so delivers the
-- whole table. Then "resync" handlers get {new=, destroy=, tracked=}.
function M.resync(enable)
  if enable ~= nil and type(enable) ~= "boolean" then
    err.argerror(2, 1, "resync", "boolean expected, got %s", type(enable))
  end
  if replay or mode ~= "live" then
    if enable == nil then return 0, 0 end
    return
  end
  local started = handlers.started()
  if enable == false then
    tracker.enabled, tracker.live, tracker.tracked = false, {}, 0   -- live: netns -> id -> ev
  else
    local was = tracker.enabled
    tracker.enabled = true
    if started and not was then handlers.resubscribe() end
  end
  if started then handlers.lua_kinds() end
  if enable == nil then return resync_now() end
end

--- M.stats() -> { runs, new, destroy, failed, tracked, enabled }: ct.stats().resync
function M.stats()
  local s = tracker:stats()
  s.enabled = tracker.enabled
  return s
end

return M
