-- api.lua — the Lua API without root: timers, handles, misuse errors, json, stats,
-- dispatch of canned kernel messages (run with --netlink-file; see api.t).
package.path = arg[0]:gsub("[^/]*$", "") .. "../lib/?.lua;" .. package.path
local T = require "tap"
local ct = require "ctlua"

T.ok(ct == _G.ct, "require 'ctlua' is the global ct")
T.ok(rawget(_G, "core") == nil and package.loaded["ctlua.core"] == nil, "the C core is not visible to scripts")
T.like(ct.version, "^%d+%.%d+%.%d+$", "ct.version")
local t0 = ct.now()
T.ok(math.type(t0) == "float" and math.abs(t0 - os.time()) < 5, "ct.now() is wall-clock seconds")

-- Misuse raises, naming the argument.
T.raises(function() ct.on(42, print) end, "bad argument #1 to 'on' %(unknown event name number%)", "on: name must be a known string")
T.raises(function() ct.on("new") end, "bad argument #2 to 'on' %(function expected, got nil%)", "on: handler required")
T.raises(function() ct.on("new", {}, "x") end, "bad argument #3 to 'on' %(function expected, got string%)", "on: handler must be a function")
T.raises(function() ct.on("stop", {}, print) end, "'stop' handlers take no filter", "on: stop takes no filter")
T.raises(function() ct.on("new", "tcp", print) end, "filter must be a table", "on: filter must be a table")
T.raises(function() ct.on("new", {dport = "ssh"}, print) end, "filter field 'orig.dport' wants an integer", "filter: port must be an integer")
T.raises(function() ct.on("new", {proto = "tpc"}, print) end, "unknown protocol 'tpc'", "filter: unknown protocol named")
T.raises(function() ct.on("new", {src = "10.0.0.0/33"}, print) end, "bad prefix length", "filter: bad prefix length")
T.raises(function() ct.on("new", {family = "inet"}, print) end, "wants \"ipv4\" or \"ipv6\"", "filter: bad family")
T.raises(function() ct.on("new", {reply = {foo = 1}}, print) end, "unknown filter field 'reply.foo'", "filter: unknown tuple field")
T.raises(function() ct.on("expect-new", {state = "ESTABLISHED"}, print) end, "unknown filter field 'state' for expect events", "filter: field of the other event class")
T.raises(function() ct.every(0, print) end, "bad argument #1 to 'every' %(interval must be > 0%)", "every: interval > 0")
T.raises(function() ct.after(1, nil) end, "bad argument #2 to 'after'", "after: function required")
T.raises(function() ct.json({ f = print }) end, "bad argument #1 to 'json'", "json: functions cannot be encoded")

-- JSON round trip of a nested table.
local cjson = require "cjson"
T.is(cjson.decode(ct.json({ event = "new", orig = { sport = 1, src = "::1" }, status = { assured = true } })),
     { event = "new", orig = { sport = 1, src = "::1" }, status = { assured = true } }, "json round-trips an event-shaped table")

-- Timers: after fires once, every repeats until stopped, stop is idempotent,
-- a failing timer is counted and the loop goes on, to-be-closed stops.
local after_n, every_n, bad_n = 0, 0, 0
ct.after(0.01, function() after_n = after_n + 1 end)
local ev
ev = ct.every(0.01, function(t)
  every_n = every_n + 1
  T.ok(t == ev, "every passes its own handle") 
  if every_n == 3 then t:stop(); t:stop() end
end)
ct.every(0.01, function(t) bad_n = bad_n + 1; if bad_n == 2 then t:stop() end; error("timer boom") end)
do
  local closed <close> = ct.every(0.005, function() T.ok(false, "a closed timer never fires") end)
  T.ok(closed:active(), "a new timer is active")
end
-- Garbage handles keep running while armed.
ct.after(0.02, function() collectgarbage(); collectgarbage() end)

-- Canned kernel messages (api.t passes a recorded file): dispatch order, one table each.
local got = {}
for _, n in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(n, function(e) got[#got + 1] = e.event end)
end
local udp = 0
ct.on("new", { proto = "udp" }, function() udp = udp + 1 end)

ct.after(0.2, function()
  T.is(after_n, 1, "after fires once")
  T.is(every_n, 3, "every repeats until stopped")
  T.is(bad_n, 2, "a raising timer keeps its schedule until stopped")
  local s = ct.stats()
  T.is(s.timer_errors, 2, "timer errors counted")
  T.ok(#got > 0, "canned messages dispatched (" .. #got .. " events)")
  local counted = 0
  for _, v in pairs(s.events) do counted = counted + v end
  T.is(counted, #got, "ct.stats().events counts what was dispatched")
  T.ok(udp >= 1, "filtered handler saw the canned UDP NEW")
  ct.stop()
end)
ct.on("stop", function() T.done() end)
