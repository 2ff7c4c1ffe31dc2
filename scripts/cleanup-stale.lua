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
-- without timestamps an entry is never older than the script's own uptime, and
-- --once finds no entry old enough: the script warns once when that is so.
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

local args = require "ctlua.args"
local USAGE = "usage: ctlua scripts/cleanup-stale.lua -- [--interval S] [--once] [--dry-run] [--unreplied-udp S] [--dead-backend A]... [--mark N]... [--older-than S]"
local opt = args.parse({ ... }, {
  interval = { "number", config.interval }, once = { "flag" }, dry_run = { "flag" },
  unreplied_udp = { "number" }, dead_backend = { "list" }, mark = { "list" },
  older_than = { "number" },
}, USAGE)
for _, k in ipairs { "interval", "unreplied_udp", "older_than" } do
  if opt[k] and opt[k] < 0 then args.fail("option '--" .. k:gsub("_", "-") .. "' needs a number >= 0", USAGE) end
end
config.interval = opt.interval
config.once = opt.once or config.once
config.dry_run = opt.dry_run or config.dry_run
config.unreplied_udp = opt.unreplied_udp or config.unreplied_udp
config.older_than = opt.older_than or config.older_than
for _, a in ipairs(opt.dead_backend) do config.dead_backends[#config.dead_backends + 1] = a end
for _, m in ipairs(opt.mark) do
  local n = math.tointeger(tonumber(m))
  if not n or n < 0 then args.fail("option '--mark' needs an integer >= 0, not '" .. m .. "'", USAGE) end
  config.marks[#config.marks + 1] = n
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
  args.fail("no rule given: --unreplied-udp, --dead-backend, --mark or --older-than", USAGE)
end
local filter = require "ctlua.filter"
for _, r in ipairs(rules) do
  local ok, m = pcall(filter.compile, r.filter, "conntrack")
  if not ok then args.fail("rule " .. r.name .. ": " .. tostring(m):gsub("^bad argument.-%((.*)%)$", "%1"), USAGE) end
  r.match = m or function() return true end
end

-- First-seen times, for age without kernel timestamps. Entries that vanish are
-- forgotten at the next sweep, so the map is bounded by the table's size.
local first_seen = {}
local started = ct.now()
if not config.once then
  ct.on("new", function(e) if e.id then first_seen[e.id] = e.time end end)
end

-- Without kernel timestamps an age rule only sees what this script has watched
-- grow old: said once, as flowlog.lua says it, since --once then finds nothing.
local warned = false
local function age(e, now)
  if e.start then return now - e.start end
  if not warned then
    warned = true
    ct.log.warn("cleanup-stale: timestamps are off: an entry's age counts from when this script first saw it%s" ..
      " (set net.netfilter.nf_conntrack_timestamp=1; entries made after that have one)",
      config.once and ", so a single sweep (--once) finds none old enough" or "")
  end
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
  ct.after(0, function() sweep() ct.stop() end)   -- on the loop: nothing runs under --check
else
  ct.every(config.interval, sweep)
  ct.after(0, sweep)
end
