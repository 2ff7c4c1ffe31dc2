-- rate-alert.lua — per-source NEW-connection rate above a threshold (floods).
--
--   ctlua scripts/rate-alert.lua -- [--rate R] [--window T] [--quiet-for S] [--proto P]
--     --rate R       new connections per second, averaged over the window (default 100)
--     --window T     seconds (default 5)
--     --quiet-for S  one alert per source per S seconds (default 60)
--     --proto P      only this protocol (tcp, udp, icmp...)
--
-- Example output:
--   2026-11-24T21:30:01.120Z WARN flood: 10.0.0.9 opens 250.0 connections/s (over 5 s)
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/rate-alert.lua -- [--rate R] [--window T] [--quiet-for S] [--proto P]"
local opt = require("ctlua.args").parse({ ... }, {
  rate = { "number", 100 }, window = { "number", 5 }, quiet_for = { "number", 60 },
  proto = { "string" },
}, USAGE)

local counter = ct.counter { window = opt.window, buckets = 10 }
local alerted = ct.state { ttl = opt.quiet_for }
ct.on("new", opt.proto and { proto = opt.proto } or nil, function(e)
  local src = e.orig.src
  local n = counter:add(src)
  if n / opt.window > opt.rate and not alerted:get(src) then
    alerted:set(src, true)
    ct.log.warn("flood: %s opens %.1f connections/s (over %g s)", src, n / opt.window, opt.window)
  end
end)
ct.every(opt.window, function() counter:prune() end)
