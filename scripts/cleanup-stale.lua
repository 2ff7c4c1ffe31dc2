-- cleanup-stale.lua — sweep stale conntrack entries away, periodically.
--
--   ctlua scripts/cleanup-stale.lua -- [options]
--     --interval S        seconds between sweeps (default 30)
--     --once              one sweep, then exit (cron, tests)
--     --dry-run           print what would be deleted, delete nothing
--     --unreplied-udp S   UDP entries still [UNREPLIED] after S seconds
--     --dead-backend A    entries to or DNATed to address A (repeatable; CIDR ok)
--     --mark N            entries with mark N (repeatable)
--     --older-than S      entries older than S seconds
--
-- Age comes from the kernel's start timestamp when nf_conntrack_timestamp=1, else
-- from when this script first saw the entry (a NEW event or an earlier sweep), so
-- without timestamps an entry is never older than the script's own uptime.
-- Every deletion is logged as conntrack would print the entry; one summary line
-- per sweep. The rules can also be set in the `config` table below.
local ct = require "ctlua"

local config = {
  interval = 30,
  once = false,
  dry_run = false,
  unreplied_udp = nil,   -- seconds
  dead_backends = {},    -- addresses or CIDR prefixes
  marks = {},            -- integers
  older_than = nil,      -- seconds
}

local args = { ... }
local i = 1
local function value(name)
  i = i + 1
  local v = args[i]
  if v == nil then error("cleanup-stale.lua: " .. name .. " needs a value", 0) end
  return v
end
local function number(name)
  local v = tonumber(value(name))
  if not v or v < 0 then error("cleanup-stale.lua: " .. name .. " needs a number >= 0", 0) end
  return v
end
while i <= #args do
  local a = args[i]
  if a == "--interval" then config.interval = number(a)
  elseif a == "--once" then config.once = true
  elseif a == "--dry-run" then config.dry_run = true
  elseif a == "--unreplied-udp" then config.unreplied_udp = number(a)
  elseif a == "--dead-backend" then config.dead_backends[#config.dead_backends + 1] = value(a)
  elseif a == "--mark" then config.marks[#config.marks + 1] = math.tointeger(number(a))
  elseif a == "--older-than" then config.older_than = number(a)
  else error("cleanup-stale.lua: unknown option '" .. a .. "'", 0) end
  i = i + 1
end

-- Rules as filters: each one a filter table plus an optional minimum age.
local rules = {}
if config.unreplied_udp then
  rules[#rules + 1] = { name = "unreplied-udp", filter = { proto = "udp", status = { seen_reply = false } },
                        age = config.unreplied_udp }
end
if #config.dead_backends > 0 then
  rules[#rules + 1] = { name = "dead-backend", filter = { dst = config.dead_backends } }
  rules[#rules + 1] = { name = "dead-backend", filter = { reply = { src = config.dead_backends } } }
end
if #config.marks > 0 then
  rules[#rules + 1] = { name = "mark", filter = { mark = config.marks } }
end
if config.older_than then
  rules[#rules + 1] = { name = "older-than", filter = {}, age = config.older_than }
end
if #rules == 0 then
  error("cleanup-stale.lua: no rule given (see the options at the top of the script)", 0)
end
local filter = require "ctlua.filter"
for _, r in ipairs(rules) do
  local ok, m = pcall(filter.compile, r.filter, "conntrack")
  if not ok then error("cleanup-stale.lua: rule " .. r.name .. ": " .. m, 0) end
  r.match = m or function() return true end
end

-- First-seen times, for age without kernel timestamps. Entries that vanish are
-- forgotten at the next sweep, so the map is bounded by the table's size.
local first_seen = {}
local started = ct.now()
if not config.once then
  ct.on("new", function(e) if e.id then first_seen[e.id] = e.time end end)
end

local function age(e, now)
  if e.start then return now - e.start end
  return now - (first_seen[e.id] or started)
end

local function sweep()
  local now = ct.now()
  local stale, checked, alive = {}, 0, {}
  for e in ct.entries() do
    checked = checked + 1
    if e.id then
      alive[e.id] = true
      first_seen[e.id] = first_seen[e.id] or now
    end
    for _, r in ipairs(rules) do
      if r.match(e) and (not r.age or age(e, now) >= r.age) then
        stale[#stale + 1] = e
        print((config.dry_run and "would delete (" or "delete (") .. r.name .. ") " .. ct.format(e))
        break
      end
    end
  end
  for id in pairs(first_seen) do if not alive[id] then first_seen[id] = nil end end
  local deleted, gone, failed, err = 0, 0, 0, nil
  if not config.dry_run and #stale > 0 then
    deleted, gone, failed, err = ct.delete(stale)
  end
  print(string.format("sweep: %d checked, %d stale, %d deleted, %d already gone, %d failed%s%s",
    checked, #stale, deleted, gone, failed, config.dry_run and " (dry run)" or "",
    err and (": " .. err) or ""))
  io.stdout:flush()
end

if config.once then
  sweep()
  ct.stop()
else
  ct.every(config.interval, sweep)
  ct.after(0, sweep)
end
