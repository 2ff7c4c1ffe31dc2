-- top.lua — a live view of the conntrack table's activity, refreshed every second:
-- events/s by type, top sources, destinations and destination ports, states, table
-- size. Redraws the screen on a terminal, prints plain blocks otherwise.
--
--   ctlua scripts/top.lua -- [--interval S] [--top N] [--count N]
--     --interval S  seconds between refreshes (default 1)
--     --top N       rows per list (default 5)
--     --count N     stop after N refreshes (default: run until interrupted)
--
-- Example output:
--   ctlua top  events/s: new 12.0  update 30.0  destroy 11.0  expect 0.0   table 1532
--   sources              destinations         dports     states
--   10.0.0.5        41   192.0.2.1       30   443   25   ESTABLISHED  20 ...
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/top.lua -- [--interval S] [--top N] [--count N]"
local opt = require("ctlua.args").parse({ ... }, {
  interval = { "number", 1 }, top = { "number", 5 }, count = { "number" },
}, USAGE)
local N = math.tointeger(opt.top) or 5

local n = { new = 0, update = 0, destroy = 0, expect = 0 }
local src, dst, dport, states = ct.top { size = N }, ct.top { size = N }, ct.top { size = N }, ct.top { size = N }
local tty = os.getenv("TERM") ~= nil and io.stdout.setvbuf and os.execute("test -t 1") == true

local function count(ev)
  n[ev.event] = n[ev.event] + 1
  local o = ev.orig or {}
  src:add(o.src or "?"); dst:add(o.dst or "?")
  if o.dport then dport:add(ev.proto .. "/" .. o.dport) end
  if ev.state then states:add(ev.state) end
end
ct.on("new", count)
ct.on("update", count)
ct.on("destroy", count)
ct.on("expect-new", function() n.expect = n.expect + 1 end)

local refreshes = 0
local function draw()
  local iv = opt.interval
  local size = ct.count() or 0
  local lines = {
    string.format("ctlua top  events/s: new %.1f  update %.1f  destroy %.1f  expect %.1f   table %s",
      n.new / iv, n.update / iv, n.destroy / iv, n.expect / iv, tostring(size)),
    string.format("%-22s %-22s %-14s %s", "sources", "destinations", "dports", "states"),
  }
  local a, b, c, d = src:list(), dst:list(), dport:list(), states:list()
  for i = 1, N do
    local function cell(l, w) return l[i] and string.format("%-" .. (w - 6) .. "s %5d", l[i].key, l[i].count) or "" end
    local row = string.format("%-22s %-22s %-14s %s", cell(a, 22), cell(b, 22), cell(c, 14), cell(d, 20))
    if row:match("%S") then lines[#lines + 1] = row end
  end
  if tty then io.stdout:write("\27[H\27[2J") end
  io.stdout:write(table.concat(lines, "\n"), "\n", tty and "" or "\n")
  io.stdout:flush()
  n = { new = 0, update = 0, destroy = 0, expect = 0 }
  src:reset(); dst:reset(); dport:reset(); states:reset()
  refreshes = refreshes + 1
  if opt.count and refreshes >= opt.count then ct.stop() end
end
ct.every(opt.interval, draw)
