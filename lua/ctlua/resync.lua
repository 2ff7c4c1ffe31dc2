-- ctlua.resync — converge a script's view of the table after lost events.
--
-- While enabled, every conntrack event received updates a set of the entries
-- ctlua believes alive (id -> last event table). A resync dumps the kernel table
-- and delivers the difference as synthetic events marked ev.resync = true:
-- "destroy" for believed entries the kernel no longer has, "new" for kernel
-- entries ctlua never heard of. What conntrackd does with its internal cache
-- after an overrun, but handed to the script as events.

local M = {}

local Tracker = {}
Tracker.__index = Tracker

-- M.new(core) -> tracker
function M.new(core)
  return setmetatable({ core = core, live = {}, tracked = 0, enabled = false,
                        running = false, runs = 0, new = 0, destroy = 0, failed = 0,
                        last = -math.huge }, Tracker)
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
  if self.running then return nil, "a resync is already running", "EBUSY" end
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
    local ok, err = pcall(function()
      for e in it do
        local id = e.id
        seen[id] = true
        if live[id] == nil and interesting(e) then cand[#cand + 1] = e end
      end
    end)
    core.release()
    if not ok then
      self.running, self.failed = false, self.failed + 1
      return nil, tostring(err), "EIO"
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

return M
