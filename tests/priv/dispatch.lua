-- dispatch.lua — inside ctlua, in a netns with traffic: filters see exactly what a
-- hand-written predicate selects, a raising handler does not stop later handlers or
-- events. Prints TAP at stop.
package.path = arg[0]:gsub("[^/]*$", "") .. "../lib/?.lua;" .. package.path
local T = require "tap"
local ct = require "ctlua"

local all = {}            -- every conntrack event, in order
local NAMES = { "new", "update", "destroy" }
for _, n in ipairs(NAMES) do ct.on(n, function(ev) all[#all + 1] = ev end) end
-- Progress for the driver: one line per DESTROY read.
ct.on("destroy", function() io.stderr:write("destroy\n") end)

-- Each case: a filter and the predicate that says what it must select.
local cases = {
  { "proto udp, dport 5353", { proto = "udp", dport = 5353 },
    function(e) return e.proto == "udp" and e.orig.dport == 5353 end },
  { "dport list {5555, 5353}", { dport = { 5555, 5353 } },
    function(e) return e.orig.dport == 5555 or e.orig.dport == 5353 end },
  { "proto by number 6", { proto = 6 }, function(e) return e.protonum == 6 end },
  { "reply sport 5555", { reply = { sport = 5555 } },
    function(e) return e.reply.sport == 5555 end },
  { "state established (any case)", { state = "established" },
    function(e) return e.state == "ESTABLISHED" end },
  { "status assured", { status = "assured" }, function(e) return e.status.assured == true end },
  { "status {seen_reply = false}", { status = { seen_reply = false } },
    function(e) return not e.status.seen_reply end },
  { "src 127.0.0.0/8", { src = "127.0.0.0/8" }, function(e) return e.family == "ipv4" end },
  { "src ::1 (other family)", { src = "::1" }, function(e) return e.orig.src == "::1" end },
  { "icmp type 8", { proto = "icmp", type = 8 }, function(e) return e.proto == "icmp" and e.orig.type == 8 end },
  { "family ipv6 + proto tcp", { family = "ipv6", proto = "tcp" },
    function(e) return e.family == "ipv6" and e.proto == "tcp" end },
}
local seen = {}
for i, c in ipairs(cases) do
  seen[i] = {}
  for _, n in ipairs(NAMES) do
    ct.on(n, c[2], function(ev) seen[i][ev] = true end)
  end
end

-- A handler that always raises, registered before a counting one.
local after_raise = 0
ct.on("new", function(ev) error("boom on " .. ev.proto) end)
ct.on("new", function() after_raise = after_raise + 1 end)

-- A cancelled handler is not called again.
local cancelled_calls = 0
local h
h = ct.on("new", function() cancelled_calls = cancelled_calls + 1; h:cancel() end)

ct.on("stop", function()
  local news = 0
  for _, ev in ipairs(all) do if ev.event == "new" then news = news + 1 end end
  T.ok(#all >= 10, "recorded " .. #all .. " events")
  for i, c in ipairs(cases) do
    local want, got, bad = 0, 0, 0
    for _, ev in ipairs(all) do
      local w = c[3](ev) and true or false
      if w then want = want + 1 end
      if seen[i][ev] then got = got + 1 end
      if w ~= (seen[i][ev] == true) then bad = bad + 1 end
    end
    T.ok(bad == 0 and (want > 0 or c[1]:find("other family")),
         string.format("filter %s: %d of %d events, exactly the matching ones", c[1], got, #all))
  end
  T.is(after_raise, news, "a raising handler does not stop the next handler")
  local s = ct.stats()
  T.is(s.handler_errors, news, "handler errors counted in ct.stats()")
  T.is(s.errors.new, news, "errors counted per event name")
  T.is(cancelled_calls, 1, "a cancelled handler is not called again")
  T.done()
end)
